/** Logs bloom membership (the yellow paper's M3:2048): a block's bloom rules out blocks without a match. */
import { keccak256 } from '../crypto/keccak.ts'
import { fromHex } from '../hex.ts'

/** Does the 256-byte bloom (0x-hex) possibly contain this item (an address or a topic)? */
export function bloomMayContain(bloom: Uint8Array, item: Uint8Array): boolean {
  const h = keccak256(item)
  for (let i = 0; i < 6; i += 2) {
    const bit = ((h[i]! << 8) | h[i + 1]!) & 2047
    const byte = bloom[255 - (bit >> 3)]!
    if ((byte & (1 << (bit & 7))) === 0) return false
  }
  return true
}

export function parseBloom(hex: string | undefined): Uint8Array | undefined {
  if (hex === undefined || hex.length !== 2 + 512) return undefined
  return fromHex(hex)
}
