/**
 * The sequencer: takes up to a block's worth of transactions from the ingress queue, rejects
 * what fails the stateless checks (with a reason), fixes the block's order (arrival order, each
 * sender's transactions in nonce order from the sealed nonce, a nonce gap held a bounded time),
 * predicts access sets, partitions the block into shards, stores the plan and sends one message
 * per shard. Whatever needs state (nonce, funds, fee cap, a sender with code) is judged by
 * execution at the transaction's position, as serial execution judges it.
 *
 * Ingress messages are deleted only after the plan that holds their transactions (or their
 * rejection records) is stored, so a crash loses nothing; a redelivered message is recognised
 * by its transactions' records (receipt or rejection) and dropped.
 */
import { randomUUID } from 'node:crypto'

import { ConfigError, InvariantError, ParevmError } from '../errors.ts'
import { commonFor, sharedTxCommon } from '../exec/common-for.ts'
import { type DecodedTx } from '../intake/decode.ts'
import { judgeDecodedBody } from '../intake/decoded-message.ts'
import { judgeIngressBody, type MessageJudgement } from '../intake/ingress.ts'
import { nextBlockEnv } from '../chain/next-block.ts'
import { CHUNKING, chunkCount, gasMostlyGuessed, partitionBlock, type Partition } from '../partition/partition.ts'
import { predictAccess, type Prediction } from '../predict/predictor.ts'
import { Speculator } from '../predict/speculate.ts'
import { defaultDependencyPlanner, type DependencyPlanner } from '../schedule/planner.ts'
import { chunkBySize, encodePlannedTxs, plannedTxOf, plannedTxSize, type PlannedTx } from '../pipeline/codec.ts'
import { type ShardMessage } from '../pipeline/messages.ts'
import { decodeAccount } from '../state/values.ts'
import { PART_BYTES_MAX, Records, type HeadRecord, type PlanMeta, type PlanStats } from '../store/records.ts'
import { StateTable } from '../store/state-table.ts'
import { nextTurn, realClock, type Clock } from '../ports/clock.ts'
import { QUEUE_LIMITS } from '../ports/queue.ts'
import { silentLogger, type Logger } from '../log.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { to0x, toHex } from '../hex.ts'

import type { Rejection } from '../intake/rejection.ts'
import type { IntakeRunner, IntakeSpec } from '../intake/pool.ts'
import type { TxView } from '../intake/tx-view.ts'
import type { StateLoader } from '../state/view.ts'
import type { Common } from '@ethereumjs/common'
import type { BlockEnv, ChainSpec } from '../exec/block-env.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import type { Queue, QueueMessage } from '../ports/queue.ts'
import { learnCodeHashes, type TemplateRegistry } from '../predict/templates.ts'

export interface SequencerConfig {
  chain: ChainSpec
  /**
   * Lanes: shards that run side by side (the workers). A large block is cut into up to
   * `chunksPerLane` times as many contiguous shards (shared/partition/partition.ts).
   */
  shardCount: number
  /** Contiguous shards per lane for large blocks (default CHUNKING.perLane; 1: exactly `shardCount`). */
  chunksPerLane?: number
  /** Most transactions per block. */
  blockSizeMax: number
  /** Seconds between block timestamps. */
  blockTimeSec: number
  /** The block beneficiary, 0x-hex. */
  coinbase: string
  /** Long-poll wait for the first transactions of a block. */
  intakeWaitMs: number
  /** Bound on receive calls per block. */
  receiveRoundsMax: number
  /**
   * How long a transaction whose nonce is ahead of its sender's waits for the gap to fill (a
   * standard queue may deliver one sender's transactions out of order) before it is rejected
   * as a nonce gap. Default 1,000 ms.
   */
  nonceGapHoldMs?: number
}

export interface SequencerDeps {
  kv: KeyValueStore
  ingress: Queue
  shardQueue: Queue
  templates: TemplateRegistry
  config: SequencerConfig
  clock?: Clock
  log?: Logger
  /**
   * Intake threads (shared/intake/pool.ts): message bodies are judged there in batches while
   * this thread receives. Without one, intake decodes inline (tests, the simulator).
   */
  intake?: IntakeRunner
  /**
   * What the `ingress` queue holds: raw ingress messages (default), or `decoded` messages from
   * the ingress function (functions/ingress.ts), already decoded, recovered and checked; their
   * rejections were recorded there. Never point `decoded` at a queue others may send to.
   */
  source?: 'ingress' | 'decoded'
  /** The dependency stage before partitioning (default: the thread's, shared/schedule/planner.ts). */
  planner?: DependencyPlanner
}

export interface PlanResult {
  block: bigint
  txCount: number
  shards: number
  rejected: Rejection[]
  duplicates: number
  carried: number
  stats: PlanStats
}

interface Delivery {
  message: QueueMessage
  /** Transactions of this message not yet planned, rejected or dropped. */
  open: number
}

interface Pending {
  decoded: DecodedTx
  /**
   * Every delivery that brought this transaction and is not yet settled by it: a message that
   * comes back while its transaction is carried must not be deleted through its new delivery
   * (the older receipt handle is stale then), or a later failed attempt that drops the carry
   * leaves nothing to bring the transaction back (found by the simulator, seed 5659).
   */
  deliveries: Delivery[]
  /** When intake first saw it (for the nonce-gap hold). */
  firstSeenMs: number
}

