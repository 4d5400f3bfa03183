/** Helpers of the AI tests. */
import { RLP } from '@ethereumjs/rlp'

import { keccak256 } from '../../shared/crypto/keccak.ts'
import { fromHex, to0x } from '../../shared/hex.ts'

/** The address a contract-creation transaction from `sender` with `nonce` creates. */
export function predictedCreatedAddress(sender: string, nonce: bigint): string {
  return to0x(keccak256(RLP.encode([fromHex(sender), nonce])).subarray(12))
}
