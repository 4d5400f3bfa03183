/**
 * The dependency DAG of heavy connected groups and the split model: the exact builder against
 * a brute force, the bitmap kernel's matrix covering it (never dropping an edge), the split
 * decisions on chains and on bridged clusters, partitionBlock's handling of pieces, and a
 * split block sealed identical to sequential execution.
 */
import { beforeAll, describe, expect, it } from 'vitest'

import { createAccelerators } from '../../shared/gpu/accelerators.ts'
import { gpuConfigOf } from '../../shared/gpu/config.ts'
import { GpuContext } from '../../shared/gpu/context.ts'
import { type GpuBackend } from '../../shared/gpu/backend.ts'
import { partitionBlock } from '../../shared/partition/partition.ts'
import { accessBitmaps, bitmapDependencies, coversExact, edgeCount, exactDependencies, hasEdge, type AccessSets } from '../../shared/schedule/dependencies.ts'
import { connectedGroups, DependencyPlanner, type SchedulableTx } from '../../shared/schedule/planner.ts'
import { splitGroup } from '../../shared/schedule/split.ts'
import { createRng } from '../../shared/workload/generator.ts'
import { addressOf, ETH, runInline, signTx, testGenesis } from '../helpers/chain.ts'
import { openTestBackends } from '../helpers/gpu-backends.ts'

const SEED = Number(process.env['PAREVM_TEST_SEED'] ?? Math.floor(Math.random() * 2 ** 31))
console.log(`schedule tests: seed ${SEED}`)

const backends: GpuBackend[] = []
beforeAll(async () => {
  backends.push(...(await openTestBackends('schedule tests')))
})

function randomBlock(rng: () => number, n: number, keys: number): AccessSets[] {
  const pick = (): string => `k${Math.floor(rng() * rng() * keys)}`
  return Array.from({ length: n }, () => {
    const reads = new Set<string>()
    const writes = new Set<string>()
    for (let k = 0; k < 1 + Math.floor(rng() * 4); k++) reads.add(pick())
    for (let k = 0; k < Math.floor(rng() * 3); k++) {
      const key = pick()
      writes.add(key)
      if (rng() < 0.8) reads.add(key)
    }
    return { reads: [...reads], writes: [...writes] }
  })
}

describe('dependency matrices', () => {
  it('the exact builder gives each read its last earlier writer', () => {
    const rng = createRng(SEED)
    for (const n of [1, 7, 40, 70]) {
      const txs = randomBlock(rng, n, 30)
      const m = exactDependencies(txs)
      for (let i = 0; i < n; i++) {
        const expected = new Set<number>()
        for (const key of txs[i]!.reads) {
          for (let j = i - 1; j >= 0; j--) {
            if (txs[j]!.writes.includes(key)) {
              expected.add(j)
              break
            }
          }
        }
        for (let j = 0; j < n; j++) expect(hasEdge(m, i, j), `edge ${i} <- ${j}`).toBe(expected.has(j))
      }
    }
  })

  it('the kernel matrix (cpu and webasm backends) holds every earlier writer of each read: a superset of the exact one', async () => {
    const rng = createRng(SEED + 1)
    for (const [n, keys] of [[50, 20], [90, 3000]] as const) {
      const txs = randomBlock(rng, n, keys)
      const exact = exactDependencies(txs)
      const bitmaps = accessBitmaps(txs)
      for (const backend of backends) {
        const m = await bitmapDependencies(backend, txs)
        expect(coversExact(m, exact), backend.name).toBe(true)
        if (bitmaps.exact) {
          // One bit per key: exactly "j < i wrote a key i reads".
          for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(hasEdge(m, i, j)).toBe(txs[j]!.writes.some((k) => txs[i]!.reads.includes(k)))
        }
      }
      expect(edgeCount(exact)).toBeGreaterThan(0)
    }
    // A matrix missing an edge, or with one above the diagonal, is refused.
    const txs = randomBlock(rng, 30, 10)
    const exact = exactDependencies(txs)
    const broken = { ...exact, rows: exact.rows.slice() }
    const w = broken.rows.findIndex((v) => v !== 0)
    broken.rows[w] = 0
    expect(coversExact(broken, exact)).toBe(false)
    const above = { ...exact, rows: exact.rows.slice() }
    above.rows[0]! |= 1 << 5
    expect(coversExact(above, exact)).toBe(false)
  })
})

/** Two chains on two hot keys (A, B) and a sender that appears in both at the end. */
function bridgedBlock(perChain: number): SchedulableTx[] {
  const txs: SchedulableTx[] = []
  for (let k = 0; k < perChain; k++) {
    txs.push({ reads: [`a${k}`, 'A'], writes: [`a${k}`, 'A'], gas: 21_000 })
    txs.push({ reads: [`b${k}`, 'B'], writes: [`b${k}`, 'B'], gas: 21_000 })
  }
  txs.push({ reads: ['u', 'A'], writes: ['u', 'A'], gas: 21_000 })
  txs.push({ reads: ['u', 'B'], writes: ['u', 'B'], gas: 21_000 })
  return txs
}