/** Most transactions held for a later block (nonce gaps, full blocks), in block sizes. */
const CARRY_BLOCKS_MAX = 10

/** Messages received before they go to the intake threads as one batch. */
const BATCH_MESSAGES = 64

/**
 * Receive calls in flight at once while a block fills. On SQS each call is a round trip (about
 * 20 ms) for at most 10 messages; one after another, they bounded intake at 500 messages a
 * second (the scale model, bench/model.ts).
 */
export const RECEIVE_CALLS_IN_FLIGHT = 8

/** DeleteMessageBatch calls in flight at once when acknowledging (10 messages each). */
export const DELETE_CALLS_IN_FLIGHT = 8

/** Receive rounds used so far in one intake, and whether the queue answered empty. */
interface ReceiveState {
  round: number
  drained: boolean
}

/** A rejection at intake, with the message it came in (undefined for none). */
interface IntakeRejection {
  rejection: Rejection
  delivery: Delivery | undefined
}

/** Transactions taken in for a block, with the messages they came in and what was rejected. */
interface IntakeBatch {
  pending: Pending[]
  deliveries: Delivery[]
  rejected: IntakeRejection[]
  duplicates: number
  seen: Set<string>
  /** The pending transactions by hash (a later delivery of one joins its `deliveries`). */
  pendingByHash: Map<string, Pending>
  intakeMs: number
  /** Per intake thread, its work for this batch while the sequencer waited (not ahead of time). */
  intakeThreadMs: number[]
}

/** A plan for this block was stored by another sequencer first (run one sequencer at a time). */
export class ConflictingPlanError extends ParevmError {
  /** Planning again from the current head may succeed. */
  override readonly retryable = true
  constructor(block: string) {
    super(`block ${block} was planned by another sequencer first, or the head moved past its parent while this sequencer planned it`, {
      hint: 'run one sequencer at a time (reserved concurrency 1); this one stores nothing, acknowledges nothing and plans again from the current head',
    })
    this.name = 'ConflictingPlanError'
  }
}

export function validateSequencerConfig(config: SequencerConfig): void {
  const problems: string[] = []
  if (!Number.isInteger(config.shardCount) || config.shardCount < 1 || config.shardCount > 4096) problems.push(`shardCount must be 1..4096 (got ${config.shardCount})`)
  if (!Number.isInteger(config.blockSizeMax) || config.blockSizeMax < 1 || config.blockSizeMax > 100_000) problems.push(`blockSizeMax must be 1..100000 (got ${config.blockSizeMax})`)
  if (!/^0x[0-9a-fA-F]{40}$/.test(config.coinbase)) problems.push(`coinbase must be a 0x-prefixed address (got ${config.coinbase})`)
  if (config.receiveRoundsMax < 1) problems.push('receiveRoundsMax must be at least 1')
  if (problems.length > 0) throw new ConfigError(`invalid sequencer configuration: ${problems.join('; ')}`)
}

export class Sequencer {
  private readonly records: Records
  private readonly state: StateTable
  private readonly clock: Clock
  private readonly log: Logger
  private carry: Pending[] = []
  private prefetched: IntakeBatch | undefined
  /** The last block this sequencer planned and its transactions' hashes (a pending parent's duplicates are dropped by them). */
  private lastPlanned: { block: bigint; hashes: Set<string> } | undefined
  /** Messages judged by batched intake and the inputs they held (the estimate of a message's size). */
  private judgedMessages = 0
  private judgedInputs = 0
  /** Pre-executes calls no template covers, before prediction (shared/predict/speculate.ts). */
  private readonly speculator = new Speculator()
  /**
   * Predictions made at intake, while the intake threads judged later messages (by transaction
   * hash, with the templates' version they were made at): planning takes one whose version is
   * still the templates' and predicts the rest. Advice like every prediction.
   */
  private readonly predictedAhead = new Map<string, { version: number; prediction: Prediction }>()
  /**
   * Sealed nonces of the senders admitted so far, loaded while the intake threads judged later
   * messages; only while planning on a sealed head (the state table is that head's until this
   * plan is sealed). Planning loads the senders not among them.
   */
  private noncesAhead: { senders: Set<string>; loads: Promise<Map<string, bigint> | undefined>[] } | undefined

  constructor(private readonly deps: SequencerDeps) {
    validateSequencerConfig(deps.config)
    this.records = new Records(deps.kv)
    this.state = new StateTable(deps.kv)
    this.clock = deps.clock ?? realClock
    this.log = deps.log ?? silentLogger
  }

  /** Transactions held for a later block (block gas or size full). */
  get carried(): number {
    return this.carry.length
  }

  /**
   * Plan the block after the head. Returns undefined when there is nothing to plan. If a plan
   * for that block exists already (a crash after storing it), its shard messages are re-sent.
   */
  async planNext(parent?: HeadRecord): Promise<PlanResult | undefined> {
    try {
      return await this.plan(parent)
    } catch (error) {
      // What this planning had taken in (held transactions, the next block's intake, the
      // messages they came in) is dropped, as a restarted sequencer would: their messages come
      // back after their visibility timeout. Keeping it would let a later block acknowledge a
      // message whose rejections this failed attempt never recorded (found by the simulator).
      this.carry = []
      this.prefetched = undefined
      throw error
    }
  }

