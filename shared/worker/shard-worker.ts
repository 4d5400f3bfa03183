/**
 * A worker executes one shard of a planned block: one batched prefetch of the shard's
 * predicted keys (and the code of the contracts among them), then its transactions in block
 * order over a view of block-start state plus the shard's own earlier writes, and those of the
 * shards of the same plan this worker executed just before it, when they come earlier in the
 * block (a large block is cut into contiguous shards, several per worker: a later shard then
 * reads what the worker's earlier ones wrote instead of block-start values that validation
 * would find stale). Every result carries its read set (values and versions observed) and
 * write set; validation compares each read with the settled prefix by value, so a value read
 * from an earlier shard is right exactly when no shard between wrote that key. Results are
 * staged with put-if-absent, so a redelivered batch changes nothing, then the shard is
 * reported done.
 */
import { randomInt } from 'node:crypto'

import { ConfigError, MalformedInputError, NotReadyError } from '../errors.ts'
import { Executor, UNSUPPLIED_VALUE, runnableTx, type BlockHashLookup, type TxExecution } from '../exec/executor.ts'
import { ExecutorCache } from '../exec/executor-cache.ts'
import { fromHex, toHex } from '../hex.ts'
import { chunkBySize, decodePlannedTxs, encodeStagedTxs, type PlannedTx, type StagedTx } from '../pipeline/codec.ts'
import { doneMessageSchema, parseJson, shardMessageSchema, type DoneMessage, type ShardMessage } from '../pipeline/messages.ts'
import { RepeatedCalls } from '../predict/repeated-calls.ts'
import { ACCOUNT_KEY_LENGTH, POSITION_BLOCK_END, makeVersion, storageKey, txVersion } from '../state/keys.ts'
import { decodeAccount, KECCAK256_NULL } from '../state/values.ts'
import { BlockView, type StateLoader } from '../state/view.ts'
import { PART_BYTES_MAX, Records, type PlanMeta } from '../store/records.ts'
import { StateTable } from '../store/state-table.ts'
import { silentLogger, type Logger } from '../log.ts'
import { bytesEqual } from '../hex.ts'

import type { InferenceService } from '../ai/inference.ts'
import type { ChainSpec } from '../exec/block-env.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import type { Queue, QueueMessage } from '../ports/queue.ts'

export interface WorkerDeps {
  kv: KeyValueStore
  shardQueue: Queue
  doneQueue: Queue
  log?: Logger
  /** Chains this worker may execute (a guard against a misrouted plan). */
  allowChain?: (chain: ChainSpec) => boolean
  /** The AI precompile's cache and `ai` batches of this worker's executor (default: the thread's, shared/ai/inference.ts). */
  inference?: InferenceService
  /**
   * This worker's number in its shards' timings (`worker`), so the coordinator can add up each
   * worker's shards (a block has several shards per worker). Default: a random one.
   */
  id?: number
  /**
   * Block-start state this worker holds itself (a replay's worker thread: the block's pre-state,
   * shared/replay/held-pre-state.ts): the loads of that block's shards are answered from it
   * instead of the store.
   */
  held?: () => { block: bigint; loader(table: StateTable): StateLoader } | undefined
}

export type ShardOutcome =
  | { kind: 'executed'; block: bigint; shard: number; txs: number; timings: Record<string, number> }
  | { kind: 'already-staged'; block: bigint; shard: number }
  | { kind: 'stale'; block: bigint; shard: number }
  | { kind: 'not-ready'; block: bigint; shard: number; head: bigint }

export function lookupFromHashes(hashes: Record<string, string>): BlockHashLookup {
  return (n) => {
    const hex = hashes[n.toString()]
    return hex === undefined ? undefined : fromHex(hex)
  }
}

/**
 * The mark of a worker's result that read the pending parent's hash: a read of the last slot of
 * the zero address (where no deployed code can run) with a value no state item has
 * (`UNSUPPLIED_VALUE`) at an in-block version. No settled view can match it, whatever the block
 * wrote: validation runs the transaction again, with the parent's real hash.
 */
export const PENDING_PARENT_HASH_KEY = storageKey('0'.repeat(40), 'f'.repeat(64))

function markPendingParentRead(exec: TxExecution, block: bigint): void {
  exec.access.reads.set(PENDING_PARENT_HASH_KEY, { value: UNSUPPLIED_VALUE, version: makeVersion(block, POSITION_BLOCK_END) })
}

/** Estimated staged size of one result, for splitting into parts. */
function stagedSize(t: StagedTx): number {
  let logs = 0
  for (const log of t.exec.logs) logs += 60 + (log[1] as Uint8Array[]).length * 33 + (log[2] as Uint8Array).length
  let codes = 0
  for (const code of t.exec.access.codes.values()) codes += code.length + 70
  return 400 + logs + codes + (t.exec.access.reads.size + t.exec.access.writes.size) * 100
}

