import { encodeReceipt } from '@ethereumjs/vm'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { receiptRlp } from '../../shared/coordinator/receipt-rlp.ts'

import type { Log } from '@ethereumjs/evm'

const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max })
// Data around RLP's boundaries: empty, one byte below and above 0x80, 55 and 56 bytes, long.
const data = fc.oneof(bytes(0, 0), bytes(1, 1), bytes(2, 60), bytes(54, 57), bytes(200, 1100))
const log: fc.Arbitrary<Log> = fc.tuple(bytes(20, 20), fc.array(bytes(32, 32), { maxLength: 4 }), data)
const gas = fc.oneof(fc.constantFrom(0n, 1n, 0x7fn, 0x80n, 0xffn, 0x100n, 21_000n, 30_000_000n, 1n << 56n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }))

describe('receipt encoding', () => {
  it('is byte for byte encodeReceipt of @ethereumjs/vm', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 1), gas, fc.oneof(fc.constant(new Uint8Array(256)), bytes(256, 256)), fc.array(log, { maxLength: 5 }), fc.constantFrom(0, 1, 2, 3, 4), (status, cumulative, bloom, logs, type) => {
        const ours = receiptRlp(status, cumulative, bloom, logs, type)
        const library = encodeReceipt({ status: status as 0 | 1, cumulativeBlockGasUsed: cumulative, bitvector: bloom, logs } as never, type as never)
        expect(ours).toEqual(library)
      }),
      { numRuns: 3000 },
    )
  })
})
