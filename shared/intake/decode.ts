/**
 * Intake: raw signed transactions (legacy, EIP-2930, EIP-1559) from hex to decoded
 * transactions with recovered senders, or to rejection records with a reason. Checks that need
 * no state happen here; nonce and balance checks need state and happen later.
 */
import { Capability, createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'

import { keccak256 } from '../crypto/keccak.ts'
import { publicKeyToAddress } from '../crypto/secp256k1.ts'
import { to0x, toHex } from '../hex.ts'

import type { Rejection, RejectionCode } from './rejection.ts'
import type { TxView } from './tx-view.ts'
import type { Common } from '@ethereumjs/common'

/** geth's txpool limit for one transaction. */
export const MAX_TX_BYTES = 128 * 1024

/**
 * A transaction that passed intake, its sender recovered. `tx` is the `@ethereumjs/tx` object
 * where it was decoded here (`decodeRawTx`), or a view of its fields read from `raw` where it was
 * decoded elsewhere (an intake thread, the ingress function; see tx-view.ts).
 */
export interface DecodedTx<T extends TxView = TxView> {
  raw: Uint8Array
  tx: T
  hash: Uint8Array
  /** 0x-prefixed lowercase. */
  hashHex: string
  sender: Uint8Array
  /** Lowercase hex without 0x. */
  senderHex: string
  senderPubKey: Uint8Array
  /** The intrinsic gas intake checked the gas limit against (where intake computed it). */
  intrinsicGas?: bigint
}

export interface IntakeContext {
  common: Common
  blockGasLimit: bigint
  maxTxBytes?: number
  clock?: () => number
}

export type IntakeResult<T extends TxView = TypedTransaction> = { ok: true; tx: DecodedTx<T> } | { ok: false; rejection: Rejection }

const SUPPORTED_TYPES = new Map<number, string>([
  [1, 'EIP-2930'],
  [2, 'EIP-1559'],
])

function reject(id: string, code: RejectionCode, reason: string, now: number, extra: Partial<Rejection> = {}): IntakeResult {
  return { ok: false, rejection: { id, code, reason, atMs: now, ...extra } }
}

/**
 * A transaction's RLP nests at most 4 lists deep (the transaction, its access list, an entry,
 * the entry's storage keys). The RLP decoder is recursive and slows down quadratically with
 * depth (seconds for a 128 KiB input of nested lists, then a stack overflow), so deeper input is
 * refused before it is decoded. Allows some margin; everything deeper than 4 fails to decode anyway.
 */
export const MAX_RLP_LIST_DEPTH = 16

/**
 * Iterative scan of the RLP item at `start`: a sentence when lists nest deeper than
 * MAX_RLP_LIST_DEPTH, else undefined (also for malformed RLP: the decoder names that problem).
 */
export function rlpNestingProblem(bytes: Uint8Array, start = 0): string | undefined {
  const ends: number[] = []
  let pos = start
  while (pos < bytes.length) {
    while (ends.length > 0 && pos >= ends[ends.length - 1]!) ends.pop()
    const b = bytes[pos]!
    let headerLen = 1
    let length = 0
    if (b >= 0xb8 && b <= 0xbf) headerLen = 1 + b - 0xb7
    else if (b >= 0xf8) headerLen = 1 + b - 0xf7
    if (headerLen > 1) {
      if (headerLen > 7 || pos + headerLen > bytes.length) return undefined
      for (let i = pos + 1; i < pos + headerLen; i++) length = length * 256 + bytes[i]!
    } else if (b >= 0x80 && b <= 0xb7) length = b - 0x80
    else if (b >= 0xc0) length = b - 0xc0
    const end = pos + headerLen + length
    if (end > bytes.length || (ends.length > 0 && end > ends[ends.length - 1]!)) return undefined
    if (b >= 0xc0) {
      ends.push(end)
      if (ends.length > MAX_RLP_LIST_DEPTH) return `RLP lists nested more than ${MAX_RLP_LIST_DEPTH} deep (a transaction has at most 4 levels)`
      pos += headerLen
    } else {
      pos = b < 0x80 ? pos + 1 : end
    }
    if (ends.length === 0) return undefined
  }
  return undefined
}

/** The id of an input's record: the hash of its bytes (the transaction hash), or of its text when it is not hex. */
export function inputId(input: string): string {
  return to0x(keccak256(parseHex(input) ?? new TextEncoder().encode(input)))
}

function parseHex(input: string): Uint8Array | undefined {
  const s = input.startsWith('0x') || input.startsWith('0X') ? input.slice(2) : input
  if (s.length === 0 || s.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(s)) return undefined
  return Uint8Array.from(Buffer.from(s, 'hex'))
}

export function decodeRawTx(input: string, ctx: IntakeContext): IntakeResult {
  const now = (ctx.clock ?? Date.now)()
  const maxBytes = ctx.maxTxBytes ?? MAX_TX_BYTES
  const result = decodeChecked(input, ctx, now, maxBytes)
  // A rejected input keeps its text (up to the size limit) for the sequential check and exports.
  if (!result.ok && input.length <= 2 * maxBytes + 2) result.rejection.raw = input
  return result
}

function decodeChecked(input: string, ctx: IntakeContext, now: number, maxBytes: number): IntakeResult {
  const raw = parseHex(input)
  if (raw === undefined) {
    const id = inputId(input)
    return reject(id, 'malformed-hex', 'input is not an even-length hex string', now, { inputPrefix: input.slice(0, 32) })
  }
  const hash = keccak256(raw)
  const id = to0x(hash)
  const prefix = { inputPrefix: to0x(raw.subarray(0, 16)) }
  if (raw.length > maxBytes) {
    return reject(id, 'oversize', `transaction is ${raw.length} bytes; the limit is ${maxBytes}`, now, prefix)
  }
  const first = raw[0]!
  if (first < 0xc0 && !SUPPORTED_TYPES.has(first)) {
    const what = first === 3 ? 'blob (EIP-4844) transactions need sidecars and are accepted in replay only' : first === 4 ? 'EIP-7702 set-code transactions are not supported yet' : `unknown type byte 0x${first.toString(16)}`
    return reject(id, 'unsupported-type', `unsupported transaction type: ${what}`, now, prefix)
  }
  const nesting = rlpNestingProblem(raw, first < 0xc0 ? 1 : 0)
  if (nesting !== undefined) return reject(id, 'malformed-transaction', `cannot decode transaction: ${nesting}`, now, prefix)
  let tx: TypedTransaction
  try {
    tx = createTxFromRLP(raw, { common: ctx.common })
  } catch (error) {
    const message = (error as Error).message.split(' (tx type=')[0]!
    if (/invalid signature|y-parity|signature recovery/i.test(message)) {
      return reject(id, 'bad-signature', `signature is invalid: ${message}`, now, prefix)
    }
    if (/chain ?id|EIP155/i.test(message)) {
      return reject(id, 'wrong-chain-id', `transaction is not for chain ${ctx.common.chainId()}: ${message}`, now, prefix)
    }
    if (message.includes('maxFeePerGas cannot be less than maxPriorityFeePerGas')) {
      return reject(id, 'tip-above-fee-cap', `the tip (maxPriorityFeePerGas) is above the fee cap (maxFeePerGas): ${message}`, now, prefix)
    }
    if (message.includes('initcode size')) {
      return reject(id, 'initcode-too-large', `contract creation with too much initcode (EIP-3860): ${message}`, now, prefix)
    }
    return reject(id, 'malformed-transaction', `cannot decode transaction: ${message}`, now, prefix)
  }
  if (first >= 0xc0 && !tx.supports(Capability.EIP155ReplayProtection)) {
    return reject(id, 'unprotected', 'legacy transaction without EIP-155 replay protection', now, prefix)
  }
  let senderPubKey: Uint8Array
  try {
    if (!tx.isSigned()) throw new Error('unsigned')
    senderPubKey = tx.getSenderPublicKey()
  } catch {
    return reject(id, 'bad-signature', 'signature is invalid or does not recover a sender', now, prefix)
  }
  const sender = publicKeyToAddress(senderPubKey)
  const senderHex = toHex(sender)
  const meta = { sender: `0x${senderHex}`, nonce: `0x${tx.nonce.toString(16)}` }
  if (tx.gasLimit > ctx.blockGasLimit) {
    return reject(id, 'gas-above-block-limit', `gas limit ${tx.gasLimit} is above the block gas limit ${ctx.blockGasLimit}`, now, meta)
  }
  const intrinsic = tx.getIntrinsicGas()
  if (tx.gasLimit < intrinsic) {
    return reject(id, 'intrinsic-gas', `gas limit ${tx.gasLimit} is below the intrinsic gas ${intrinsic}`, now, meta)
  }
  return { ok: true, tx: { raw, tx, hash, hashHex: id, sender, senderHex, senderPubKey, intrinsicGas: intrinsic } }
}
