/** The log index and the bloom check that eth_getLogs uses to skip blocks. */
import { describe, expect, it } from 'vitest'

import { keccak256 } from '../../shared/crypto/keccak.ts'
import { fromHex, to0x } from '../../shared/hex.ts'
import { bloomMayContain } from '../../shared/rpc/bloom.ts'
import { LogIndex } from '../../shared/rpc/log-index.ts'

import type { ReceiptRecord } from '../../shared/store/records.ts'

const A = `0x${'aa'.repeat(20)}`
const B = `0x${'bb'.repeat(20)}`
const T1 = to0x(keccak256(new TextEncoder().encode('T1')))
const T2 = to0x(keccak256(new TextEncoder().encode('T2')))

function receipt(logs: { address: string; topics: string[] }[]): ReceiptRecord {
  return { logs: logs.map((l) => ({ ...l, data: '0x' })) } as unknown as ReceiptRecord
}

describe('LogIndex', () => {
  it('answers the blocks that can hold a match, and nothing for a range it does not cover', () => {
    const index = new LogIndex()
    index.add(0, [])
    index.add(1, [receipt([{ address: A, topics: [T1] }])])
    index.add(2, [])
    index.add(3, [receipt([{ address: B, topics: [T1, T2] }])])
    index.add(4, [receipt([{ address: A, topics: [T2] }])])
    expect(index.covered).toBe(4)
    expect(index.candidates(0, 4, undefined, [])).toEqual([1, 3, 4])
    expect(index.candidates(0, 4, [A], [])).toEqual([1, 4])
    expect(index.candidates(0, 4, [A, B], [[T2]])).toEqual([3, 4])
    expect(index.candidates(2, 3, undefined, [null, [T2]])).toEqual([3])
    expect(index.candidates(0, 5, [A], [])).toBeUndefined()
    // A gap ends the coverage.
    index.add(6, [])
    index.add(5, [])
    expect(index.candidates(0, 4, [A], [])).toEqual([1, 4])
    expect(index.candidates(0, 5, [A], [])).toBeUndefined()
  })
})

describe('bloom', () => {
  it('contains what was added and rules out most of what was not', () => {
    const bloom = new Uint8Array(256)
    const add = (item: Uint8Array): void => {
      const h = keccak256(item)
      for (let i = 0; i < 6; i += 2) {
        const bit = ((h[i]! << 8) | h[i + 1]!) & 2047
        bloom[255 - (bit >> 3)]! |= 1 << (bit & 7)
      }
    }
    add(fromHex(A))
    add(fromHex(T1))
    expect(bloomMayContain(bloom, fromHex(A))).toBe(true)
    expect(bloomMayContain(bloom, fromHex(T1))).toBe(true)
    expect(bloomMayContain(bloom, fromHex(B))).toBe(false)
    expect(bloomMayContain(bloom, fromHex(T2))).toBe(false)
  })
})