describe('splitting a heavy group', () => {
  it('keeps a chain (one hot key) whole: its critical path is the group', () => {
    const chain: SchedulableTx[] = Array.from({ length: 50 }, (_, k) => ({ reads: [`s${k}`, 'pool'], writes: [`s${k}`, 'pool'], gas: 100_000 }))
    const r = splitGroup(exactDependencies(chain), chain.map((t) => t.gas), 4, (50 * 100_000) / 4)
    expect(r.pieces).toBeUndefined()
    expect(r.estimate.keptWhole).toBe('chain')
    expect(r.estimate.lanes).toBe(1)
  })

  it('splits two chains joined by one late bridge, predicting one re-execution', () => {
    const txs = bridgedBlock(20)
    const r = splitGroup(exactDependencies(txs), txs.map((t) => t.gas), 2, (txs.length * 21_000) / 2)
    expect(r.pieces).toHaveLength(2)
    expect(r.estimate.predictedReexecutions).toBe(1)
    expect(r.pieces!.flat().sort((a, b) => a - b)).toEqual(txs.map((_, i) => i))
    for (const piece of r.pieces!) expect([...piece].sort((a, b) => a - b)).toEqual(piece)
    // The chains are not cut: every A transaction is in one piece, every B transaction in the other.
    const pieceOf = (i: number): number => r.pieces!.findIndex((p) => p.includes(i))
    for (let k = 1; k < 20; k++) {
      expect(pieceOf(2 * k)).toBe(pieceOf(0))
      expect(pieceOf(2 * k + 1)).toBe(pieceOf(1))
    }
  })

  it('the planner feeds partitionBlock: pieces land on different shards, in block order, every transaction once', async () => {
    const txs = bridgedBlock(20)
    expect(connectedGroups(txs)).toHaveLength(1)
    const planner = new DependencyPlanner({ split: 'auto', gpu: new GpuContext({ config: gpuConfigOf({ backend: 'off' }) }) })
    const options = await planner.analyse(txs, 2)
    expect(planner.lastStats).toMatchObject({ groupsAnalysed: 1, groupsSplit: 1, predictedReexecutions: 1, cpuMatrices: 1 })
    const p = partitionBlock(txs, 2, options)
    expect(p.shards).toHaveLength(2)
    expect(p.groups).toBe(1)
    expect(p.groupsSplit).toBe(1)
    expect(p.shards.flat().sort((a, b) => a - b)).toEqual(txs.map((_, i) => i))
    for (const s of p.shards) expect([...s].sort((a, b) => a - b)).toEqual(s)
    // Without the planner, or with it off, the group is one shard.
    expect(partitionBlock(txs, 2).shards).toHaveLength(1)
    expect(await new DependencyPlanner({ split: 'off' }).analyse(txs, 2)).toEqual({})
  })

  it('partitionBlock ignores a splitter whose pieces do not cover the group exactly', () => {
    const txs = bridgedBlock(5)
    const bad = partitionBlock(txs, 2, { splitGroup: (members) => [members.slice(1), [members[0]!, members[1]!]] })
    expect(bad.shards).toHaveLength(1)
    const missing = partitionBlock(txs, 2, { splitGroup: (members) => [members.slice(2), [members[0]!]] })
    expect(missing.shards).toHaveLength(1)
  })

  it('with the conflict stage on (cpu backend), the kernel matrix drives the same decision', async () => {
    const planner = new DependencyPlanner({ gpu: new GpuContext({ config: gpuConfigOf({ backend: 'cpu', stages: { conflict: 'on' } }) }) })
    const p = partitionBlock(bridgedBlock(20), 2, await planner.analyse(bridgedBlock(20), 2))
    expect(planner.lastStats).toMatchObject({ groupsSplit: 1, gpuMatrices: 1, cpuMatrices: 0 })
    expect(p.shards).toHaveLength(2)
  })
})

describe('a split block on the cluster', () => {
  it('seals two bridged transfer chains on two shards, re-executes the bridge, and equals sequential execution', async () => {
    // Senders 0..11 pay hot recipient A, 12..23 pay hot recipient B; sender 24 pays A then B.
    const hotA = addressOf(100)
    const hotB = addressOf(101)
    const raws: string[] = []
    for (let k = 0; k < 12; k++) {
      raws.push(signTx({ from: k, nonce: 0, to: hotA, value: ETH }))
      raws.push(signTx({ from: 12 + k, nonce: 0, to: hotB, value: ETH }))
    }
    raws.push(signTx({ from: 24, nonce: 0, to: hotA, value: ETH }), signTx({ from: 24, nonce: 1, to: hotB, value: ETH }))
    const accelerators = createAccelerators({ gpu: gpuConfigOf({ backend: 'off' }), split: 'auto' })
    const { summary, events } = await runInline(testGenesis({ accounts: 25 }), raws, { blockSize: 100, workers: 2, accelerators })
    expect(summary.included).toBe(26)
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    expect(events).toHaveLength(1)
    expect(events[0]!.sealed.report.shards).toBe(2)
    expect(summary.reexecuted).toBe(1)
    expect(accelerators.planner.totals).toMatchObject({ groupsSplit: 1, predictedReexecutions: 1 })
  })
})
