/** Bugs the fuzzer found in intake (shared/intake/decode.ts), each fixed and kept fixed here. */
import { describe, expect, it } from 'vitest'

import { createChainCommon } from '../../shared/chain/common.ts'
import { decodeRawTx, MAX_RLP_LIST_DEPTH, MAX_TX_BYTES, rlpNestingProblem } from '../../shared/intake/decode.ts'
import { randomValidTx } from './raw-tx.ts'
import { hex, Rng } from './rng.ts'

const ctx = { common: createChainCommon(7777n, 'cancun'), blockGasLimit: 30_000_000n }

/** `depth` nested RLP lists around an empty string, after an optional type byte. */
function nested(depth: number, typeByte?: number): Uint8Array {
  const headers: number[][] = []
  let length = 1
  for (let i = 0; i < depth; i++) {
    const bytes: number[] = []
    for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
    const h = length < 56 ? [0xc0 + length] : [0xf7 + bytes.length, ...bytes]
    headers.push(h)
    length += h.length
  }
  return Uint8Array.from([...(typeByte === undefined ? [] : [typeByte]), ...headers.reverse().flat(), 0x80])
}

describe('intake: deeply nested RLP lists', () => {
  it('refuses lists nested deeper than any transaction at once (was: seconds per input, then a stack overflow)', () => {
    // Found by `npm run fuzz` (kind nested-rlp): 35,000 nested lists in 118 KB took 5.2 s in
    // @ethereumjs/rlp's recursive decoder and failed with "Maximum call stack size exceeded".
    for (const typeByte of [2, 1, undefined]) {
      const bytes = nested(35_000, typeByte)
      expect(bytes.length).toBeLessThanOrEqual(MAX_TX_BYTES)
      const t0 = performance.now()
      const r = decodeRawTx(hex(bytes), ctx)
      expect(performance.now() - t0).toBeLessThan(200)
      expect(r.ok).toBe(false)
      if (!r.ok) {
        expect(r.rejection.code).toBe('malformed-transaction')
        expect(r.rejection.reason).toMatch(/nested more than 16 deep/)
      }
    }
  })

  it('measures depth exactly and leaves malformed RLP to the decoder', () => {
    expect(rlpNestingProblem(nested(MAX_RLP_LIST_DEPTH))).toBeUndefined()
    expect(rlpNestingProblem(nested(MAX_RLP_LIST_DEPTH + 1))).toMatch(/nested/)
    expect(rlpNestingProblem(nested(MAX_RLP_LIST_DEPTH + 1, 2), 1)).toMatch(/nested/)
    // Siblings do not add depth.
    expect(rlpNestingProblem(Uint8Array.from([0xc6, 0xc1, 0xc0, 0xc1, 0xc0, 0xc1, 0xc0]))).toBeUndefined()
    // Lengths that do not fit: the decoder's own error, not a nesting one.
    expect(rlpNestingProblem(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0]))).toBeUndefined()
    expect(rlpNestingProblem(Uint8Array.from([0xc2, 0xc5, 0x80]))).toBeUndefined()
    const r = decodeRawTx(hex(nested(12, 2)), ctx)
    expect(r.ok || r.rejection.reason).toMatch(/Invalid EIP-1559/)
  })

  it('still decodes valid transactions with access lists (4 levels deep)', () => {
    const rng = new Rng(42)
    for (let i = 0; i < 60; i++) {
      const v = randomValidTx(rng, i)
      const r = decodeRawTx(v.raw, ctx)
      expect(r.ok ? r.tx.senderHex : r.rejection.reason).toBe(v.senderHex)
    }
  })
})
