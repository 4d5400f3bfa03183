/**
 * Splitting a heavy connected group into pieces for different shards, from its dependency
 * matrix (dependencies.ts), only where a cost model says it shortens the block.
 *
 * Why a connected group is not simply cut anywhere: shards run independently, so a transaction
 * whose read-after-write predecessor runs on another shard reads a stale value and is
 * re-executed by the coordinator, serially, after all shards. Its successors on its own shard
 * read what its first run wrote, so they may be stale too (a cascade). The model:
 *
 * 1. Lanes: every transaction joins the lane of its latest predecessor (a path through the
 *    DAG); one with none starts a lane. If the heaviest lane carries CRITICAL_SHARE of the
 *    group's gas, the group is essentially a chain (one hot pool, one hot account): no split
 *    can beat running it serially, so it stays whole. The DAG's value here is to say so.
 * 2. Pieces: lanes are merged along the lane pairs with the most edges between them while the
 *    merged gas stays within the shard target, then packed into at most `shards` bins by gas.
 * 3. Cost: a transaction is "dirty" if a predecessor is in another bin or is itself dirty in
 *    the same bin (a pessimistic cascade). The block's estimated time split = max(heaviest
 *    piece, block gas / shards) + dirty gas (re-executed serially after the shards); whole =
 *    max(group gas, rest of the block over the other shards). The split is kept only if it is
 *    at most SPLIT_GAIN of whole.
 */
import type { DependencyMatrix } from './dependencies.ts'

export const CRITICAL_SHARE = 0.8
export const SPLIT_GAIN = 0.8
/** Groups lighter than this multiple of the shard target stay whole. */
export const SPLIT_MIN_RATIO = 1.25
/** Bound on dependency edges examined per group. */
export const MAX_SPLIT_EDGES = 8_000_000

export interface SplitEstimate {
  groupGas: number
  /** Heaviest lane (a lower bound of the critical path). */
  heaviestLaneGas: number
  lanes: number
  /** Heaviest piece, predicted re-executions and their gas; makespan = heaviest + dirty gas. */
  heaviestPieceGas: number
  predictedReexecutions: number
  dirtyGas: number
  makespan: number
  /** Why it was kept whole, if it was. */
  keptWhole?: 'small' | 'chain' | 'no-gain' | 'too-many-edges'
}

export interface SplitResult {
  /** Pieces as local indices (each ascending); undefined when the group stays whole. */
  pieces: number[][] | undefined
  estimate: SplitEstimate
}

/** Lanes: each transaction joins its latest predecessor's lane (`latest[i]`, -1 for none). */
export function lanesOf(latest: Int32Array, gas: ArrayLike<number>): { lane: Int32Array; laneGas: number[] } {
  const lane = new Int32Array(latest.length)
  const laneGas: number[] = []
  for (let i = 0; i < latest.length; i++) {
    const p = latest[i]!
    lane[i] = p < 0 ? laneGas.push(0) - 1 : lane[p]!
    laneGas[lane[i]!]! += gas[i]!
  }
  return { lane, laneGas }
}

/** Highest set bit below `i` in row i, or -1. */
function latestPredecessor(m: DependencyMatrix, i: number): number {
  const base = i * m.words
  for (let w = Math.min(m.words - 1, i >>> 5); w >= 0; w--) {
    let v = m.rows[base + w]!
    if (w === i >>> 5) v &= (1 << (i & 31)) - 1
    if (v !== 0) return w * 32 + (31 - Math.clz32(v))
  }
  return -1
}

