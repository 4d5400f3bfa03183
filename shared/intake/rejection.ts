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
  'invalid-at-execution',
] as const
export type RejectionCode = (typeof REJECTION_CODES)[number]

export interface Rejection {
  /** keccak256 of the raw bytes (the transaction hash when it decodes), 0x-hex. */
  id: string
  code: RejectionCode
  /** One sentence a person can act on. */
  reason: string
  sender?: string
  nonce?: string
  /** The block it was planned in, when rejected at execution. */
  block?: string
  /** First bytes of the input, for undecodable input. */
  inputPrefix?: string
  atMs: number
}
