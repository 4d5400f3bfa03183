/**
 * Encoded state values. Every value is bytes or null (absent):
 * - account: Ethereum account RLP [nonce, balance, storageRoot, codeHash]; the storageRoot
 *   field is the root as of the last sealed block (the live root is computed at sealing);
 * - storage: minimal big-endian bytes (never empty: a zero slot is null);
 * - wipe marker: the 8-byte big-endian version of the wiping transaction.
 */
import { Account, KECCAK256_NULL, KECCAK256_RLP, createAccountFromRLP } from '@ethereumjs/util'

import { InvariantError } from '../errors.ts'
import { bytesEqual } from '../hex.ts'

import type { Version } from './keys.ts'

export type StateValue = Uint8Array | null

export interface VersionedValue {
  value: StateValue
  version: Version
}

export const ABSENT: VersionedValue = Object.freeze({ value: null, version: 0 }) as VersionedValue

export type AccountFieldsTuple = readonly [nonce: bigint, balance: bigint, storageRoot: Uint8Array, codeHash: Uint8Array]

/** What an account value encodes: an `Account`, or fields held elsewhere. */
export type AccountLike = Pick<Account, 'nonce' | 'balance' | 'storageRoot' | 'codeHash'>

/**
 * Decoded fields by encoded value. A value's bytes are never changed once made (a new value is
 * new bytes), and `runTx` asks for the same account many times per transaction: decode each
 * value once, hand out a fresh `Account` each time (callers mutate theirs). A value this module
 * encodes is entered with the fields it was made from, so reading back what was just written
 * decodes nothing.
 */
const decodedAccounts = new WeakMap<Uint8Array, AccountFieldsTuple>()

/** The account's RLP; `decodeAccount` of the result decodes nothing. */
export function encodeAccount(account: AccountLike | undefined): StateValue {
  if (account === undefined) return null
  const nonce = account.nonce
  const balance = account.balance
  const storageRoot = account.storageRoot
  const codeHash = account.codeHash
  const value = accountRlp(nonce, balance, storageRoot, codeHash)
  decodedAccounts.set(value, [nonce, balance, storageRoot, codeHash])
  return value
}

/**
 * RLP of [nonce, balance, storageRoot, codeHash], byte for byte `Account.serialize()`, written
 * into one buffer (the library's encoder goes through hex strings and a list of arrays: a few
 * microseconds each time `runTx` puts an account, several times per transaction).
 */
export function accountRlp(nonce: bigint, balance: bigint, storageRoot: Uint8Array, codeHash: Uint8Array): Uint8Array {
  if (nonce < 0n || balance < 0n) throw new InvariantError('an account nonce or balance is never negative')
  if (storageRoot.length !== 32 || codeHash.length !== 32) throw new InvariantError('a storage root and a code hash are 32 bytes')
  const nLen = uintLength(nonce)
  const bLen = uintLength(balance)
  if (nLen > 32 || bLen > 32) throw new InvariantError('an account nonce and balance fit in 32 bytes')
  const payload = itemLength(nonce, nLen) + itemLength(balance, bLen) + 66
  // The payload is at least 68 bytes (two 33-byte hashes): always a long list with one length byte.
  const out = new Uint8Array(2 + payload)
  out[0] = 0xf8
  out[1] = payload
  let at = writeUint(out, 2, nonce, nLen)
  at = writeUint(out, at, balance, bLen)
  out[at] = 0xa0
  out.set(storageRoot, at + 1)
  out[at + 33] = 0xa0
  out.set(codeHash, at + 34)
  return out
}

/** Bytes of a non-negative integer's minimal big-endian form (0 for zero). */
function uintLength(v: bigint): number {
  let len = 0
  while (v >= 0x1_0000_0000n) {
    v >>= 32n
    len += 4
  }
  for (let n = Number(v); n > 0; n = Math.floor(n / 256)) len++
  return len
}

/** An RLP string item's length: a single byte below 0x80 is itself, else a prefix byte and the bytes. */
function itemLength(v: bigint, len: number): number {
  return len === 1 && v < 0x80n ? 1 : 1 + len
}

