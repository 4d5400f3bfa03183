/**
 * Load: a block's plan and staged results, shard by shard, into arrays by block position. A
 * shard is fetched when its done message arrives (or, at the seal, every shard not fetched
 * yet, all at once) and decoded when it is taken in; the settlement consumes the prefix of
 * positions that has both a plan and a result.
 */
import { InvariantError, NotReadyError } from '../errors.ts'
import { plannedTxsOf, stagedTxsOf, type PlannedTx, type StagedTx } from '../pipeline/codec.ts'
import { nextTurn } from '../ports/clock.ts'

import type { PlanMeta, Records } from '../store/records.ts'

/** Transactions decoded between turns of the event loop. */
const TURN_EVERY = 64

/** A shard's stored bytes: its plan parts and its staged parts (as many as its done record says). */
export interface FetchedShard {
  shard: number
  stagedParts: number
  plan: Uint8Array[]
  staged: Uint8Array[]
}

export async function fetchShard(records: Records, meta: PlanMeta, shard: number, stagedParts: number): Promise<FetchedShard> {
  const [plan, staged] = await Promise.all([records.getShardPlanParts(meta, shard), records.getStaged(meta.block, shard, stagedParts)])
  return { shard, stagedParts, plan, staged }
}

/** The block's transactions and results by position, filled shard by shard. */
export class BlockInputs {
  readonly block: bigint
  readonly planned: (PlannedTx | undefined)[]
  readonly staged: (StagedTx | undefined)[]
  /** Shards taken in, with the staged part count they were read with. */
  private readonly shards = new Map<number, number>()

  constructor(readonly meta: PlanMeta) {
    this.block = BigInt(meta.block)
    this.planned = new Array(meta.txCount)
    this.staged = new Array(meta.txCount)
  }

  /** Has this shard been taken in (with this many staged parts)? */
  has(shard: number, stagedParts: number): boolean {
    return this.shards.get(shard) === stagedParts
  }

  get shardCount(): number {
    return this.shards.size
  }

  /**
   * Decode a fetched shard into the arrays, with a turn of the event loop every `TURN_EVERY`
   * transactions (the embedded cluster's workers reach the store through this thread). A
   * position planned or staged twice is a broken invariant.
   */
  async take(fetched: FetchedShard): Promise<void> {
    const { shard } = fetched
    if (this.shards.has(shard)) throw new InvariantError(`block ${this.block}: shard ${shard} taken in twice (${this.shards.get(shard)} and ${fetched.stagedParts} staged parts)`)
    // Marked first: a second take of this shard while this one pauses is refused.
    this.shards.set(shard, -1)
    let decoded = 0
    for (const part of fetched.plan) {
      for (const tx of plannedTxsOf(part)) {
        this.checkIndex(tx.index, 'planned')
        if (this.planned[tx.index] !== undefined) throw new InvariantError(`block ${this.block}: transaction ${tx.index} planned twice`)
        this.planned[tx.index] = tx
        if (++decoded % TURN_EVERY === 0) await nextTurn()
      }
    }
    for (const part of fetched.staged) {
      for (const result of stagedTxsOf(part)) {
        this.checkIndex(result.index, 'staged')
        if (this.staged[result.index] !== undefined) throw new InvariantError(`block ${this.block}: transaction ${result.index} staged twice`)
        this.staged[result.index] = result
        if (++decoded % TURN_EVERY === 0) await nextTurn()
      }
    }
    this.shards.set(shard, fetched.stagedParts)
  }

  private checkIndex(index: number, what: string): void {
    if (index >= this.meta.txCount) throw new InvariantError(`block ${this.block}: ${what} transaction ${index} is beyond the plan's ${this.meta.txCount}`)
  }

  /** Every position has its plan and its result (call once every shard is taken in). */
  assertComplete(): void {
    if (this.shards.size !== this.meta.shardParts.length) throw new NotReadyError(`cannot seal block ${this.block}: ${this.shards.size} of ${this.meta.shardParts.length} shards loaded`)
    for (let i = 0; i < this.meta.txCount; i++) {
      if (this.planned[i] === undefined || this.staged[i] === undefined) throw new InvariantError(`block ${this.block}: transaction ${i} has no ${this.planned[i] === undefined ? 'plan' : 'result'}`)
    }
  }
}
