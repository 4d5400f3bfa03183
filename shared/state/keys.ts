/**
 * Flat state keys and versions.
 *
 * Keys are strings (fast Map keys): an account is its 40-hex-char address, a storage slot is
 * address + 64-hex-char slot, and `w` + address is the storage-wipe marker of that account
 * (written when a transaction self-destructs or re-creates an account, so that every slot read
 * of that account depends on it). Hex is lowercase without 0x.
 *
 * A version names the last writer of an item: `block * 2^20 + position`, where position 0 is
 * the block's system operations before its transactions, `i + 1` is transaction i, and
 * POSITION_BLOCK_END is the block's closing operations (withdrawals, rewards). Version 0 is
 * "absent since genesis".
 */
export type StateKey = string
export type AddressHex = string
export type Version = number

export const POSITION_BITS = 20
export const POSITION_SPAN = 2 ** POSITION_BITS
export const POSITION_SYSTEM = 0
export const POSITION_BLOCK_END = POSITION_SPAN - 1
export const MAX_TXS_PER_BLOCK = POSITION_SPAN - 2

export const ACCOUNT_KEY_LENGTH = 40
export const STORAGE_KEY_LENGTH = 104
export const WIPE_PREFIX = 'w'

export function accountKey(address: AddressHex): StateKey {
  return address
}

export function storageKey(address: AddressHex, slotHex: string): StateKey {
  return address + slotHex
}

export function wipeKey(address: AddressHex): StateKey {
  return WIPE_PREFIX + address
}

export type KeyKind = 'account' | 'storage' | 'wipe'

export function keyKind(key: StateKey): KeyKind {
  if (key.length === ACCOUNT_KEY_LENGTH) return 'account'
  if (key.length === STORAGE_KEY_LENGTH) return 'storage'
  if (key.length === ACCOUNT_KEY_LENGTH + 1 && key[0] === WIPE_PREFIX) return 'wipe'
  throw new Error(`not a state key: ${key}`)
}

/** The account a key belongs to. */
export function keyAddress(key: StateKey): AddressHex {
  return key[0] === WIPE_PREFIX ? key.slice(1) : key.slice(0, ACCOUNT_KEY_LENGTH)
}

export function keySlot(key: StateKey): string {
  return key.slice(ACCOUNT_KEY_LENGTH)
}

export function makeVersion(block: bigint | number, position: number): Version {
  return Number(block) * POSITION_SPAN + position
}

export function txVersion(block: bigint | number, txIndex: number): Version {
  return makeVersion(block, txIndex + 1)
}

export function versionBlock(version: Version): number {
  return Math.floor(version / POSITION_SPAN)
}

export function versionPosition(version: Version): number {
  return version % POSITION_SPAN
}

/** True when the version was written inside block `block` (not before it). */
export function isInBlock(version: Version, block: bigint | number): boolean {
  return version >= Number(block) * POSITION_SPAN
}

/** Human-readable form for errors and reports: `12#3` is block 12, transaction 3. */
export function describeVersion(version: Version): string {
  const position = versionPosition(version)
  const block = versionBlock(version)
  if (position === POSITION_SYSTEM) return `${block}#system`
  if (position === POSITION_BLOCK_END) return `${block}#end`
  return `${block}#${position - 1}`
}

export function describeKey(key: StateKey): string {
  const kind = keyKind(key)
  if (kind === 'account') return `account 0x${key}`
  if (kind === 'wipe') return `storage-wipe marker of 0x${key.slice(1)}`
  return `storage 0x${key.slice(0, ACCOUNT_KEY_LENGTH)}[0x${key.slice(ACCOUNT_KEY_LENGTH)}]`
}
