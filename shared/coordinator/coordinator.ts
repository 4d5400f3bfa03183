/**
 * The coordinator seals a block once every shard is staged:
 *
 *   load -> settle -> root -> assemble -> journal -> apply -> seal
 *
 * load (./load.ts): each shard's plan and staged results, by block position; settle
 * (./settle.ts): validation in block order over a running view, re-execution of stale reads,
 * rejections at their position, fees, system operations; root: the block's net writes into
 * the state trie (kept warm between blocks; each settled prefix's writes are staged in it while
 * later shards execute, and the journal's body is stored while the rest is hashed); assemble
 * (./assemble.ts): the header, the head record, the block report (the transactions and
 * receipts roots are built as positions settle); journal: the decision stored before any of it
 * is applied; apply: version-conditioned state writes; seal: a conditional put, so that a second
 * seal of the same number is refused.
 *
 * Load and settle start before the last shard is done: each done message takes its shard in
 * and settles the prefix of positions whose plan and result are in, so that when the last
 * shard arrives only its load and the rest of the settlement remain. That early work is a
 * cache of one block in this process, never a decision: it is dropped on any failure or
 * change (another plan, another head), and the seal journal decides as before.
 */
import { InvariantError, MalformedInputError, NotReadyError } from '../errors.ts'
import { ExecutorCache } from '../exec/executor-cache.ts'
import { fromHex, to0x } from '../hex.ts'
import { chunkBySize } from '../pipeline/codec.ts'
import { doneMessageSchema, parseJson } from '../pipeline/messages.ts'
import { Records, PART_BYTES_MAX, type HeadRecord, type PlanMeta } from '../store/records.ts'
import { getSealJournal, putSealJournal, putSealJournalBody, type JournalBody, type SealJournal } from '../store/seal-journal.ts'
import { StateTable } from '../store/state-table.ts'
import { pendingHead } from '../store/head.ts'
import { silentLogger, type Logger } from '../log.ts'
import { defaultGpuContext } from '../gpu/defaults.ts'
import { nextTurn, realClock, type Clock } from '../ports/clock.ts'
import { assembleBlock, stateWrites, type SealedBlock } from './assemble.ts'
import { learnTemplates } from './learn.ts'
import { BlockInputs, fetchShard, type FetchedShard } from './load.ts'
import { Settlement } from './settle.ts'

import type { KeyValueStore } from '../ports/kv-store.ts'
import type { QueueMessage } from '../ports/queue.ts'
import type { TemplateRegistry } from '../predict/templates.ts'
import type { GpuContext } from '../gpu/context.ts'
import type { InferenceService } from '../ai/inference.ts'
import type { StateLoader } from '../state/view.ts'
import type { StateRootTrie } from '../trie/state-root-trie.ts'
import type { StateKey } from '../state/keys.ts'
import type { VersionedValue } from '../state/values.ts'

export type { BlockReport, SealedBlock } from './assemble.ts'
export type { PredictionReport } from './settle.ts'

export interface CoordinatorDeps {
  kv: KeyValueStore
  templates: TemplateRegistry
  /** The state trie, kept warm between blocks (its root is the head's state root): one thread's, or parallel over trie threads. */
  trie: StateRootTrie
  log?: Logger
  /** Time for the records' timestamps (default: the real clock). */
  clock?: Clock
  /** GPU context of the state root's `keccak` stage (default: the thread's, shared/gpu/defaults.ts). */
  gpu?: GpuContext
  /** The AI precompile's cache and batching for re-execution (default: the thread's). */
  inference?: InferenceService
  /**
   * Called once a block is settled, before its root, journal, apply and seal: what the next
   * block may be planned and executed on while this one seals (shared/cluster/pipeline.ts). Not
   * called when a journaled seal is finished.
   */
  onSettled?: (settled: SettledOutcome) => void
}

