/**
 * Sharding a block: transactions whose predicted sets overlap on a key that one of them writes
 * go to the same shard, in block order (same sender: same shard, since the sender's account is
 * written); the connected groups are packed onto shards by estimated gas, largest first.
 */
import type { StateKey } from '../state/keys.ts'

export interface PartitionInput {
  reads: readonly StateKey[]
  writes: readonly StateKey[]
  gas: number
}

export interface Partition {
  /** Per shard, block indices in block order. Empty shards are dropped. */
  shards: number[][]
  /** Connected groups found. */
  groups: number
  /** Estimated gas of the largest group (the critical path) and of the block. */
  largestGroupGas: number
  totalGas: number
  /** Connected groups cut into pieces by `splitGroup` (shared/schedule). */
  groupsSplit?: number
}

export interface PartitionOptions {
  /**
   * Offered every group heavier than a fair share (`targetGas` = block gas / shards): pieces
   * (block indices, together exactly the group's members) to place on different shards instead
   * of the whole group, or undefined to keep it whole. Placing conflicting transactions apart is
   * correct (the coordinator re-executes what read stale values); the splitter judges the cost.
   */
  splitGroup?: (members: readonly number[], targetGas: number) => number[][] | undefined
  /**
   * Cut the block into this many shards (more than `shardCount`, the parallel lanes) of whole
   * groups in block order, each about the same gas: workers take them in turn and the
   * coordinator settles each block prefix while later shards still execute. Used only where no
   * group was split (a split group's pieces must run side by side, one per lane).
   */
  chunks?: number
}

/**
 * Shards per lane where a block is cut into contiguous shards, and the fewest transactions worth
 * a shard; for a block whose gas is mostly guessed (`chunkCount`), the shards per lane and the
 * fewest transactions a shard then.
 */
export const CHUNKING = { perLane: 8, minTxs: 250, guessedPerLane: 3, guessedMinTxs: 40 }

/**
 * The relative size of the last rounds of contiguous shards (a round: one shard per lane), last
 * round first. The coordinator settles a shard and stages its state-trie writes while the
 * next one executes, so what is left after the last shard is that shard's own settlement and
 * root: a smaller last round shortens the block's serial tail. Each round is at least ~0.7 of
 * the one before, so the coordinator (about 0.6 of a worker's time per transaction on simple
 * transfers, less on anything heavier) still finishes a shard before the next one is done.
 */
export const CHUNK_TAPER: readonly number[] = [0.35, 0.5, 0.7]

/**
 * Each contiguous shard's share of the block's gas (summing to 1): full rounds, then the tapered
 * last rounds (`CHUNK_TAPER`), at least one full round kept.
 */
export function chunkWeights(chunks: number, lanes: number): number[] {
  const rounds = Math.ceil(chunks / lanes)
  const weights = Array.from({ length: chunks }, (_, k) => {
    const fromEnd = rounds - 1 - Math.floor(k / lanes)
    return fromEnd < CHUNK_TAPER.length && fromEnd < rounds - 1 ? CHUNK_TAPER[fromEnd]! : 1
  })
  const sum = weights.reduce((a, b) => a + b, 0)
  return weights.map((w) => w / sum)
}

/**
 * How many contiguous shards a block of `txCount` transactions on `lanes` lanes is cut into
 * (>= lanes). Where most of the block's estimated gas is gas limits (`gasGuessed`: calls no
 * template covers, as in a block of contracts the cluster has not seen), shards cut by estimate
 * come out uneven; with two lanes or more such a block is cut into up to `guessedPerLane`
 * shards a lane (of at least `guessedMinTxs` transactions), so that the workers, taking shards
 * as they finish, even out what the estimate got wrong. Not more: each boundary between two
 * workers' shards is a place where a later shard reads what an earlier one had not written yet
 * (re-executed at the coordinator), and each shard costs a plan read, a staging and a load. One
 * lane has nothing to even out.
 */
export function chunkCount(txCount: number, lanes: number, perLane: number = CHUNKING.perLane, gasGuessed = false): number {
  const chunks = Math.max(lanes, Math.min(lanes * perLane, Math.ceil(txCount / CHUNKING.minTxs)))
  if (!gasGuessed || lanes < 2) return chunks
  return Math.max(chunks, Math.min(lanes * Math.min(perLane, CHUNKING.guessedPerLane), Math.ceil(txCount / CHUNKING.guessedMinTxs)))
}

/** Whether more than half of the estimated gas of these transactions is not known (`Prediction.gasKnown`). */
export function gasMostlyGuessed(txs: readonly { gas: number; gasKnown: boolean }[]): boolean {
  let guessed = 0
  let total = 0
  for (const tx of txs) {
    total += tx.gas
    if (!tx.gasKnown) guessed += tx.gas
  }
  return guessed * 2 > total
}