  private async plan(parent?: HeadRecord): Promise<PlanResult | undefined> {
    const { config } = this.deps
    const head = parent ?? (await this.records.getHead())
    if (head === undefined) throw new ConfigError('the store has no chain head: initialise it with a genesis first')
    // A pending parent's transactions have no receipts yet: its planned hashes stand for them.
    const unsealed = head.pending === true ? this.lastPlanned : undefined
    if (head.pending === true && unsealed?.block !== BigInt(head.number)) {
      throw new InvariantError(`planning on pending block ${head.number}, but the last block this sequencer planned is ${unsealed?.block ?? 'none'}`)
    }
    const number = BigInt(head.number) + 1n
    const existing = await this.records.getPlanMeta(number)
    if (existing !== undefined) {
      await this.dispatch(existing)
      return { block: number, txCount: existing.txCount, shards: existing.shardParts.length, rejected: [], duplicates: 0, carried: this.carry.length, stats: existing.stats }
    }
    const common = commonFor(config.chain, number, BigInt(head.timestamp) + BigInt(config.blockTimeSec))
    const env = nextBlockEnv(head, common, { coinbase: config.coinbase, blockTimeSec: config.blockTimeSec })
    const gasLimit = BigInt(env.gasLimit)

    // 1. Intake: what was taken in ahead (while the previous block executed), topped up.
    const batch = this.prefetched ?? this.startBatch()
    this.prefetched = undefined
    if (head.pending !== true) this.noncesAhead = { senders: new Set(), loads: [] }
    try {
      await this.intake(batch, common, { chain: config.chain, number, timestamp: BigInt(head.timestamp) + BigInt(config.blockTimeSec), blockGasLimit: gasLimit }, false)
    } catch (error) {
      this.noncesAhead = undefined
      throw error
    }
    const { deliveries } = batch
    let duplicates = batch.duplicates
    const intakeMs = batch.intakeMs

    // 2. Order. State-dependent validity (nonce, funds, fee cap, a sender with code) is judged
    // by execution, at the transaction's place in the block, exactly as serial execution judges
    // it: a transaction refused there consumes nothing, and the sender's later ones are judged
    // against what really happened. The sequencer only drops what it has seen before, orders
    // each sender's transactions by nonce from the sealed nonce, and holds nonce gaps a while.
    const sealedNonce = await this.sealedNonces([...new Set(batch.pending.map((p) => p.decoded.senderHex))])
    duplicates += await this.dropSeen(batch, unsealed?.hashes)
    const rejected = batch.rejected.map((r) => r.rejection)
    const nextNonce = new Map(sealedNonce)
    const ordered = orderByNonce(batch.pending)
    const included: Pending[] = []
    const deferredSenders = new Set<string>()
    let gasBudget = 0n
    for (const p of ordered) {
      const { tx, senderHex } = p.decoded
      if (deferredSenders.has(senderHex)) {
        this.carry.push(p)
        continue
      }
      const next = nextNonce.get(senderHex)!
      if (tx.nonce > next) {
        const heldMs = this.clock.now() - p.firstSeenMs
        if (heldMs < (config.nonceGapHoldMs ?? 1000) && this.carry.length < CARRY_BLOCKS_MAX * config.blockSizeMax) {
          // The missing nonce may still be on its way: hold this one (and the sender's later ones).
          deferredSenders.add(senderHex)
          this.carry.push(p)
          continue
        }
        // The hold is over: execution rejects it as a nonce gap (or for what it meets first).
      }
      // Block budget: the sum of gas limits never passes the block's, so no transaction can
      // fail for want of block gas; what does not fit waits for the next block.
      if (included.length >= config.blockSizeMax || gasBudget + tx.gasLimit > gasLimit) {
        deferredSenders.add(senderHex)
        this.carry.push(p)
        continue
      }
      gasBudget += tx.gasLimit
      if (tx.nonce === next) nextNonce.set(senderHex, next + 1n)
      included.push(p)
    }

    // 3. Predict and partition; first, a few calls no template covers run against the head's
    // state and teach the templates (bounded; hints only, validation checks everything).
    // Called contracts without a template: their code hashes (a contract with the same code as
    // one that has a template is predicted from it).
    await learnCodeHashes(this.deps.templates, callsOf(included.map((p) => p.decoded)), (keys) => this.state.load(keys))
    const speculation = await this.speculator.speculate(included.map((p) => p.decoded), this.deps.templates, { chain: config.chain, env, state: this.state, blockHashes: head.recentHashes })
    const templatesVersion = this.deps.templates.version
    const { predictions, partition, predictMs, partitionMs } = await predictAndPartition(
      included.map((p) => p.decoded),
      this.deps.templates,
      config.coinbase,
      config.shardCount,
      this.deps.planner,
      config.chunksPerLane,
      (tx) => {
        const ahead = this.predictedAhead.get(tx.hashHex)
        return ahead !== undefined && ahead.version === templatesVersion ? ahead.prediction : undefined
      },
    )
    for (const p of included) this.predictedAhead.delete(p.decoded.hashHex)

    for (const r of rejected) await this.records.putRejection(r)

    if (included.length === 0) {
      await this.acknowledge(deliveries)
      await this.keepCarriedInvisible()
      return rejected.length > 0 || duplicates > 0
        ? { block: number, txCount: 0, shards: 0, rejected, duplicates, carried: this.carry.length, stats: emptyStats(intakeMs) }
        : undefined
    }

    // 4. Store the plan (parts, then meta), dispatch, acknowledge.
    const stats: PlanStats = {
      ...planStats(predictions, partition, { intakeMs, predictMs, partitionMs }),
      ...intakeThreadStats(batch.intakeThreadMs),
      speculateMs: speculation.ms,
      speculatedCalls: speculation.sampled,
    }
    const meta = await storePlanAndDispatch(
      { records: this.records, shardQueue: this.deps.shardQueue, clock: this.clock },
      { chain: config.chain, env, head, txs: included.map((p) => p.decoded), predictions, partition, stats },
    )
    for (const p of included) settle(p)
    this.lastPlanned = { block: number, hashes: new Set(included.map((p) => p.decoded.hashHex)) }
    await this.acknowledge(deliveries)
    await this.keepCarriedInvisible()
    this.log.info('block planned', { block: number.toString(), txs: included.length, shards: meta.shardParts.length, rejected: rejected.length, carried: this.carry.length })
    return { block: number, txCount: included.length, shards: meta.shardParts.length, rejected, duplicates, carried: this.carry.length, stats }
  }