export function splitGroup(m: DependencyMatrix, gas: ArrayLike<number>, shards: number, targetGas: number): SplitResult {
  const n = m.n
  let groupGas = 0
  for (let i = 0; i < n; i++) groupGas += gas[i]!
  const estimate: SplitEstimate = { groupGas, heaviestLaneGas: groupGas, lanes: 1, heaviestPieceGas: groupGas, predictedReexecutions: 0, dirtyGas: 0, makespan: groupGas }
  const whole = (why: NonNullable<SplitEstimate['keptWhole']>): SplitResult => ({ pieces: undefined, estimate: { ...estimate, keptWhole: why } })
  if (shards < 2 || n < 2 || groupGas <= targetGas * SPLIT_MIN_RATIO) return whole('small')

  // 1. Lanes along latest predecessors.
  const latest = new Int32Array(n)
  for (let i = 0; i < n; i++) latest[i] = latestPredecessor(m, i)
  const { lane, laneGas } = lanesOf(latest, gas)
  estimate.lanes = laneGas.length
  estimate.heaviestLaneGas = Math.max(...laneGas)
  if (estimate.heaviestLaneGas >= CRITICAL_SHARE * groupGas) return whole('chain')

  // 2. Merge lanes along their heaviest connections, within the capacity of a piece.
  const between = new Map<number, number>()
  let edges = 0
  for (let i = 0; i < n; i++) {
    const base = i * m.words
    for (let w = 0; w <= Math.min(m.words - 1, i >>> 5); w++) {
      let v = m.rows[base + w]!
      while (v !== 0) {
        const j = w * 32 + (31 - Math.clz32(v))
        v &= ~(1 << (j & 31))
        if (++edges > MAX_SPLIT_EDGES) return whole('too-many-edges')
        const a = lane[i]!
        const b = lane[j]!
        if (a === b) continue
        const key = a < b ? a * laneGas.length + b : b * laneGas.length + a
        between.set(key, (between.get(key) ?? 0) + 1)
      }
    }
  }
  // Try a few piece capacities (balanced halves up to the shard target); keep the best makespan.
  let best: Placement | undefined
  for (const capacity of new Set([groupGas / shards, (groupGas / shards + Math.max(targetGas, groupGas / shards)) / 2, Math.max(targetGas, groupGas / shards)])) {
    const placement = place(m, gas, lane, laneGas, between, capacity, shards)
    if (placement !== undefined && (best === undefined || placement.makespan < best.makespan)) best = placement
  }
  if (best === undefined) return whole('no-gain')
  estimate.heaviestPieceGas = best.heaviestPieceGas
  estimate.predictedReexecutions = best.dirtyCount
  estimate.dirtyGas = best.dirtyGas
  estimate.makespan = best.makespan
  // Against the block: whole, the group is one shard (the others share the rest); split, the
  // pieces and the rest spread over every shard, then the re-executions run serially.
  const blockGas = targetGas * shards
  const wholeBlock = Math.max(groupGas, (blockGas - groupGas) / (shards - 1))
  const splitBlock = Math.max(best.heaviestPieceGas, blockGas / shards) + best.dirtyGas
  if (splitBlock > SPLIT_GAIN * wholeBlock) return whole('no-gain')
  return { pieces: best.pieces, estimate }
}

interface Placement {
  pieces: number[][]
  heaviestPieceGas: number
  dirtyCount: number
  dirtyGas: number
  makespan: number
}

/** Merge lanes up to `capacity`, pack into bins, and price the result (steps 2 and 3). */
function place(
  m: DependencyMatrix,
  gas: ArrayLike<number>,
  lane: Int32Array,
  laneGas: readonly number[],
  between: ReadonlyMap<number, number>,
  capacity: number,
  shards: number,
): Placement | undefined {
  const n = m.n
  const parent = laneGas.map((_, i) => i)
  const groupOfLane = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]!]!
    return x
  }
  const merged = [...laneGas]
  for (const [key] of [...between].sort((a, b) => b[1] - a[1] || a[0] - b[0])) {
    const a = groupOfLane(Math.floor(key / laneGas.length))
    const b = groupOfLane(key % laneGas.length)
    if (a === b || merged[a]! + merged[b]! > capacity) continue
    parent[b] = a
    merged[a]! += merged[b]!
  }
  // Pack the merged lanes into at most `shards` bins (largest first onto the lightest bin).
  const roots = [...new Set(laneGas.map((_, i) => groupOfLane(i)))].sort((a, b) => merged[b]! - merged[a]! || a - b)
  const binLoad = new Array<number>(Math.min(shards, roots.length)).fill(0)
  const binOfRoot = new Map<number, number>()
  for (const r of roots) {
    let best = 0
    for (let b = 1; b < binLoad.length; b++) if (binLoad[b]! < binLoad[best]!) best = b
    binOfRoot.set(r, best)
    binLoad[best]! += merged[r]!
  }
  const bins = binLoad.length
  if (bins < 2) return undefined
  const bin = new Int32Array(n)
  for (let i = 0; i < n; i++) bin[i] = binOfRoot.get(groupOfLane(lane[i]!))!

  // Dirty transactions: a predecessor in another bin, or a dirty one in the same bin.
  const stale = Array.from({ length: bins }, () => new Uint32Array(m.words))
  let dirtyGas = 0
  let dirtyCount = 0
  for (let i = 0; i < n; i++) {
    const b = bin[i]!
    const mask = stale[b]!
    const base = i * m.words
    let dirty = false
    for (let w = 0; w <= Math.min(m.words - 1, i >>> 5) && !dirty; w++) dirty = (m.rows[base + w]! & mask[w]!) !== 0
    const bitWord = i >>> 5
    const bitMask = 1 << (i & 31)
    for (let other = 0; other < bins; other++) if (other !== b || dirty) stale[other]![bitWord]! |= bitMask
    if (dirty) {
      dirtyGas += gas[i]!
      dirtyCount++
    }
  }
  const heaviestPieceGas = Math.max(...binLoad)
  const pieces: number[][] = Array.from({ length: bins }, () => [])
  for (let i = 0; i < n; i++) pieces[bin[i]!]!.push(i)
  return { pieces: pieces.filter((p) => p.length > 0), heaviestPieceGas, dirtyCount, dirtyGas, makespan: heaviestPieceGas + dirtyGas }
}