/** The item at `at`, its `len` bytes written 32 bits at a time from the end (no hex string). */
function writeUint(out: Uint8Array, at: number, v: bigint, len: number): number {
  if (len === 1 && v < 0x80n) {
    out[at] = Number(v)
    return at + 1
  }
  out[at++] = 0x80 + len
  for (let end = at + len; end > at; v >>= 32n) {
    let n = Number(v & 0xffff_ffffn)
    for (let k = 0; k < 4 && end > at; k++) {
      out[--end] = n & 0xff
      n = Math.floor(n / 256)
    }
  }
  return at + len
}

/**
 * `prior` itself when it encodes exactly `account` (the EVM puts unchanged accounts on every
 * call and touch), else the account's new encoding. Only a value whose fields are known (one
 * decoded or encoded here) is compared; any other is re-encoded.
 */
export function encodeAccountOver(prior: StateValue | undefined, account: AccountLike): Uint8Array {
  if (prior != null) {
    const f = decodedAccounts.get(prior)
    if (
      f !== undefined &&
      f[0] === account.nonce &&
      f[1] === account.balance &&
      bytesEqual(f[2], account.storageRoot) &&
      bytesEqual(f[3], account.codeHash)
    ) {
      return prior
    }
  }
  return encodeAccount(account)!
}

export function decodeAccount(value: StateValue): Account | undefined {
  if (value === null) return undefined
  const fields = accountFields(value)
  return new Account(fields[0], fields[1], fields[2], fields[3])
}

/**
 * The fields of an account value (decoded once per value, see `decodedAccounts`). The storage
 * root and code hash are views of `value`: never written to (values are never changed).
 */
export function accountFields(value: Uint8Array): AccountFieldsTuple {
  let fields = decodedAccounts.get(value)
  if (fields === undefined) {
    fields = parseAccount(value)
    decodedAccounts.set(value, fields)
  }
  return fields
}

/** The fields of an account value, parsed now and not remembered (for a value read once). */
export function parseAccount(value: Uint8Array): AccountFieldsTuple {
  const fields = canonicalAccountFields(value)
  if (fields !== undefined) return fields
  const a = createAccountFromRLP(value)
  return [a.nonce, a.balance, a.storageRoot, a.codeHash]
}

/**
 * The fields of an account RLP written as `accountRlp` writes it (the canonical form every
 * client and this module produce), read in place; undefined for anything else, which the
 * library's decoder then reads or rejects (`createAccountFromRLP` goes through a list of copies
 * and hex strings: most of an account read).
 */
function canonicalAccountFields(value: Uint8Array): AccountFieldsTuple | undefined {
  if (value.length < 70 || value[0] !== 0xf8 || value[1] !== value.length - 2) return undefined
  const nonce = readUint(value, 2)
  if (nonce === undefined) return undefined
  const balance = readUint(value, nonce.end)
  if (balance === undefined) return undefined
  const at = balance.end
  if (at + 66 !== value.length || value[at] !== 0xa0 || value[at + 33] !== 0xa0) return undefined
  return [nonce.value, balance.value, value.subarray(at + 1, at + 33), value.subarray(at + 34, at + 66)]
}

/** A minimal RLP integer item at `at` (single byte below 0x80, or 0x80+len, len <= 32, no leading zero). */
function readUint(value: Uint8Array, at: number): { value: bigint; end: number } | undefined {
  const first = value[at]
  if (first === undefined) return undefined
  if (first < 0x80) return { value: BigInt(first), end: at + 1 }
  const len = first - 0x80
  if (len > 32 || at + 1 + len > value.length) return undefined
  if (len === 0) return { value: 0n, end: at + 1 }
  // Canonical: no leading zero, and a single byte below 0x80 is never prefixed.
  if (value[at + 1] === 0 || (len === 1 && value[at + 1]! < 0x80)) return undefined
  let v = 0n
  let i = at + 1
  const end = at + 1 + len
  // 32 bits at a time (then the bytes left over).
  for (; i + 4 <= end; i += 4) v = (v << 32n) | BigInt(((value[i]! << 24) >>> 0) + (value[i + 1]! << 16) + (value[i + 2]! << 8) + value[i + 3]!)
  for (; i < end; i++) v = (v << 8n) | BigInt(value[i]!)
  return { value: v, end }
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