  /** Each sender's nonce at the head: those loaded during intake, then the rest. */
  private async sealedNonces(senders: readonly string[]): Promise<Map<string, bigint>> {
    const ahead = this.noncesAhead
    this.noncesAhead = undefined
    const nonces = new Map<string, bigint>()
    for (const load of ahead?.loads ?? []) for (const [sender, nonce] of (await load) ?? []) nonces.set(sender, nonce)
    const missing = senders.filter((s) => !nonces.has(s))
    if (missing.length > 0) for (const [sender, nonce] of await this.loadNonces(missing)) nonces.set(sender, nonce)
    return nonces
  }

  /** The senders' nonces in the state table (an absent account: 0). */
  private async loadNonces(senders: readonly string[]): Promise<Map<string, bigint>> {
    const accounts = await this.state.load(senders)
    return new Map(senders.map((s, i) => [s, decodeAccount(accounts[i]!.value)?.nonce ?? 0n]))
  }

  /** Start loading the sealed nonces of newly admitted senders (see `noncesAhead`). */
  private loadNoncesAhead(admitted: readonly Pending[]): void {
    const ahead = this.noncesAhead
    if (ahead === undefined) return
    const senders: string[] = []
    for (const p of admitted) {
      const sender = p.decoded.senderHex
      if (ahead.senders.has(sender)) continue
      ahead.senders.add(sender)
      senders.push(sender)
    }
    if (senders.length === 0) return
    // A load that fails here is made again by planning (undefined: nothing known from it).
    ahead.loads.push(this.loadNonces(senders).catch(() => undefined))
  }

  /**
   * Drop what was decided before. On the queue an input is one input however often it arrives
   * (a redelivered message, a producer's retried send): a transaction, or a bad input, that
   * already has a record (a receipt, or a rejection: final, sign again to retry) is dropped.
   * Returns how many were dropped; they are neither recorded nor counted again.
   */
  private async dropSeen(batch: IntakeBatch, unsealed?: ReadonlySet<string>): Promise<number> {
    if (unsealed !== undefined && unsealed.size > 0) {
      const inParent = batch.pending.filter((p) => unsealed.has(p.decoded.hashHex))
      for (const p of inParent) {
        settle(p)
        batch.pendingByHash.delete(p.decoded.hashHex)
      }
      if (inParent.length > 0) batch.pending = batch.pending.filter((p) => !unsealed.has(p.decoded.hashHex))
      return inParent.length + (await this.dropSeen(batch))
    }
    const askPending = batch.pending
    const askRejected = batch.rejected
    if (askPending.length === 0 && askRejected.length === 0) return 0
    const known = await this.records.getReceipts([...askPending.map((p) => p.decoded.hashHex), ...askRejected.map((r) => r.rejection.id)])
    const dropPending = new Set<Pending>()
    askPending.forEach((p, i) => {
      if (known[i] !== undefined) dropPending.add(p)
    })
    const dropRejected = new Set<IntakeRejection>()
    askRejected.forEach((r, i) => {
      if (known[askPending.length + i] !== undefined) dropRejected.add(r)
    })
    for (const p of dropPending) settle(p)
    batch.pending = batch.pending.filter((p) => !dropPending.has(p))
    for (const p of dropPending) batch.pendingByHash.delete(p.decoded.hashHex)
    batch.rejected = batch.rejected.filter((r) => !dropRejected.has(r))
    return dropPending.size + dropRejected.size
  }

  private startBatch(): IntakeBatch {
    const pending = this.carry
    this.carry = []
    const deliveries: Delivery[] = []
    for (const p of pending) for (const d of p.deliveries) if (!deliveries.includes(d)) deliveries.push(d)
    const pendingByHash = new Map(pending.map((p) => [p.decoded.hashHex, p]))
    return { pending, deliveries, rejected: [], duplicates: 0, seen: new Set(pendingByHash.keys()), pendingByHash, intakeMs: 0, intakeThreadMs: [] }
  }