/** A settled block's outcome, before it is sealed: its state changes and the head it makes, hash and root pending. */
export interface SettledOutcome {
  block: bigint
  head: HeadRecord
  /** Net state writes with their new versions (a null value deletes). */
  writes: ReadonlyMap<StateKey, VersionedValue>
  /** New contract code by hash (hex). */
  codes: ReadonlyMap<string, Uint8Array>
}

/** `afterParent`: every shard is done, but the block was planned on a pending parent that is not sealed yet: seal it after the parent (`sealIfComplete`). */
export type DoneOutcome = { kind: 'waiting'; block: bigint; done: number; of: number; afterParent?: true } | { kind: 'sealed'; sealed: SealedBlock } | { kind: 'already-sealed'; block: bigint }

type DoneShards = Map<number, { parts: number; timings: Record<string, number> }>

/** A block being loaded and settled ahead of its seal (one per coordinator). */
interface Pending {
  block: bigint
  planId: string
  inputs: BlockInputs
  settlement: Settlement
  /** The in-block write entries staged in the state trie so far (by identity: a later write replaces the entry). */
  staged: Map<StateKey, VersionedValue>
  /** Time spent loading, settling and staging state-trie writes before the seal (off the critical path). */
  earlyLoadMs: number
  earlySettleMs: number
  earlyStateRootMs: number
}

export class Coordinator {
  private readonly records: Records
  private readonly state: StateTable
  private readonly log: Logger
  private readonly clock: Clock
  private readonly gpu: GpuContext
  private readonly executors: ExecutorCache
  private pending: Pending | undefined

  constructor(private readonly deps: CoordinatorDeps) {
    this.records = new Records(deps.kv)
    this.state = new StateTable(deps.kv)
    this.log = deps.log ?? silentLogger
    this.clock = deps.clock ?? realClock
    this.gpu = deps.gpu ?? defaultGpuContext()
    this.executors = new ExecutorCache(deps.inference)
  }

  private loader(): StateLoader {
    return { load: (keys) => this.state.load(keys), loadCode: (hashes) => this.state.loadCode(hashes) }
  }

