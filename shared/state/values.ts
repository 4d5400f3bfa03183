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

type AccountFieldsTuple = readonly [nonce: bigint, balance: bigint, storageRoot: Uint8Array, codeHash: Uint8Array]

/**
 * Decoded fields by encoded value. A value's bytes are never changed once made (a new value is
 * new bytes), and `runTx` asks for the same account many times per transaction: decode each
 * value once, hand out a fresh `Account` each time (callers mutate theirs). A value this module
 * encodes is entered with the fields it was made from, so reading back what was just written
 * decodes nothing.
 */
const decodedAccounts = new WeakMap<Uint8Array, AccountFieldsTuple>()

/** The account's RLP; `decodeAccount` of the result decodes nothing. */
export function encodeAccount(account: Account | undefined): StateValue {
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
export function encodeAccountOver(prior: StateValue | undefined, account: Account): Uint8Array {
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