  /**
   * Take in the next block's transactions now: receive, decode and recover senders (no state
   * needed), while the current block executes. The next planNext() uses them and tops up.
   */
  async prefetchIntake(): Promise<void> {
    if (this.prefetched !== undefined) return
    const head = await this.records.getHead()
    if (head === undefined) return
    const { config } = this.deps
    const number = BigInt(head.number) + 2n
    const timestamp = BigInt(head.timestamp) + 2n * BigInt(config.blockTimeSec)
    const common = commonFor(config.chain, number, timestamp)
    const batch = this.startBatch()
    this.prefetched = batch
    await this.intake(batch, common, { chain: config.chain, number, timestamp, blockGasLimit: BigInt(head.gasLimit) }, true)
  }

  /** Fill a batch from the ingress queue up to the block size (bounded receive rounds). */
  private async intake(batch: IntakeBatch, common: Common, spec: IntakeSpec, background: boolean): Promise<void> {
    const t0 = performance.now()
    const busyBefore = this.deps.intake?.busyMs() ?? []
    if (this.deps.intake !== undefined || this.deps.source === 'decoded') await this.intakeBatched(batch, spec, background)
    else await this.intakeInline(batch, common, spec.blockGasLimit, background)
    batch.intakeMs += performance.now() - t0
    if (!background) addThreadWork(batch.intakeThreadMs, busyBefore, this.deps.intake?.busyMs() ?? [])
  }

  /** Decode as messages arrive, on this thread. */
  private async intakeInline(batch: IntakeBatch, common: Common, gasLimit: bigint, background: boolean): Promise<void> {
    const { config } = this.deps
    const ctx = { common: sharedTxCommon(common), blockGasLimit: gasLimit, clock: () => this.clock.now() }
    let decodedSinceYield = 0
    await this.receiveRounds(
      { round: 0, drained: false },
      {
        longPollMs: !background && batch.pending.length === 0 ? config.intakeWaitMs : 0,
        // Each call in flight may bring 10 messages of at least one input each.
        wanted: (calls) => batch.pending.length + calls * QUEUE_LIMITS.receiveMax * this.inputsPerMessage() < config.blockSizeMax,
        take: async (messages) => {
          for (const message of messages) {
            const delivery: Delivery = { message, open: 0 }
            batch.deliveries.push(delivery)
            const judged = judgeIngressBody(message.body, ctx)
            this.admit(batch, delivery, judged)
            this.countJudged(judged)
          }
          // In the background, let the coordinator and the workers' store calls in between.
          decodedSinceYield += messages.length
          if (background && decodedSinceYield >= 32) {
            decodedSinceYield = 0
            await nextTurn()
          }
        },
      },
    )
  }

  /**
   * Predict transactions as they are admitted (see `predictedAhead`); a prediction during which
   * the templates changed (a queued lesson ran) is not kept. Bounded: past a few blocks' worth,
   * the oldest are forgotten (planning predicts them again).
   */
  private predictAhead(admitted: readonly Pending[]): void {
    const templates = this.deps.templates
    const coinbase = this.deps.config.coinbase.slice(2).toLowerCase()
    for (const p of admitted) {
      const version = templates.version
      const prediction = predictAccess(p.decoded, templates, coinbase)
      if (templates.version === version) this.predictedAhead.set(p.decoded.hashHex, { version, prediction })
    }
    const max = 4 * this.deps.config.blockSizeMax
    for (const hash of this.predictedAhead.keys()) {
      if (this.predictedAhead.size <= max) break
      this.predictedAhead.delete(hash)
    }
  }

  /**
   * Receive while the intake threads judge what came before (or, from the decoded queue, read
   * what the ingress function judged); take the answers in arrival order. Messages received and
   * not yet judged count toward the block (at the inputs per message seen so far, at least one
   * each); when their answers leave the block short, receiving goes on, within the same bound of
   * rounds. A message joins the batch's deliveries only with its judgement: one received but
   * never judged (a receive or the intake threads failed) is not acknowledged by a later plan
   * that uses this batch (a prefetched one), it comes back after its visibility timeout.
   */
  private async intakeBatched(batch: IntakeBatch, spec: IntakeSpec, background: boolean): Promise<void> {
    const { config } = this.deps
    const inFlight: { messages: QueueMessage[]; judged: Promise<MessageJudgement<TxView>[]> }[] = []
    let waiting: QueueMessage[] = []
    let unjudged = 0
    const flush = (): void => {
      if (waiting.length === 0) return
      const messages = waiting
      waiting = []
      const judged = this.judgeBodies(messages.map((m) => m.body), spec)
      judged.catch(() => {})
      inFlight.push({ messages, judged })
    }
    const admitJudged = async (): Promise<void> => {
      for (const group of inFlight.splice(0)) {
        const judged = await group.judged
        const from = batch.pending.length
        group.messages.forEach((message, i) => {
          const delivery: Delivery = { message, open: 0 }
          batch.deliveries.push(delivery)
          this.admit(batch, delivery, judged[i]!)
          this.countJudged(judged[i]!)
        })
        // Predicted now, and the senders' nonces loaded, while the threads judge the groups after this one.
        this.predictAhead(batch.pending.slice(from))
        if (!background) this.loadNoncesAhead(batch.pending.slice(from))
      }
      unjudged = 0
    }
    const state: ReceiveState = { round: 0, drained: false }
    while (!state.drained && state.round < config.receiveRoundsMax && batch.pending.length < config.blockSizeMax) {
      let failure: { error: unknown } | undefined
      try {
        await this.receiveRounds(state, {
          longPollMs: !background && state.round === 0 && batch.pending.length === 0 ? config.intakeWaitMs : 0,
          wanted: (calls) => batch.pending.length + (unjudged + calls * QUEUE_LIMITS.receiveMax) * this.inputsPerMessage() < config.blockSizeMax,
          take: (messages) => {
            waiting.push(...messages)
            unjudged += messages.length
            if (waiting.length >= BATCH_MESSAGES) flush()
          },
        })
      } catch (error) {
        failure = { error }
      }
      // What was received before a failure is judged and admitted all the same.
      flush()
      await admitJudged()
      if (failure !== undefined) throw failure.error
    }
  }