  /** A shard-done message: record progress; seal when every shard of the block is done. */
  async handleDone(message: QueueMessage): Promise<DoneOutcome> {
    const parsed = doneMessageSchema.safeParse(parseJson(message.body))
    if (!parsed.success) throw new MalformedInputError(`malformed done message: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
    const msg = parsed.data
    const block = BigInt(msg.block)
    if ((await this.records.getBlock(block)) !== undefined) return { kind: 'already-sealed', block }
    await this.records.markShardDone(block, msg.shard, msg.parts, msg.timings ?? {})
    const meta = await this.records.getPlanMeta(block)
    if (meta === undefined) throw new NotReadyError(`shard done for block ${block}, but no plan is stored`)
    const done = await this.records.doneShards(block)
    if (done.size === meta.shardParts.length && meta.parentPending === true) {
      // Planned while its parent sealed: sealed after it (`sealIfComplete`), not before.
      const head = await this.records.getHead()
      if (head !== undefined && BigInt(head.number) === block - 2n) return { kind: 'waiting', block, done: done.size, of: meta.shardParts.length, afterParent: true }
    }
    if (done.size < meta.shardParts.length) {
      await this.settleAhead(meta, done)
      return { kind: 'waiting', block, done: done.size, of: meta.shardParts.length }
    }
    const sealed = await this.seal(block)
    return sealed === undefined ? { kind: 'already-sealed', block } : { kind: 'sealed', sealed }
  }

  /**
   * Seal block `number` if every shard of its plan is done (a block planned while its parent
   * sealed, whose last shard came in before the parent's seal); undefined otherwise.
   */
  async sealIfComplete(number: bigint): Promise<SealedBlock | undefined> {
    const meta = await this.records.getPlanMeta(number)
    if (meta === undefined || (await this.records.getBlock(number)) !== undefined) return undefined
    const done = await this.records.doneShards(number)
    return done.size === meta.shardParts.length ? this.seal(number) : undefined
  }

  /**
   * Seal block `number` from its plan and staged results. Undefined if it is sealed already.
   * The decision (header, receipts, net writes) is journaled before any of it is applied, so a
   * coordinator that dies mid-apply is finished by the next attempt, never re-derived from
   * state that already holds the block.
   */
  async seal(number: bigint): Promise<SealedBlock | undefined> {
    if ((await this.records.getBlock(number)) !== undefined) return undefined
    const head = await this.records.getHead()
    if (head === undefined || BigInt(head.number) !== number - 1n) {
      throw new NotReadyError(`cannot seal block ${number}: the head is ${head?.number ?? 'missing'}`)
    }
    const planned = await this.records.getPlanMeta(number)
    if (planned === undefined) throw new NotReadyError(`cannot seal block ${number}: no plan`)
    const meta = resolvePendingParent(planned, head)
    let journal = await getSealJournal(this.deps.kv, number)
    let learning: (() => void) | undefined
    if (journal === undefined) {
      const decided = await this.decide(head, meta)
      const t = performance.now()
      if (await putSealJournal(this.deps.kv, decided.journal, decided.body)) {
        journal = decided.journal
        journal.report.timings.journalMs = performance.now() - t
        learning = decided.learn
      } else {
        journal = (await getSealJournal(this.deps.kv, number))!
      }
    } else {
      this.pending = undefined
      // A previous attempt decided this block: bring the trie to its root (idempotent from the
      // parent root, so from the parent: anything staged is discarded first), then finish the
      // apply and the seal.
      await this.deps.trie.discardStaged()
      const { root } = await this.deps.trie.applyBlock(fromHex(head.stateRoot), journal.writes.map((w) => [w.key, w.value] as const), { gpu: this.gpu })
      if (to0x(root) !== journal.head.stateRoot) {
        throw new InvariantError(`block ${number}: the journaled state root ${journal.head.stateRoot} is not the trie's ${to0x(root)}`)
      }
      this.log.warn('finishing a journaled seal', { block: number.toString() })
    }
    const sealed = await this.finish(journal, meta)
    learning?.()
    return sealed
  }

  /**
   * Before the last shard: take in the done shards and settle what they allow. Best effort -
   * a failure here only drops the early work (the seal starts over and meets the error again
   * if it is the block's).
   */
  private async settleAhead(meta: PlanMeta, done: DoneShards): Promise<void> {
    const block = BigInt(meta.block)
    try {
      // Block-start state is in the state table only once the parent is the head.
      const head = await this.records.getHead()
      if (head === undefined || BigInt(head.number) !== block - 1n) return
      const pending = await this.pendingFor(resolvePendingParent(meta, head))
      const t0 = performance.now()
      const fetched: FetchedShard[] = []
      for (const [shard, { parts }] of done) {
        if (!pending.inputs.has(shard, parts)) fetched.push(await fetchShard(this.records, meta, shard, parts))
      }
      for (const f of fetched) await pending.inputs.take(f)
      const t1 = performance.now()
      await pending.settlement.advance(pending.inputs)
      const t2 = performance.now()
      // The settled prefix's writes into the state trie now, hashed while later shards execute.
      if (this.deps.trie.canStage) await this.deps.trie.stage(unstagedWrites(pending.settlement.inBlockWrites(), pending.staged))
      pending.earlyLoadMs += t1 - t0
      pending.earlySettleMs += t2 - t1
      pending.earlyStateRootMs += performance.now() - t2
    } catch (error) {
      // A fresh settlement (`pendingFor`) or a journaled seal discards what was staged.
      this.pending = undefined
      this.log.warn('settling ahead of the seal failed; the seal starts over', { block: block.toString(), error })
    }
  }

  /**
   * The early work for this plan, or a fresh one (dropping any other). A fresh settlement starts
   * with the state trie at the parent: whatever was staged before (by a settlement dropped here
   * or by a coordinator before this one on the same trie) is discarded.
   */
  private async pendingFor(meta: PlanMeta): Promise<Pending> {
    const block = BigInt(meta.block)
    const p = this.pending
    if (p !== undefined && p.block === block && p.planId === meta.planId) return p
    this.pending = undefined
    await this.deps.trie.discardStaged()
    const settlement = await Settlement.begin({ meta, executor: this.executors.for(meta.chain), loader: this.loader(), clock: this.clock })
    const fresh: Pending = { block, planId: meta.planId, inputs: new BlockInputs(meta), settlement, staged: new Map(), earlyLoadMs: 0, earlySettleMs: 0, earlyStateRootMs: 0 }
    this.pending = fresh
    return fresh
  }

  /**
   * Everything about the block, computed without applying any of it: only the seal journal's
   * body (writes, code, transactions, receipts) is stored, under an attempt no one reads until
   * `putSealJournal` commits it.
   */
  private async decide(head: HeadRecord, meta: PlanMeta): Promise<{ journal: SealJournal; body: JournalBody; learn: () => void }> {
    const number = BigInt(meta.block)
    const t0 = performance.now()
    const done = await this.records.doneShards(number)
    for (let shard = 0; shard < meta.shardParts.length; shard++) {
      if (!done.has(shard)) throw new NotReadyError(`cannot seal block ${number}: shard ${shard} is not done`)
    }
    let loadMs = performance.now() - t0
    // The early work is taken (and so dropped from this coordinator whatever happens next).
    const tBegin = performance.now()
    const pending = await this.pendingFor(meta)
    this.pending = undefined
    const { inputs, settlement } = pending
    let settleMs = performance.now() - tBegin

    // Load the shards not taken in yet, all at once; settle as each one comes in.
    const fetches: Promise<FetchedShard>[] = []
    for (const [shard, { parts }] of done) {
      if (!inputs.has(shard, parts)) fetches.push(fetchShard(this.records, meta, shard, parts))
    }
    // Each fetch is awaited in turn below; one that fails while an earlier one is awaited (or
    // after an earlier failure ended the seal) must not become an unhandled rejection.
    for (const fetch of fetches) fetch.catch(() => {})
    for (const fetch of fetches) {
      const t = performance.now()
      await inputs.take(await fetch)
      const tLoaded = performance.now()
      await settlement.advance(inputs)
      loadMs += tLoaded - t
      settleMs += performance.now() - tLoaded
    }
    const tSettle = performance.now()
    inputs.assertComplete()
    await settlement.advance(inputs)
    const settled = await settlement.end()
    const tRoot = performance.now()
    settleMs += tRoot - tSettle

    // Root. The writes staged while earlier shards settled are in the trie: the rest, and those
    // changed since. The settlement has ended, so its view's writes are final (not copied).
    const netWrites = settled.view.inBlockWrites()
    const rooting = this.deps.trie.applyBlock(fromHex(head.stateRoot), unstagedWrites(netWrites, pending.staged), { gpu: this.gpu })
    rooting.catch(() => {})
    // A turn of the event loop first: the trie's request goes out (its threads start hashing)
    // before the journal body below holds this thread (measured: otherwise after it, ~70 ms on
    // a 10,000-transaction block).
    await nextTurn()
    // While the trie (threads) hash: the next block may be planned on this one's outcome, and
    // the journal's parts that do not depend on the header are stored.
    this.deps.onSettled?.({ block: number, head: pendingHead(head, meta.env, settled.gasUsed, settled.blobGasUsed), writes: netWrites, codes: settled.codes })
    const tBody = performance.now()
    const writes = await stateWrites(netWrites, settled, (keys) => this.state.load(keys))
    const body = await putSealJournalBody(this.deps.kv, number, { writes, codes: [...settled.codes], raws: settled.raws, receiptJson: settled.receiptJson, made: settled.bodyParts })
    const journalBodyMs = performance.now() - tBody
    const { root: stateRoot } = await rooting
    const tAssemble = performance.now()

    // Assemble.
    const journal = assembleBlock({
      parent: head,
      meta,
      settled,
      stateRoot,
      writes,
      timings: {
        loadMs,
        validateMs: settleMs,
        // The root's wall time, the journal body stored meanwhile (journalBodyMs) included.
        stateRootMs: tAssemble - tRoot,
        journalBodyMs,
        earlyLoadMs: pending.earlyLoadMs,
        earlyValidateMs: pending.earlySettleMs,
        earlyStateRootMs: pending.earlyStateRootMs,
      },
      workerTimings: [...done.values()].map((d) => d.timings),
      sealedAtMs: this.clock.now(),
    })
    journal.report.timings.assembleMs = performance.now() - tAssemble
    return { journal, body, learn: () => learnTemplates(this.deps.templates, settled.mispredicted, meta.env.coinbase) }
  }

  /** Apply the journaled decision and seal: every step is idempotent. */
  private async finish(journal: SealJournal, meta: PlanMeta): Promise<SealedBlock | undefined> {
    const number = BigInt(journal.record.number)
    const t0 = performance.now()
    // State, receipts and rejections before the seal (once the head moves they must be there),
    // written side by side: each is idempotent, and none is visible as the block until the seal.
    const writingRecords = (async () => {
      await this.records.putReceipts(journal.receipts, journal.receiptJson)
      for (const rejection of journal.rejections) await this.records.putRejection(rejection)
    })()
    writingRecords.catch(() => {})
    await this.state.putCode(journal.codes)
    const applyStats = await this.state.apply(journal.writes)
    const tApply = performance.now()
    await writingRecords
    const rawParts = chunkBySize(journal.raws, (r) => r.length + 4, PART_BYTES_MAX)
    const sealedNow = await this.records.seal(journal.record, journal.head, rawParts)
    if (!sealedNow) {
      const other = await this.records.getBlock(number)
      if (other?.hash !== journal.record.hash) throw new InvariantError(`block ${number} was sealed by another coordinator with a different hash (${other?.hash} vs ${journal.record.hash})`)
      return undefined
    }
    const report = journal.report
    report.timings.applyMs = tApply - t0
    report.timings.applyTransactions = applyStats.transactions
    report.timings.sealMs = performance.now() - tApply
    await this.records.dropBlockWork(number, meta)
    this.log.info('block sealed', { block: number.toString(), hash: journal.record.hash, txs: report.txs, reexecuted: report.reexecuted })
    return { record: journal.record, head: journal.head, env: journal.env, raws: journal.raws, receipts: journal.receipts, rejections: journal.rejections, report }
  }
}