class UnionFind {
  private readonly parent: Int32Array
  constructor(n: number) {
    this.parent = new Int32Array(n)
    for (let i = 0; i < n; i++) this.parent[i] = i
  }
  find(x: number): number {
    let root = x
    while (this.parent[root] !== root) root = this.parent[root]!
    while (this.parent[x] !== root) {
      const next = this.parent[x]!
      this.parent[x] = root
      x = next
    }
    return root
  }
  union(a: number, b: number): void {
    const ra = this.find(a)
    const rb = this.find(b)
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb)
  }
}

export function partitionBlock(txs: readonly PartitionInput[], shardCount: number, options: PartitionOptions = {}): Partition {
  if (!Number.isInteger(shardCount) || shardCount < 1) throw new Error(`shard count must be a positive integer, got ${shardCount}`)
  const written = new Set<StateKey>()
  for (const tx of txs) for (const key of tx.writes) written.add(key)
  const uf = new UnionFind(txs.length)
  const firstToucher = new Map<StateKey, number>()
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i]!
    for (const list of [tx.reads, tx.writes]) {
      for (const key of list) {
        if (!written.has(key)) continue
        const first = firstToucher.get(key)
        if (first === undefined) firstToucher.set(key, i)
        else uf.union(first, i)
      }
    }
  }
  const groups = new Map<number, { members: number[]; gas: number }>()
  let totalGas = 0
  for (let i = 0; i < txs.length; i++) {
    const root = uf.find(i)
    let group = groups.get(root)
    if (group === undefined) {
      group = { members: [], gas: 0 }
      groups.set(root, group)
    }
    group.members.push(i)
    group.gas += txs[i]!.gas
    totalGas += txs[i]!.gas
  }
  const connected = groups.size
  let split = 0
  if (options.splitGroup !== undefined && shardCount > 1) {
    const target = totalGas / shardCount
    for (const [root, group] of [...groups]) {
      if (group.gas <= target) continue
      const pieces = options.splitGroup(group.members, target)
      if (pieces === undefined || pieces.length < 2 || !coversExactly(pieces, group.members)) continue
      groups.delete(root)
      split++
      pieces.forEach((members, p) => groups.set(-1 - txs.length * p - root, { members, gas: members.reduce((s, i) => s + txs[i]!.gas, 0) }))
    }
  }
  const ordered = [...groups.values()].sort((a, b) => b.gas - a.gas || a.members[0]! - b.members[0]!)
  const largestGroupGas = ordered[0]?.gas ?? 0
  if (options.chunks !== undefined && options.chunks > shardCount && split === 0) {
    const shards = contiguousShards([...groups.values()], chunkWeights(options.chunks, shardCount), totalGas)
    return { shards, groups: connected, largestGroupGas, totalGas }
  }
  const loads = new Array<number>(shardCount).fill(0)
  const members: number[][] = Array.from({ length: shardCount }, () => [])
  for (const group of ordered) {
    let best = 0
    for (let s = 1; s < shardCount; s++) if (loads[s]! < loads[best]!) best = s
    loads[best]! += group.gas
    members[best]!.push(...group.members)
  }
  const shards = members.filter((m) => m.length > 0).map((m) => m.sort((a, b) => a - b))
  return { shards, groups: connected, largestGroupGas, totalGas, ...(split > 0 ? { groupsSplit: split } : {}) }
}

/**
 * Whole groups in the order of their first transaction, cut into at most `weights.length`
 * shards, shard k closed once the load so far reaches the first k+1 weights' share of
 * `totalGas` (a group heavier than shard k's own share starts a shard of its own), so that
 * shard k holds the earliest positions not in shards 0..k-1.
 */
function contiguousShards(groups: readonly { members: number[]; gas: number }[], weights: readonly number[], totalGas: number): number[][] {
  const chunks = weights.length
  // Shard k ends where the first k+1 weights' share of the gas does (cumulative, so rounding
  // does not pile up in the last shard).
  const ends: number[] = []
  let acc = 0
  for (const w of weights) ends.push(totalGas * (acc += w))
  const byFirst = [...groups].sort((a, b) => a.members[0]! - b.members[0]!)
  const shards: number[][] = []
  let current: number[] = []
  let load = 0
  const close = (): void => {
    if (current.length === 0) return
    shards.push(current.sort((a, b) => a - b))
    current = []
  }
  for (const group of byFirst) {
    if (shards.length < chunks - 1 && group.gas >= totalGas * weights[shards.length]!) close()
    current.push(...group.members)
    load += group.gas
    if (shards.length < chunks - 1 && load >= ends[shards.length]!) close()
  }
  close()
  return shards
}

function coversExactly(pieces: readonly (readonly number[])[], members: readonly number[]): boolean {
  const expected = new Set(members)
  for (const piece of pieces) {
    for (const i of piece) if (!expected.delete(i)) return false
  }
  return expected.size === 0
}