  /**
   * Receive calls, up to RECEIVE_CALLS_IN_FLIGHT at once while `wanted` (given the calls in
   * flight) says the block could use more, within the batch's bound of rounds (each call is
   * one). The first may long-poll (`longPollMs`); it goes alone, the others do not wait. Each
   * call's messages go to `take` in the order the calls were made (not the order they return),
   * so a run on the same queue takes the same order (the simulator's determinism). An empty
   * answer means the queue is drained: no more calls, those in flight are still taken. A failed
   * call stops new calls; the others in flight are taken, then the first failure is thrown.
   */
  private async receiveRounds(
    state: ReceiveState,
    o: { longPollMs: number; wanted: (callsInFlight: number) => boolean; take: (messages: QueueMessage[]) => void | Promise<void> },
  ): Promise<void> {
    const { config } = this.deps
    const calls: Promise<{ messages: QueueMessage[] } | { error: unknown }>[] = []
    let failure: { error: unknown } | undefined
    const issue = (waitMs: number): void => {
      state.round++
      calls.push(
        this.deps.ingress.receive({ maxMessages: QUEUE_LIMITS.receiveMax, waitMs }).then(
          (messages) => ({ messages }),
          (error: unknown) => ({ error }),
        ),
      )
    }
    const mayIssue = (): boolean => failure === undefined && !state.drained && state.round < config.receiveRoundsMax && o.wanted(calls.length)
    if (o.longPollMs > 0 && mayIssue()) issue(o.longPollMs)
    // Bounded: every call is a round, and rounds are bounded by receiveRoundsMax.
    for (let first = calls.length > 0; ; first = false) {
      // While a long poll waits, nothing else is asked.
      while (!first && calls.length < RECEIVE_CALLS_IN_FLIGHT && mayIssue()) issue(0)
      const next = calls.shift()
      if (next === undefined) break
      const got = await next
      if ('error' in got) failure ??= got
      else if (got.messages.length === 0) state.drained = true
      else await o.take(got.messages)
    }
    if (failure !== undefined) throw failure.error
  }

  private inputsPerMessage(): number {
    return this.judgedMessages === 0 ? 1 : Math.max(1, this.judgedInputs / this.judgedMessages)
  }

  /** The inputs per message seen so far (the estimate of what a message in flight brings). */
  private countJudged(judged: MessageJudgement<TxView>): void {
    this.judgedMessages++
    this.judgedInputs += judged.kind === 'txs' ? judged.results.length : 1
  }

  private judgeBodies(bodies: string[], spec: IntakeSpec): Promise<MessageJudgement<TxView>[]> {
    const now = this.clock.now()
    if (this.deps.source === 'decoded') return Promise.resolve(bodies.map((body) => judgeDecodedBody(body, now)))
    return this.deps.intake!.judgeBodies(bodies, spec, now)
  }

  /** One message's judgement into the batch: the same bad input or transaction twice is one. */
  private admit(batch: IntakeBatch, delivery: Delivery, judged: MessageJudgement<TxView>): void {
    if (judged.kind === 'malformed') {
      if (batch.seen.has(judged.rejection.id)) {
        batch.duplicates++
        return
      }
      batch.seen.add(judged.rejection.id)
      batch.rejected.push({ delivery, rejection: judged.rejection })
      return
    }
    for (const result of judged.results) {
      if (!result.ok) {
        // The same bad input twice in one batch (a duplicated message): one rejection.
        if (batch.seen.has(result.rejection.id)) {
          batch.duplicates++
          continue
        }
        batch.seen.add(result.rejection.id)
        batch.rejected.push({ rejection: result.rejection, delivery })
        continue
      }
      const known = batch.pendingByHash.get(result.tx.hashHex)
      if (known !== undefined || batch.seen.has(result.tx.hashHex)) {
        batch.duplicates++
        // The message stays until the transaction it repeats is settled.
        if (known !== undefined && !known.deliveries.includes(delivery)) {
          delivery.open++
          known.deliveries.push(delivery)
        }
        continue
      }
      batch.seen.add(result.tx.hashHex)
      delivery.open++
      const pending: Pending = { decoded: result.tx, deliveries: [delivery], firstSeenMs: this.clock.now() }
      batch.pending.push(pending)
      batch.pendingByHash.set(result.tx.hashHex, pending)
    }
  }

  private async dispatch(meta: PlanMeta): Promise<void> {
    await dispatchPlan(this.deps.shardQueue, meta)
  }

