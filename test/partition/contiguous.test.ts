import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { CHUNK_TAPER, chunkCount, gasMostlyGuessed, chunkWeights, partitionBlock, type PartitionInput } from '../../shared/partition/partition.ts'

/** A block of n transactions; tx i writes key `k${owner(i)}` (same owner: one group). */
const block = (owners: readonly number[], gas: (i: number) => number = () => 21_000): PartitionInput[] =>
  owners.map((o, i) => ({ reads: [`k${o}`], writes: [`k${o}`], gas: gas(i) }))

/** The group of every position, by the key it writes. */
const groupOf = (txs: readonly PartitionInput[]): string[] => txs.map((t) => t.writes[0]!)

describe('contiguous shards (chunks)', () => {
  it('independent transactions: shards are consecutive ranges of positions, full rounds then the tapered last rounds', () => {
    const txs = block(Array.from({ length: 1000 }, (_, i) => i))
    const { shards } = partitionBlock(txs, 1, { chunks: 4 })
    // Weights 1, 0.7, 0.5, 0.35 of 2.55: the shards end where 39.2%, 66.7%, 86.3% of the gas is
    // reached (positions 392.2, 666.7, 862.7: each closes on the transaction that reaches it).
    expect(shards.map((s) => [s[0], s.at(-1), s.length])).toEqual([
      [0, 392, 393],
      [393, 666, 274],
      [667, 862, 196],
      [863, 999, 137],
    ])
  })

  it('chunkWeights: one weight per shard, summing to 1; the last rounds (one shard per lane) tapered, at least one full round first', () => {
    const sum = (w: number[]): number => w.reduce((a, b) => a + b, 0)
    const ratios = (w: number[]): number[] => w.map((x) => Number((x / w[0]!).toFixed(6)))
    expect(ratios(chunkWeights(8, 1))).toEqual([1, 1, 1, 1, 1, ...[...CHUNK_TAPER].reverse()])
    expect(ratios(chunkWeights(16, 2))).toEqual([...Array(10).fill(1), ...[...CHUNK_TAPER].reverse().flatMap((t) => [t, t])])
    // Two rounds: one full, one tapered; one round: nothing tapered.
    expect(ratios(chunkWeights(4, 2))).toEqual([1, 1, CHUNK_TAPER[0], CHUNK_TAPER[0]])
    expect(ratios(chunkWeights(3, 3))).toEqual([1, 1, 1])
    for (const [chunks, lanes] of [[8, 1], [16, 2], [5, 2], [7, 3], [1, 1]] as const) expect(sum(chunkWeights(chunks, lanes))).toBeCloseTo(1, 12)
    // Every round at least ~0.7 of the one before it (the coordinator keeps up).
    for (let k = 1; k < CHUNK_TAPER.length; k++) expect(CHUNK_TAPER[k - 1]! / CHUNK_TAPER[k]!).toBeGreaterThanOrEqual(0.69)
  })

  it('a large block: the last shard is the tapered share of the block, the coordinator\'s tail after it', () => {
    const txs = block(Array.from({ length: 10_000 }, (_, i) => i))
    const { shards } = partitionBlock(txs, 2, { chunks: chunkCount(10_000, 2) })
    const weights = chunkWeights(16, 2)
    expect(shards).toHaveLength(16)
    shards.forEach((s, k) => expect(Math.abs(s.length - weights[k]! * 10_000)).toBeLessThanOrEqual(2))
    expect(shards.at(-1)!.length).toBeLessThan(shards[0]!.length / 2)
  })

  it('without chunks (or chunks <= shards) packing is unchanged: balanced, interleaved', () => {
    const txs = block(Array.from({ length: 8 }, (_, i) => i))
    expect(partitionBlock(txs, 2).shards).toEqual(partitionBlock(txs, 2, { chunks: 2 }).shards)
    expect(partitionBlock(txs, 2).shards[0]).toEqual([0, 2, 4, 6])
  })

  it('a group heavier than a chunk is a shard of its own; groups are never cut', () => {
    // tx 0..99: one hot group (same key) spread over the block; 100..399 independent.
    const owners = Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? -1 : i))
    const txs = block(owners)
    const { shards } = partitionBlock(txs, 2, { chunks: 8 })
    const hot = shards.filter((s) => s.some((i) => owners[i] === -1))
    expect(hot).toHaveLength(1)
    expect(hot[0]!.filter((i) => owners[i] === -1)).toHaveLength(100)
  })

  it('a split group keeps the balanced packing (its pieces must run side by side)', () => {
    const txs = block(Array.from({ length: 40 }, () => 7))
    const split = (members: readonly number[]) => [members.filter((i) => i % 2 === 0), members.filter((i) => i % 2 === 1)]
    const p = partitionBlock(txs, 2, { chunks: 8, splitGroup: split })
    expect(p.groupsSplit).toBe(1)
    expect(p.shards).toHaveLength(2)
  })

  it('property: every position once, block order within a shard, groups whole, at most `chunks` shards, prefixes in order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 12 }), (owners, lanes, chunks) => {
        const txs = block(owners, (i) => 21_000 + (i % 7) * 10_000)
        const { shards } = partitionBlock(txs, lanes, { chunks })
        const all = shards.flat().sort((a, b) => a - b)
        expect(all).toEqual(owners.map((_, i) => i))
        expect(shards.length).toBeLessThanOrEqual(Math.max(lanes, chunks))
        for (const s of shards) expect([...s].sort((a, b) => a - b)).toEqual(s)
        const groups = groupOf(txs)
        const shardOfGroup = new Map<string, number>()
        shards.forEach((s, k) => {
          for (const i of s) {
            const g = groups[i]!
            expect(shardOfGroup.get(g) ?? k).toBe(k)
            shardOfGroup.set(g, k)
          }
        })
        if (chunks > lanes) {
          // Shard k's first position comes after shard k-1's first: the shards cover the block in order.
          for (let k = 1; k < shards.length; k++) expect(shards[k]![0]!).toBeGreaterThan(shards[k - 1]![0]!)
        }
      }),
    )
  })

  it('chunkCount: lanes for small blocks, up to 8 per lane for large ones', () => {
    expect(chunkCount(100, 2)).toBe(2)
    expect(chunkCount(1000, 1)).toBe(4)
    expect(chunkCount(10_000, 1)).toBe(8)
    expect(chunkCount(10_000, 2)).toBe(16)
    expect(chunkCount(10_000, 2, 1)).toBe(2)
  })

  it('chunkCount: a block whose gas is mostly guessed is cut finer on two lanes or more (up to 3 a lane), never on one', () => {
    expect(chunkCount(150, 2, undefined, true)).toBe(4)
    expect(chunkCount(150, 4, undefined, true)).toBe(4)
    expect(chunkCount(400, 4, undefined, true)).toBe(10)
    expect(chunkCount(1000, 2, undefined, true)).toBe(6)
    expect(chunkCount(1000, 2)).toBe(4)
    expect(chunkCount(10_000, 2, undefined, true)).toBe(16)
    expect(chunkCount(150, 1, undefined, true)).toBe(1)
    expect(chunkCount(1000, 1, undefined, true)).toBe(4)
    expect(chunkCount(10_000, 2, 1, true)).toBe(2)
    expect(chunkCount(1000, 2, 2, true)).toBe(4)
  })

  it('gasMostlyGuessed: more than half of the estimated gas from gas limits', () => {
    const known = { gas: 21_000, gasKnown: true }
    expect(gasMostlyGuessed([])).toBe(false)
    expect(gasMostlyGuessed([known, known, { gas: 50_000, gasKnown: false }])).toBe(true)
    expect(gasMostlyGuessed([known, known, { gas: 42_000, gasKnown: false }])).toBe(false)
    expect(gasMostlyGuessed([{ gas: 1, gasKnown: false }, { gas: 100_000, gasKnown: true }])).toBe(false)
  })
})