export class ShardWorker {
  private readonly records: Records
  private readonly state: StateTable
  private readonly log: Logger
  private readonly executors: ExecutorCache

  constructor(private readonly deps: WorkerDeps) {
    this.records = new Records(deps.kv)
    this.state = new StateTable(deps.kv)
    this.log = deps.log ?? silentLogger
    this.executors = new ExecutorCache(deps.inference)
    this.id = deps.id ?? randomInt(2 ** 31)
  }

  private readonly id: number
  /**
   * The view of the last shard this worker executed and staged, for the next shard of the same
   * plan if that one starts later in the block. Taken (cleared) when a shard starts, and kept
   * again only when that shard is staged and reported: a failed shard leaves no half-written
   * view behind.
   */
  private carried: { planId: string; view: BlockView; next: number } | undefined

  /** The loader of a block's state: what this worker holds of it, else the store. */
  private loader(block: bigint): { loader: StateLoader; held: boolean } {
    const held = this.deps.held?.()
    if (held !== undefined && held.block === block) return { loader: held.loader(this.state), held: true }
    return { loader: { load: (keys) => this.state.load(keys), loadCode: (hashes) => this.state.loadCode(hashes) }, held: false }
  }

  private executorFor(chain: ChainSpec): Executor {
    return this.executors.for(chain)
  }