  /**
   * Delete messages whose transactions are all settled. A malformed message is settled by its
   * rejection record (stored before this), so it is deleted too: one rejection per bad input,
   * never one per delivery.
   */
  private async acknowledge(deliveries: Delivery[]): Promise<void> {
    const done = deliveries.filter((d) => d.open === 0).map((d) => d.message.receiptHandle)
    // DeleteMessageBatch takes 10: the batches go out together (bounded), not one after another.
    // A delete that fails leaves its messages to come back; they are dropped as decided then.
    const batches: string[][] = []
    for (let i = 0; i < done.length; i += QUEUE_LIMITS.batchEntries) batches.push(done.slice(i, i + QUEUE_LIMITS.batchEntries))
    await settleAllBounded(batches, DELETE_CALLS_IN_FLIGHT, (handles) => this.deps.ingress.delete(handles))
  }

  private async keepCarriedInvisible(): Promise<void> {
    const handles = new Set(this.carry.flatMap((p) => p.deliveries.map((d) => d.message.receiptHandle)))
    for (const handle of handles) {
      try {
        await this.deps.ingress.extendVisibility(handle, 60_000)
      } catch {
        // The message came back already; its transactions are recognised by hash when redelivered.
      }
    }
  }
}

/**
 * `fn` over every item, at most `limit` calls at once; every call settles before this does (none
 * is left running against a failed caller), then the first failure, in item order, is thrown.
 */
async function settleAllBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const errors: { index: number; error: unknown }[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      // Bounded: each lane takes the next item until none is left.
      while (next < items.length) {
        const index = next++
        try {
          await fn(items[index]!)
        } catch (error) {
          errors.push({ index, error })
        }
      }
    }),
  )
  if (errors.length > 0) throw errors.reduce((a, b) => (b.index < a.index ? b : a)).error
}

/** A pending transaction is planned or dropped: each message that brought it has one fewer open. */
function settle(p: Pending): void {
  for (const d of p.deliveries) d.open--
}

/**
 * Keep arrival order, but let each sender's transactions fill that sender's positions in nonce
 * order (a later-arriving lower nonce moves ahead of its sender's higher nonces).
 */
export function orderByNonce<T extends { decoded: DecodedTx }>(pending: readonly T[]): T[] {
  const bySender = new Map<string, T[]>()
  for (const p of pending) {
    const list = bySender.get(p.decoded.senderHex)
    if (list === undefined) bySender.set(p.decoded.senderHex, [p])
    else list.push(p)
  }
  for (const list of bySender.values()) list.sort((a, b) => (a.decoded.tx.nonce < b.decoded.tx.nonce ? -1 : a.decoded.tx.nonce > b.decoded.tx.nonce ? 1 : 0))
  const cursor = new Map<string, number>()
  return pending.map((p) => {
    const i = cursor.get(p.decoded.senderHex) ?? 0
    cursor.set(p.decoded.senderHex, i + 1)
    return bySender.get(p.decoded.senderHex)![i]!
  })
}

/** One message per shard of a stored plan. */
export async function dispatchPlan(shardQueue: Queue, meta: PlanMeta): Promise<void> {
  const messages: ShardMessage[] = meta.shardParts.map((parts, shard) => ({
    v: 1,
    kind: 'shard',
    block: meta.block,
    shard,
    shards: meta.shardParts.length,
    parts,
  }))
  await shardQueue.send(messages.map((m) => ({ body: JSON.stringify(m), groupId: `${m.block}-${m.shard}`, dedupId: `${m.block}-${m.shard}` })))
}

/**
 * Predicted access sets of transactions in block order, and the block cut into shards.
 * `madeAhead`: a prediction made earlier with the same templates, where there is one.
 */
export async function predictAndPartition(
  txs: readonly DecodedTx[],
  templates: TemplateRegistry,
  coinbase: string,
  shardCount: number,
  planner: DependencyPlanner = defaultDependencyPlanner(),
  chunksPerLane: number = CHUNKING.perLane,
  madeAhead: (tx: DecodedTx) => Prediction | undefined = () => undefined,
): Promise<{ predictions: Prediction[]; partition: Partition; predictMs: number; partitionMs: number }> {
  const t1 = performance.now()
  const coinbaseHex = coinbase.slice(2).toLowerCase()
  const predictions: Prediction[] = txs.map((tx) => madeAhead(tx) ?? predictAccess(tx, templates, coinbaseHex))
  const t2 = performance.now()
  // Heavy connected groups: dependency DAG, split across shards where it pays (shared/schedule).
  // `shardCount` lanes run side by side; the block is cut into up to `chunksPerLane` times as
  // many contiguous shards (whole groups), so the coordinator settles while later ones execute.
  const chunks = chunkCount(predictions.length, shardCount, chunksPerLane, gasMostlyGuessed(predictions))
  const partition = partitionBlock(predictions, shardCount, { ...(await planner.analyse(predictions, shardCount)), chunks })
  const t3 = performance.now()
  return { predictions, partition, predictMs: t2 - t1, partitionMs: t3 - t2 }
}

export function planStats(predictions: readonly Prediction[], partition: Partition, times: { intakeMs: number; predictMs: number; partitionMs: number }): PlanStats {
  return {
    groups: partition.groups,
    largestGroupGas: partition.largestGroupGas,
    totalGas: partition.totalGas,
    templated: predictions.filter((p) => p.templated).length,
    intakeMs: times.intakeMs,
    predictMs: times.predictMs,
    partitionMs: times.partitionMs,
    predictedKeys: predictions.reduce((s, p) => s + p.reads.length, 0),
  }
}

export interface PlanStoreDeps {
  records: Records
  shardQueue: Queue
  clock: Clock
}

