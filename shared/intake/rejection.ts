/** Why a transaction was not included. Every rejection is a record with one of these codes. */
export const REJECTION_CODES = [
  'malformed-envelope',
  'malformed-hex',
  'oversize',
  'unsupported-type',
  'malformed-transaction',
  'unprotected',
  'wrong-chain-id',
  'bad-signature',
  'intrinsic-gas',
  'gas-above-block-limit',
  'fee-cap-below-base-fee',
  'nonce-too-low',
  'nonce-gap',
  'duplicate',
  'insufficient-balance',
  'sender-not-eoa',
  'tip-above-fee-cap',
  'initcode-too-large',
  'blob-fee',
  'invalid-at-execution',
] as const
export type RejectionCode = (typeof REJECTION_CODES)[number]

export interface Rejection {
  /**
   * keccak256 of the raw bytes (the transaction hash when it decodes; of the text where it is not
   * hex); for a malformed ingress message, `envelopeRejectionId` of its body. 0x-hex.
   */
  id: string
  code: RejectionCode
  /** One sentence a person can act on. */
  reason: string
  sender?: string
  nonce?: string
  /** The block it was planned in, when rejected at execution. */
  block?: string
  /**
   * Rejected at execution: its place in the block's plan (0-based over every planned
   * transaction, included or not). The included transactions fill the other places in order,
   * so the sequential check re-judges the rejection exactly where serial execution met it.
   */
  position?: number
  /** Rejected at execution: the raw transaction (0x-hex), for the sequential check and exports. */
  raw?: string
  /** `parevm run`: the 1-based line of the transactions file. */
  line?: number
  /** First bytes of the input, for undecodable input. */
  inputPrefix?: string
  atMs: number
}
