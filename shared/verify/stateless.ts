/**
 * Re-judging an intake (stateless) rejection: decode the raw transaction again, independently
 * of shared/intake/decode.ts, with `@ethereumjs/tx` and the chain's Common, and say whether the
 * recorded code names a reason the transaction really has.
 */
import { Capability, createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'

import { classifyDecodeError, codeMatches, shortMessage } from './classify.ts'

import type { RejectionCode } from '../intake/rejection.ts'
import type { Common } from '@ethereumjs/common'

/** geth's txpool limit for one transaction (128 KiB). */
export const REFERENCE_MAX_TX_BYTES = 128 * 1024

/** Codes that need state or the pool (nonce, balance, code, duplicates): not refutable without them. */
const NEEDS_STATE: ReadonlySet<RejectionCode> = new Set<RejectionCode>([
  'nonce-too-low',
  'nonce-gap',
  'duplicate',
  'insufficient-balance',
  'sender-not-eoa',
  'blob-fee',
  'invalid-at-execution',
])

const REFERENCE_RLP_DEPTH_MAX = 8

/**
 * The deepest list nesting in RLP `bytes` from `start` (a linear walk of the headers; stops
 * early past the limit). Truncated or odd input is left to the decoder to refuse.
 */
function rlpListDepth(bytes: Uint8Array, start: number): number {
  const ends: number[] = []
  let deepest = 0
  let i = start
  while (i < bytes.length && deepest <= REFERENCE_RLP_DEPTH_MAX) {
    while (ends.length > 0 && i >= ends[ends.length - 1]!) ends.pop()
    const b = bytes[i]!
    if (b < 0x80) {
      i += 1
    } else if (b <= 0xb7) {
      i += 1 + (b - 0x80)
    } else if (b <= 0xbf) {
      const n = b - 0xb7
      i += 1 + n + readLength(bytes, i + 1, n)
    } else {
      const n = b <= 0xf7 ? 0 : b - 0xf7
      const length = b <= 0xf7 ? b - 0xc0 : readLength(bytes, i + 1, n)
      i += 1 + n
      ends.push(i + length)
      deepest = Math.max(deepest, ends.length)
    }
  }
  return deepest
}

function readLength(bytes: Uint8Array, at: number, n: number): number {
  let length = 0
  for (let k = 0; k < n && at + k < bytes.length; k++) length = length * 256 + bytes[at + k]!
  return length
}

export interface StatelessContext {
  /** The block gas limit the transaction was judged against (gas-above-block-limit). */
  blockGasLimit?: bigint
  /** The base fee it was judged against (fee-cap-below-base-fee); without it that code needs state. */
  baseFeePerGas?: bigint
  /** The size limit (default 128 KiB). */
  maxTxBytes?: number
}

export interface StatelessJudgement {
  /** Whether the recorded code is a reason the transaction really has. */
  ok: boolean
  /** What the reference found: a reason class, or a sentence. */
  reference: string
}

function parseHex(input: string): Uint8Array | undefined {
  const s = input.startsWith('0x') || input.startsWith('0X') ? input.slice(2) : input
  if (s.length === 0 || s.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(s)) return undefined
  return Uint8Array.from(Buffer.from(s, 'hex'))
}

/**
 * Every stateless reason the raw transaction is invalid for (empty: it is valid as far as can be
 * told without state), in the order a pool meets them; `detail` is the first one's explanation.
 */
export function statelessReasons(raw: string, common: Common, context: StatelessContext = {}): { reasons: RejectionCode[]; detail: string } {
  const bytes = parseHex(raw)
  if (bytes === undefined) return { reasons: ['malformed-hex'], detail: 'not an even-length hex string' }
  const maxBytes = context.maxTxBytes ?? REFERENCE_MAX_TX_BYTES
  if (bytes.length > maxBytes) return { reasons: ['oversize'], detail: `${bytes.length} bytes, over ${maxBytes}` }
  const first = bytes[0]!
  if (first < 0xc0 && first !== 1 && first !== 2) return { reasons: ['unsupported-type'], detail: `type byte 0x${first.toString(16)}` }
  // @ethereumjs/rlp decodes recursively: deeply nested lists take seconds, then overflow the
  // stack. A transaction nests at most 4 lists (tx, access list, entry, storage keys).
  const depth = rlpListDepth(bytes, first < 0xc0 ? 1 : 0)
  if (depth > REFERENCE_RLP_DEPTH_MAX) return { reasons: ['malformed-transaction'], detail: `RLP lists nested ${depth} deep` }
  let tx: TypedTransaction
  try {
    tx = createTxFromRLP(bytes, { common })
  } catch (error) {
    const message = shortMessage(error)
    return { reasons: [classifyDecodeError(message, 'malformed-transaction')], detail: message }
  }
  const reasons: RejectionCode[] = []
  const details: string[] = []
  const add = (code: RejectionCode, detail: string): void => {
    reasons.push(code)
    details.push(detail)
  }
  if (first >= 0xc0 && !tx.supports(Capability.EIP155ReplayProtection)) add('unprotected', 'legacy transaction without EIP-155')
  try {
    if (!tx.isSigned()) throw new Error('unsigned')
    tx.getSenderPublicKey()
  } catch (error) {
    add('bad-signature', shortMessage(error))
  }
  if (context.blockGasLimit !== undefined && tx.gasLimit > context.blockGasLimit) {
    add('gas-above-block-limit', `gas limit ${tx.gasLimit} over the block's ${context.blockGasLimit}`)
  }
  const intrinsic = tx.getIntrinsicGas()
  if (tx.gasLimit < intrinsic) add('intrinsic-gas', `gas limit ${tx.gasLimit} under the intrinsic gas ${intrinsic}`)
  if (context.baseFeePerGas !== undefined) {
    const cap = 'maxFeePerGas' in tx ? tx.maxFeePerGas : (tx as { gasPrice: bigint }).gasPrice
    if (cap < context.baseFeePerGas) add('fee-cap-below-base-fee', `fee cap ${cap} under the base fee ${context.baseFeePerGas}`)
  }
  return { reasons, detail: details[0] ?? 'valid without state' }
}

/**
 * Is `code` right for a transaction rejected at intake (no position in a block)? Stateless
 * reasons are decided here; a code that needs state or the pool (nonce, balance, duplicate,
 * fee cap without `context.baseFeePerGas`) is accepted when no stateless reason applies.
 */
export function judgeStatelessRejection(raw: string, code: RejectionCode, common: Common, context: StatelessContext = {}): StatelessJudgement {
  const { reasons, detail } = statelessReasons(raw, common, context)
  if (reasons.length > 0) {
    const ok = code === 'invalid-at-execution' || reasons.some((r) => codeMatches(code, r))
    return { ok, reference: `${reasons.join(', ')} (${detail})` }
  }
  const needsState = NEEDS_STATE.has(code) || (code === 'fee-cap-below-base-fee' && context.baseFeePerGas === undefined)
  return needsState
    ? { ok: true, reference: `valid without state (${code} needs state to judge)` }
    : { ok: false, reference: 'valid: no stateless reason applies' }
}
