/**
 * Encoded state values. Every value is bytes or null (absent):
 * - account: Ethereum account RLP [nonce, balance, storageRoot, codeHash]; the storageRoot
 *   field is the root as of the last sealed block (the live root is computed at sealing);
 * - storage: minimal big-endian bytes (never empty: a zero slot is null);
 * - wipe marker: the 8-byte big-endian version of the wiping transaction.
 */
import { Account, KECCAK256_NULL, KECCAK256_RLP, createAccountFromRLP } from '@ethereumjs/util'

import type { Version } from './keys.ts'

export type StateValue = Uint8Array | null

export interface VersionedValue {
  value: StateValue
  version: Version
}

export const ABSENT: VersionedValue = Object.freeze({ value: null, version: 0 }) as VersionedValue

export function encodeAccount(account: Account | undefined): StateValue {
  return account === undefined ? null : account.serialize()
}

/**
 * Decoded fields by encoded value. A value's bytes are never changed once made (a new value is
 * new bytes), and `runTx` asks for the same account many times per transaction: decode each
 * value once, hand out a fresh `Account` each time (callers mutate theirs).
 */
const decodedAccounts = new WeakMap<Uint8Array, readonly [bigint, bigint, Uint8Array, Uint8Array]>()

export function decodeAccount(value: StateValue): Account | undefined {
  if (value === null) return undefined
  let fields = decodedAccounts.get(value)
  if (fields === undefined) {
    const a = createAccountFromRLP(value)
    fields = [a.nonce, a.balance, a.storageRoot, a.codeHash]
    decodedAccounts.set(value, fields)
  }
  return new Account(fields[0], fields[1], fields[2], fields[3])
}

export function wipeMarker(version: Version): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(version))
  return out
}

/** Strip leading zeros; null for zero. */
export function normalizeStorageValue(value: Uint8Array): StateValue {
  let start = 0
  while (start < value.length && value[start] === 0) start++
  if (start === value.length) return null
  return start === 0 ? value : value.slice(start)
}

export function newAccountValue(balance: bigint, nonce = 0n, codeHash: Uint8Array = KECCAK256_NULL): Uint8Array {
  return new Account(nonce, balance, KECCAK256_RLP, codeHash).serialize()
}

export { KECCAK256_NULL, KECCAK256_RLP }