/**
 * A plan made while its parent was settled but not sealed (`PlanMeta.parentPending`) takes the
 * parent's hash from the sealed parent: the env's parent hash (the header's, EIP-2935's history
 * write) and the recent hashes that answer BLOCKHASH. A plan on a sealed parent is returned as is.
 */
export function resolvePendingParent(meta: PlanMeta, head: HeadRecord): PlanMeta {
  if (meta.parentPending !== true) return meta
  if (BigInt(head.number) !== BigInt(meta.block) - 1n || head.pending === true) {
    throw new InvariantError(`block ${meta.block} was planned on a pending parent, resolved against head ${head.number}`)
  }
  return { ...meta, env: { ...meta.env, parentHash: head.hash }, blockHashes: head.recentHashes }
}

/**
 * The in-block writes not staged in the state trie yet, or changed since (an entry is replaced
 * on every write, so identity says it), recorded in `staged` as they are returned. Slots a wipe
 * removed from the writes stay behind in `staged`: the wipe's own entry is new, and the trie
 * drops the account's storage when it takes it.
 */
export function unstagedWrites(writes: ReadonlyMap<StateKey, VersionedValue>, staged: Map<StateKey, VersionedValue>): [StateKey, VersionedValue['value']][] {
  const out: [StateKey, VersionedValue['value']][] = []
  for (const [key, entry] of writes) {
    if (staged.get(key) === entry) continue
    staged.set(key, entry)
    out.push([key, entry.value])
  }
  return out
}
