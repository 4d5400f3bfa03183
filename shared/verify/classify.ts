/**
 * The sequential check's own reading of `@ethereumjs/*` error messages: which rejection class
 * (shared/intake/rejection.ts) a transaction that `@ethereumjs/vm` refuses belongs to. It is
 * kept apart from the engine's classification on purpose (shared/exec/executor.ts): the check
 * re-judges the engine's rejections, so it must not share the engine's judgement.
 */
import type { RejectionCode } from '../intake/rejection.ts'

/**
 * The class of an error thrown by `BlockBuilder.addTransaction` / `runTx` (@ethereumjs/vm
 * 10.1.3, runTx.js): undefined for a message this check does not know.
 */
export function classifyExecutionError(message: string): RejectionCode | undefined {
  if (/higher gas limit than the (remaining gas in the )?block/.test(message)) return 'gas-above-block-limit'
  if (/exceeds the maximum allowed by EIP-7825/.test(message)) return 'gas-above-block-limit'
  if (/INTRINSIC_GAS_TOO_LOW/.test(message)) return 'intrinsic-gas'
  if (/is less than the block's baseFeePerGas/.test(message)) return 'fee-cap-below-base-fee'
  if (/EIP-3607/.test(message)) return 'sender-not-eoa'
  if (/doesn't have enough funds/.test(message)) return 'insufficient-balance'
  if (/maxFeePerBlobGas/.test(message)) return 'blob-fee'
  const nonce = /account has nonce of: (\d+) tx has nonce of: (\d+)/.exec(message)
  if (nonce !== null) return BigInt(nonce[2]!) < BigInt(nonce[1]!) ? 'nonce-too-low' : 'nonce-gap'
  // A transaction that does not decode with the chain's rules (createTxFromRLP).
  return classifyDecodeError(message, undefined)
}

/**
 * The class of an error thrown by `createTxFromRLP` with the chain's Common; `fallback` for a
 * message that names no specific reason (execution: undefined; intake: malformed-transaction).
 */
export function classifyDecodeError<F extends RejectionCode | undefined>(message: string, fallback: F): RejectionCode | F {
  if (/maxFeePerGas cannot be less than maxPriorityFeePerGas/.test(message)) return 'tip-above-fee-cap'
  if (/initcode size .*too large/i.test(message)) return 'initcode-too-large'
  if (/invalid signature|y-parity|signature recovery/i.test(message)) return 'bad-signature'
  if (/chain ?id|EIP155/i.test(message)) return 'wrong-chain-id'
  return fallback
}

/**
 * Does a recorded rejection code agree with the class the reference found? `invalid-at-execution`
 * claims only that the transaction is invalid, and a duplicate is one whose nonce is used.
 */
export function codeMatches(recorded: RejectionCode, reference: RejectionCode | undefined): boolean {
  if (recorded === 'invalid-at-execution') return true
  if (recorded === 'duplicate') return reference === 'nonce-too-low' || reference === 'duplicate'
  return recorded === reference
}

/** The first line of an error message, without @ethereumjs's appended block/tx dump. */
export function shortMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  let cut = message.split('\n')[0]!
  for (const marker of [' (vm hf=', ' (tx type=', ' (block number=']) cut = cut.split(marker)[0]!
  return cut.trim()
}