export interface StorePlanInput {
  chain: ChainSpec
  env: BlockEnv
  /** The parent: its recent hashes answer BLOCKHASH. */
  head: HeadRecord
  /** The block's transactions in block order, senders recovered. */
  txs: readonly DecodedTx[]
  predictions: readonly Prediction[]
  partition: Partition
  stats: PlanStats
}

/** Store a block's plan (shard parts, then meta: the commit point) and send one message per shard. */
export async function storePlanAndDispatch(deps: PlanStoreDeps, input: StorePlanInput): Promise<PlanMeta> {
  const { txs, predictions, partition } = input
  const shardParts = partition.shards.map((indices) => {
    const planned: PlannedTx[] = indices.map((index) => plannedTxOf(index, txs[index]!, predictions[index]!))
    return chunkBySize(planned, plannedTxSize, PART_BYTES_MAX).map(encodePlannedTxs)
  })
  const meta: PlanMeta = {
    v: 1,
    block: BigInt(input.env.number).toString(),
    planId: randomUUID(),
    chain: input.chain,
    env: input.env,
    shardParts: shardParts.map((parts) => parts.length),
    txCount: txs.length,
    blockHashes: input.head.recentHashes,
    ...(input.head.pending === true ? { parentPending: true as const } : {}),
    stats: input.stats,
    createdAtMs: deps.clock.now(),
  }
  if (!(await deps.records.putPlan(meta, shardParts))) {
    // Another sequencer stored a plan for this block first: its plan stands. Nothing of ours is
    // acknowledged, so our transactions come back (and are recognised if the other plan has them).
    throw new ConflictingPlanError(meta.block)
  }
  await dispatchPlan(deps.shardQueue, meta)
  return meta
}

export interface OrderedBlockInput {
  chain: ChainSpec
  env: BlockEnv
  /** The block's transactions in the given order (replay: the real block's), senders recovered. */
  txs: readonly DecodedTx[]
  /** The parent block (the store's head). */
  head: HeadRecord
  shardCount: number
  /** As `SequencerConfig.chunksPerLane`. */
  chunksPerLane?: number
}

/**
 * Plan a block whose order is given (replay mode): predict, partition, store the plan and
 * dispatch, as build mode does after its intake. The plan's order is the given order; nothing
 * is rejected or carried (the executor still reports a transaction that is invalid).
 */
export async function planOrderedBlock(
  deps: PlanStoreDeps & {
    templates: TemplateRegistry
    planner?: DependencyPlanner
    /** Speculative pre-execution of calls no template covers, against the head's state (as the queue path does). */
    speculate?: { speculator: Speculator; state: StateLoader }
  },
  input: OrderedBlockInput,
): Promise<{ meta: PlanMeta; partition: Partition }> {
  const number = BigInt(input.env.number)
  if (BigInt(input.head.number) !== number - 1n) {
    throw new ConfigError(`cannot plan block ${number} on head ${input.head.number}`)
  }
  if (input.txs.length === 0) throw new ConfigError(`block ${number} has no transactions to plan`)
  if (deps.speculate !== undefined) await learnCodeHashes(deps.templates, callsOf(input.txs), (keys) => deps.speculate!.state.load(keys))
  const speculation =
    deps.speculate === undefined
      ? undefined
      : await deps.speculate.speculator.speculate(input.txs, deps.templates, { chain: input.chain, env: input.env, state: deps.speculate.state, blockHashes: input.head.recentHashes })
  const { predictions, partition, predictMs, partitionMs } = await predictAndPartition(input.txs, deps.templates, input.env.coinbase, input.shardCount, deps.planner, input.chunksPerLane)
  const stats: PlanStats = {
    ...planStats(predictions, partition, { intakeMs: 0, predictMs, partitionMs }),
    ...(speculation !== undefined ? { speculateMs: speculation.ms, speculatedCalls: speculation.sampled } : {}),
  }
  const meta = await storePlanAndDispatch(deps, { chain: input.chain, env: input.env, head: input.head, txs: input.txs, predictions, partition, stats })
  return { meta, partition }
}

/** The calls of a block's transactions (recipient and calldata), for `learnCodeHashes`. */
function callsOf(txs: readonly DecodedTx[]): { to: string | undefined; data: Uint8Array }[] {
  return txs.map((d) => ({ to: d.tx.to === undefined ? undefined : toHex(d.tx.to.bytes), data: d.tx.data }))
}

/** Add each thread's work between two `IntakeRunner.busyMs()` readings to `into`. */
export function addThreadWork(into: number[], before: readonly number[], after: readonly number[]): void {
  after.forEach((ms, i) => {
    into[i] = (into[i] ?? 0) + ms - (before[i] ?? 0)
  })
}

/** The intake threads' part of a block's intake (its parallel part), for the plan's statistics. */
export function intakeThreadStats(perThread: readonly number[]): Pick<PlanStats, 'intakeThreadMsMax' | 'intakeThreadMsSum'> {
  if (perThread.length === 0) return {}
  return { intakeThreadMsMax: Math.max(...perThread), intakeThreadMsSum: perThread.reduce((a, b) => a + b, 0) }
}

function emptyStats(intakeMs: number): PlanStats {
  return { groups: 0, largestGroupGas: 0, totalGas: 0, templated: 0, intakeMs, predictMs: 0, partitionMs: 0, predictedKeys: 0 }
}