  /** Handle one shard message. Throws on errors that should make the message come back. */
  async handle(message: QueueMessage): Promise<ShardOutcome> {
    const parsed = shardMessageSchema.safeParse(parseJson(message.body))
    if (!parsed.success) throw new MalformedInputError(`malformed shard message: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
    return this.executeShard(parsed.data)
  }

  async executeShard(msg: ShardMessage): Promise<ShardOutcome> {
    const block = BigInt(msg.block)
    // The head, the plan and whether this shard is staged: one read.
    const { head, meta, staged } = await this.records.shardStart(block, msg.shard)
    const headNumber = head === undefined ? -1n : BigInt(head.number)
    if (headNumber >= block) return { kind: 'stale', block, shard: msg.shard }
    // A plan made on a pending parent runs while that parent seals (the embedded cluster serves
    // the parent's writes through its overlay, shared/cluster/pipeline.ts). Validation takes a
    // read of block-start state as read (it does not compare it with the table), so a worker
    // that runs such a plan must read through that overlay: only the embedded cluster plans on
    // a pending parent, and its workers do. Any other plan waits until its parent is the head.
    if (headNumber === block - 2n) {
      if (meta?.parentPending !== true) return { kind: 'not-ready', block, shard: msg.shard, head: headNumber }
    } else if (headNumber !== block - 1n) {
      return { kind: 'not-ready', block, shard: msg.shard, head: headNumber }
    }
    const stagedBefore = staged ? await this.records.stagedPartCount(block, msg.shard) : undefined
    if (stagedBefore !== undefined) {
      await this.reportDone(msg, stagedBefore, {})
      return { kind: 'already-staged', block, shard: msg.shard }
    }
    if (meta === undefined) throw new NotReadyError(`no plan stored for block ${block}`)
    if (this.deps.allowChain !== undefined && !this.deps.allowChain(meta.chain)) {
      throw new ConfigError(`block ${block} is for a chain this worker does not serve`)
    }
    const t0 = performance.now()
    const parts = await this.records.getShardPlanParts(meta, msg.shard)
    const txs: PlannedTx[] = parts.flatMap(decodePlannedTxs)
    const carried = this.carried
    this.carried = undefined
    const first = txs[0]?.index
    const earlier = carried !== undefined && carried.planId === meta.planId && first !== undefined && first >= carried.next ? carried.view : undefined
    const { loader, held } = this.loader(block)
    const { results, timings, view } = await executePlannedTxs(this.executorFor(meta.chain), meta, txs, loader, earlier)
    timings.carried = earlier === undefined ? 0 : 1
    timings.held = held ? 1 : 0
    timings.loadPlanMs = timings.loadPlanMs ?? 0
    const t1 = performance.now()
    const stagedParts = chunkBySize(results, stagedSize, PART_BYTES_MAX).map(encodeStagedTxs)
    const fresh = await this.records.stage(block, msg.shard, stagedParts)
    timings.stageMs = performance.now() - t1
    timings.totalMs = performance.now() - t0
    timings.worker = this.id
    await this.reportDone(msg, stagedParts.length, timings)
    if (txs.length > 0) this.carried = { planId: meta.planId, view, next: txs[txs.length - 1]!.index + 1 }
    if (!fresh) return { kind: 'already-staged', block, shard: msg.shard }
    this.log.debug('shard executed', { block: msg.block, shard: msg.shard, txs: txs.length })
    return { kind: 'executed', block, shard: msg.shard, txs: txs.length, timings }
  }

  private async reportDone(msg: ShardMessage, parts: number, timings: Record<string, number>): Promise<void> {
    const done: DoneMessage = { v: 1, kind: 'done', block: msg.block, shard: msg.shard, parts, timings }
    doneMessageSchema.parse(done)
    await this.deps.doneQueue.send([{ body: JSON.stringify(done), groupId: msg.block, dedupId: `${msg.block}-${msg.shard}` }])
  }
}

/**
 * Execute a shard's transactions in order on a fresh view of block-start state, or on `earlier`:
 * the view of shards of the same plan that come before these in the block (its writes are the
 * block-start state plus theirs). Shared by workers and by tests that need a shard's results
 * without queues.
 */
export async function executePlannedTxs(
  executor: Executor,
  meta: PlanMeta,
  txs: readonly PlannedTx[],
  loader: StateLoader,
  earlier?: BlockView,
): Promise<{ results: StagedTx[]; timings: Record<string, number>; view: BlockView }> {
  const block = BigInt(meta.block)
  const t0 = performance.now()
  const view = earlier ?? new BlockView(block, loader)
  const statsBefore = { ...view.stats }
  const predicted = new Set<string>([meta.env.coinbase.slice(2).toLowerCase()])
  for (const tx of txs) {
    for (const key of tx.reads) predicted.add(key)
    for (const key of tx.writes) predicted.add(key)
  }
  await view.prefetch(predicted)
  // Code of the contracts among the prefetched accounts, in one more batch.
  const codeHashes: string[] = []
  for (const key of predicted) {
    if (key.length !== ACCOUNT_KEY_LENGTH) continue
    const account = decodeAccount(view.getLoadedBase(key)?.value ?? null)
    if (account !== undefined && !bytesEqual(account.codeHash, KECCAK256_NULL)) codeHashes.push(toHex(account.codeHash))
  }
  await view.prefetchCode(codeHashes)
  const t1 = performance.now()
  // A plan made while its parent sealed does not know the parent's hash: a transaction that asks
  // BLOCKHASH for it runs with zero and is marked for the coordinator to run again.
  const known = lookupFromHashes(meta.blockHashes)
  let askedPendingParent = false
  const lookup: BlockHashLookup =
    meta.parentPending === true
      ? (n) => {
          if (n !== block - 1n) return known(n)
          askedPendingParent = true
          return new Uint8Array(32)
        }
      : known
  await executor.beginBlock(meta.env, view, lookup)
  const common = executor.txCommonForEnv(meta.env)
  const coinbase = meta.env.coinbase.slice(2).toLowerCase()
  const results: StagedTx[] = []
  const decoded = txs.map((planned) => runnableTx(planned.raw, common, planned.sender, planned.senderPubKey))
  // AI precompile calls predictable from calldata: one batch per model (shared/ai/inference.ts).
  await executor.prepareInference(decoded)
  const repeated = new RepeatedCalls(decoded, (k) => txs[k]!.sender)
  let learnedKeys = 0
  for (let k = 0; k < txs.length; k++) {
    const planned = txs[k]!
    const missesBefore = view.stats.missLoads
    const exec = await executor.execute(decoded[k]!)
    // A call that missed keys and whose (contract, selector) comes again later in the shard:
    // what it teaches predicts the later calls' keys, loaded now in one batch.
    if (exec.valid && view.stats.missLoads > missesBefore) {
      const keys = repeated.keysAfter(k, exec.access, exec.gasUsed, coinbase)
      if (keys.length > 0) {
        const before = view.stats.prefetched
        await view.prefetch(keys)
        learnedKeys += view.stats.prefetched - before
      }
    }
    if (askedPendingParent) {
      markPendingParentRead(exec, block)
      askedPendingParent = false
    }
    const version = txVersion(block, planned.index)
    if (exec.valid) {
      view.applyWrites(exec.access.writes, version)
      view.addCodes(exec.access.codes)
      await view.credit(coinbase, exec.access.feeDelta, version)
    }
    results.push({ index: planned.index, exec })
  }
  const t2 = performance.now()
  return {
    results,
    timings: { prefetchMs: t1 - t0, executeMs: t2 - t1, prefetchedKeys: view.stats.prefetched - statsBefore.prefetched, missLoads: view.stats.missLoads - statsBefore.missLoads, missMs: view.stats.missMs - statsBefore.missMs, learnedKeys },
    view,
  }
}
