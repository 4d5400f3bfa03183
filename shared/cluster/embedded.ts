/**
 * The embedded cluster: the whole pipeline in one process tree, on the in-process store and
 * queues. The sequencer and the coordinator run in the main thread; W workers run as
 * worker_threads (reaching the store and queues over RPC) or, for tests, as inline async
 * loops. Every sealed block can be checked against sequential @ethereumjs/vm.
 */
import { Coordinator, type SealedBlock, type SettledOutcome } from '../coordinator/coordinator.ts'
import { ConfigError, ParevmError, VerificationError, isRetryable } from '../errors.ts'
import { MemoryKeyValueStore } from '../ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../predict/templates.ts'
import { Sequencer, planOrderedBlock, type PlanResult } from '../sequencer/sequencer.ts'
import { Speculator } from '../predict/speculate.ts'
import { StateTable } from '../store/state-table.ts'
import { nextBlockEnv } from '../chain/next-block.ts'
import { commonFor } from '../exec/common-for.ts'
import { inputId, type DecodedTx } from '../intake/decode.ts'
import { IntakePool, defaultIntakeThreads, type IntakeRunner } from '../intake/pool.ts'
import { OrderedIntake } from '../intake/ordered.ts'
import { realClock, type Clock } from '../ports/clock.ts'
import { Records, type HeadRecord } from '../store/records.ts'
import { SequentialVerifier, judgeStatelessRejection, type VerifyResult } from '../verify/sequential.ts'
import { createChainCommon } from '../chain/common.ts'
import { silentLogger, type Logger } from '../log.ts'
import { initializeChain } from './bootstrap.ts'
import { criticalPath, sumCriticalPaths, type CriticalPath } from './critical-path.ts'
import { driveBlocks, monotonicClock, withinClock, type DriveOptions, type PlanStep } from './driver.ts'
import { FaultyQueue, faultyWorkerPorts, type FaultOptions } from './faults.ts'
import { SettledOverlay } from './pipeline.ts'
import { ShardWorkerPool, startThread, threadEntry } from './threads.ts'
import { ParallelWorldStateTrie, defaultTrieThreads, trieThreadsFromEnv } from '../trie/parallel-world-state.ts'
import { defaultAcceleratorSettings } from '../gpu/defaults.ts'

import type { StopSignal } from './worker-loop.ts'
import type { Accelerators } from '../gpu/accelerators.ts'

import { buildGenesis, type GenesisState } from '../chain/genesis.ts'
import type { Rejection, RejectionCode } from '../intake/rejection.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import { QUEUE_LIMITS, type Queue } from '../ports/queue.ts'
import type { Worker } from 'node:worker_threads'
import type { Common } from '@ethereumjs/common'

export { workerEntry } from './threads.ts'

export interface ClusterOptions {
  genesis: GenesisState
  /** Number of workers (at least 1). */
  workers: number
  /** Workers as worker_threads (default) or as async loops in this thread. */
  threads?: boolean
  /**
   * Intake threads (decode, recover, check; shared/intake/pool.ts). Default with `threads`:
   * PAREVM_INTAKE_THREADS, else the cores minus one; without `threads`: 0 (inline).
   */
  intakeThreads?: number
  /**
   * Threads of the state root (shared/trie/parallel-world-state.ts), 0: the root on the
   * coordinator's thread. Default: PAREVM_TRIE_THREADS if set; else with `threads` one per core
   * (at least 2), without `threads` or with the `keccak` GPU stage forced on (it hashes the
   * single-threaded trie) 0.
   */
  trieThreads?: number
  /**
   * Exactly this many shards per block. Default: the number of workers, and a large block cut
   * into up to 8 contiguous shards per worker (shared/partition/partition.ts `chunkCount`).
   */
  shards?: number
  /**
   * Take in the next block's transactions (receive, decode, recover senders) while this block
   * executes and seals (default true). Off: each block's intake starts after the previous seal
   * (the benchmark's comparison).
   */
  intakeOverlap?: boolean
  /**
   * Pipelined blocks (shared/cluster/pipeline.ts, default true): the next block is planned and
   * executed while this one's state root, receipts, header, journal, apply and seal finish. Off:
   * each block is planned after the previous seal (the benchmark's comparison).
   */
  pipeline?: boolean
  /** Most transactions per block. */
  blockSize: number
  blockTimeSec?: number
  /** Check every sealed block against sequential @ethereumjs/vm (default true). */
  verify?: boolean
  faults?: FaultOptions
  visibilityTimeoutMs?: number
  /** Longest wait for one block to seal. */
  sealTimeoutMs?: number
  /** How long a transaction with a nonce gap waits for the missing nonce (default 1,000 ms). */
  nonceGapHoldMs?: number
  log?: Logger
  /** Use these instead of in-process backends (the AWS backend passes its adapters). */
  backends?: { kv: KeyValueStore; ingress: Queue; shardQueue: Queue; doneQueue: Queue; deadLetter?: Queue }
  /** Time: seal waits, idle pauses, blocks' wall times, records' dates (default: the real clock). */
  clock?: Clock
  /**
   * The GPU path's instances (shared/gpu/accelerators.ts): the sequencer's planner, the
   * coordinator's GPU context and inference service, inline workers' inference service; worker
   * threads make their own from its settings. Default: the thread's, from the environment.
   */
  accelerators?: Accelerators
}

export interface BlockEvent {
  plan: PlanResult
  sealed: SealedBlock
  verify: VerifyResult | undefined
  /** Wall time from planning to seal. */
  wallMs: number
  /** `runOrdered`: the input line of each planned transaction, in plan order. */
  lines?: readonly number[]
  /** What no added worker could shorten: serial ms, serial fraction, Amdahl's bound. */
  criticalPath: CriticalPath
}

export interface RunSummary {
  blocks: number
  included: number
  rejected: number
  rejectedByCode: Partial<Record<RejectionCode, number>>
  reexecuted: number
  duplicatesDropped: number
  gasUsed: bigint
  wallMs: number
  /** Included transactions per second of pipeline time (plan to seal; verification excluded). */
  txPerSec: number
  pipelineMs: number
  verifyMs: number
  verifiedBlocks: number
  prediction: { txsFullyPredicted: number; keysPredicted: number; keysActual: number }
  head: { number: string; hash: string; stateRoot: string }
  deadLettered: number
  /** Inputs taken in: lines of a txs file (`runOrdered`), or submitted transactions. */
  inputs: number
  /** Whether every sealed block was to be checked against sequential @ethereumjs/vm. */
  verify: boolean
  /** The blocks' critical paths added up. */
  criticalPath: CriticalPath
  /** Blocks planned and executed while their parent sealed (pipelining; shared/cluster/pipeline.ts). */
  pipelined: number
}

/** Genesis tries that a cluster has advanced (see `EmbeddedCluster.start`). */
const usedTries = new WeakSet<object>()

/** How many times one block's seal may fail the same way before the run ends with that error. */
const SEAL_FAILURES_MAX = 3
/** `runUntilIdle`: the pause after a round that planned no block, and how many such rounds in a row may take nothing in. */
const IDLE_SLEEP_MS = 5
const IDLE_ROUNDS_MAX = 10_000

type Backends = NonNullable<ClusterOptions['backends']>

export class EmbeddedCluster {
  readonly kv: KeyValueStore
  readonly ingress: Queue
  readonly deadLetter: Queue | undefined
  readonly templates = new TemplateRegistry()
  private readonly shardQueue: Queue
  private readonly doneQueue: Queue
  private readonly sequencer: Sequencer
  private readonly coordinator: Coordinator
  private readonly verifier: SequentialVerifier | undefined
  private readonly log: Logger
  private readonly signal: StopSignal = { stopped: false }
  /** Records' dates (rejections, plans), and the loop's time (seal waits, idle pauses, wall times). */
  private readonly clock: Clock
  private readonly loopClock: Clock
  private pool: ShardWorkerPool | undefined
  private readonly loops: Promise<void>[] = []
  private readonly sealed = new Map<string, SealedBlock>()
  /** Pipelining: the settled block's writes over the state table, for the sequencer and the workers. */
  private readonly overlay: SettledOverlay
  /** The store as planning and the workers read it: through the overlay when pipelining. */
  private readonly planKv: KeyValueStore
  private readonly settledOutcomes = new Map<string, SettledOutcome>()
  private readonly settledWaiters = new Map<string, { resolve(outcome: SettledOutcome | undefined): void; reject(error: Error): void }>()
  /** A block planned on a pending parent whose shards were all done before the parent's seal: sealed after its parent. */
  private sealAfterParent: bigint | undefined
  private readonly waiters = new Map<string, { resolve(sealed: SealedBlock): void; reject(error: Error): void }>()
  private coordinatorError: unknown
  private sealFailures: { text: string; count: number } | undefined
  private fatal: Error | undefined
  private verifyThread: Worker | undefined
  private readonly verifyWaiters: { block: string; resolve(r: VerifyResult): void; reject(e: Error): void }[] = []
  private verifyFailure: ParevmError | undefined
  /** Rejections made while submitting (oversize), counted by the next run. */
  private readonly submitRejected: Rejection[] = []
  private readonly records: Records
  /** Intake threads (or inline), for the sequencer and `runOrdered`. */
  private readonly intake: IntakeRunner
  private referenceCommon: Common | undefined
  /** The state root's threads, when it has them (ended by `stop`). */
  private readonly parallelTrie: ParallelWorldStateTrie | undefined

  private constructor(
    private readonly options: ClusterOptions,
    backends: Backends,
    verifier: SequentialVerifier | undefined,
    parallelTrie: ParallelWorldStateTrie | undefined,
  ) {
    this.parallelTrie = parallelTrie
    this.kv = backends.kv
    this.ingress = backends.ingress
    this.deadLetter = backends.deadLetter
    this.shardQueue = backends.shardQueue
    this.doneQueue = backends.doneQueue
    this.verifier = verifier
    this.records = new Records(this.kv)
    this.overlay = new SettledOverlay(this.kv)
    this.planKv = options.pipeline === false ? this.kv : this.overlay
    this.log = options.log ?? silentLogger
    this.clock = options.clock ?? realClock
    this.loopClock = options.clock ?? monotonicClock
    this.intake = IntakePool.start(options.intakeThreads ?? (options.threads === false ? 0 : defaultIntakeThreads()), this.log.child({ role: 'intake' }))
    this.sequencer = new Sequencer({
      kv: this.planKv,
      ingress: this.ingress,
      ...(this.intake.threads > 0 ? { intake: this.intake } : {}),
      shardQueue: this.shardQueue,
      templates: this.templates,
      log: this.log.child({ role: 'sequencer' }),
      ...(options.accelerators !== undefined ? { planner: options.accelerators.planner } : {}),
      config: {
        chain: options.genesis.chain,
        shardCount: options.shards ?? options.workers,
        // An explicit shard count is exact; by default large blocks are cut into contiguous chunks.
        ...(options.shards !== undefined ? { chunksPerLane: 1 } : {}),
        blockSizeMax: options.blockSize,
        blockTimeSec: options.blockTimeSec ?? 12,
        coinbase: options.genesis.coinbase,
        intakeWaitMs: 0,
        receiveRoundsMax: Math.ceil(options.blockSize / 10) + 10,
        ...(options.nonceGapHoldMs !== undefined ? { nonceGapHoldMs: options.nonceGapHoldMs } : {}),
      },
    })
    this.coordinator = new Coordinator({
      kv: this.kv,
      templates: this.templates,
      trie: parallelTrie ?? options.genesis.trie,
      log: this.log.child({ role: 'coordinator' }),
      ...(options.accelerators !== undefined ? { gpu: options.accelerators.gpu, inference: options.accelerators.inference } : {}),
      ...(options.pipeline !== false ? { onSettled: (outcome: SettledOutcome) => this.settledBlock(outcome) } : {}),
    })
  }

  static async start(options: ClusterOptions): Promise<EmbeddedCluster> {
    if (!Number.isInteger(options.workers) || options.workers < 1 || options.workers > 256) {
      throw new ConfigError(`workers must be 1..256 (got ${options.workers})`)
    }
    const vt = options.visibilityTimeoutMs ?? 30_000
    let backends = options.backends
    if (backends === undefined) {
      const deadLetter = new MemoryQueue({ name: 'ingress-dlq' })
      const faults = options.faults
      const wrap = (q: Queue, salt: number): Queue => (faults === undefined ? q : new FaultyQueue(q, faults, salt))
      backends = {
        kv: new MemoryKeyValueStore(),
        deadLetter,
        ingress: new MemoryQueue({ name: 'ingress', visibilityTimeoutMs: vt, maxReceiveCount: 3, deadLetter, fifo: false }),
        shardQueue: wrap(new MemoryQueue({ name: 'shards', visibilityTimeoutMs: vt, maxReceiveCount: 50, deadLetter: new MemoryQueue({ name: 'shards-dlq' }) }), 1),
        doneQueue: wrap(new MemoryQueue({ name: 'done', visibilityTimeoutMs: vt, maxReceiveCount: 50, deadLetter: new MemoryQueue({ name: 'done-dlq' }) }), 2),
      }
    }
    // The state root over trie threads (built from the genesis entries below), or on the coordinator's thread.
    const keccakForced = (options.accelerators?.settings ?? defaultAcceleratorSettings()).gpu.stages.keccak === 'on'
    const trieThreads = options.trieThreads ?? trieThreadsFromEnv() ?? (options.threads === false || keccakForced ? 0 : defaultTrieThreads())
    // The coordinator advances the genesis trie as it seals: a GenesisState that another
    // cluster already used gets a trie of its own, rebuilt from the genesis file.
    if (trieThreads === 0 && usedTries.has(options.genesis.trie)) options = { ...options, genesis: { ...options.genesis, trie: buildGenesis(options.genesis.file).trie } }
    if (trieThreads === 0) usedTries.add(options.genesis.trie)
    await initializeChain(backends.kv, options.genesis, options.clock)
    // With worker threads the sequential check gets a thread of its own and overlaps the engine.
    const verifyInThread = options.verify !== false && options.threads !== false
    const verifier = options.verify === false || verifyInThread ? undefined : await SequentialVerifier.fromGenesis(options.genesis)
    const parallelTrie =
      trieThreads > 0
        ? await ParallelWorldStateTrie.start(options.genesis.entries, { entry: threadEntry('trie-thread', '../trie/'), threads: trieThreads, expectedRoot: options.genesis.stateRoot })
        : undefined
    let cluster: EmbeddedCluster
    try {
      cluster = new EmbeddedCluster(options, backends, verifier, parallelTrie)
      if (verifyInThread) await cluster.startVerifyThread()
    } catch (error) {
      await parallelTrie?.close()
      throw error
    }
    const { faults } = options
    // Fault injection wraps the ports of workers in this thread: crashes after staging, before acknowledging.
    cluster.pool = ShardWorkerPool.start({
      workers: options.workers,
      threads: options.threads !== false,
      ports: { kv: cluster.planKv, shardQueue: cluster.shardQueue, doneQueue: cluster.doneQueue },
      visibilityTimeoutMs: vt,
      inline: { waitMs: 20, log: (i) => cluster.log.child({ worker: i }), ...(faults !== undefined ? { ports: (i, ports) => faultyWorkerPorts(faults, i, ports) } : {}) },
      onThreadError: (i, error) => cluster.log.error('worker thread failed', { worker: i, error }),
      ...(options.accelerators !== undefined ? { accelerators: options.accelerators } : {}),
    })
    cluster.loops.push(cluster.coordinatorLoop())
    return cluster
  }

  private async startVerifyThread(): Promise<void> {
    const thread = startThread(threadEntry('verify-thread', '../verify/'), { genesisFile: this.options.genesis.file })
    await new Promise<void>((resolve, reject) => {
      thread.once('message', () => resolve())
      thread.once('error', reject)
    })
    // The thread answers in submission order; each answer goes to the oldest waiter, whose block
    // it must be.
    thread.on('message', (m: { result?: VerifyResult; error?: string; block?: string }) => {
      const waiter = this.verifyWaiters.shift()
      if (waiter === undefined) return
      const block = m.result?.block.toString() ?? m.block
      if (block !== waiter.block) waiter.reject(new ParevmError(`sequential check answered block ${block} for block ${waiter.block}`))
      else if (m.result !== undefined) waiter.resolve(m.result)
      else waiter.reject(new ParevmError(`sequential check of block ${m.block} failed to run: ${m.error}`))
    })
    thread.on('error', (error) => {
      for (const waiter of this.verifyWaiters.splice(0)) waiter.reject(new ParevmError(`the sequential-check thread failed: ${error.message}`))
    })
    this.verifyThread = thread
  }

  private verifyRemote(sealed: SealedBlock): Promise<VerifyResult> {
    return new Promise((resolve, reject) => {
      this.verifyWaiters.push({ block: sealed.record.number, resolve, reject })
      this.verifyThread!.postMessage({ record: sealed.record, head: sealed.head, env: sealed.env, raws: sealed.raws, receipts: sealed.receipts, rejections: sealed.rejections, report: sealed.report })
    })
  }

  private async coordinatorLoop(): Promise<void> {
    while (!this.signal.stopped) {
      await this.sealPipelined()
      const messages = await this.doneQueue.receive({ maxMessages: 10, waitMs: 50 })
      for (const message of messages) {
        try {
          const outcome = await this.coordinator.handleDone(message)
          await this.doneQueue.delete([message.receiptHandle])
          this.sealFailures = undefined
          if (outcome.kind === 'sealed') this.sealedBlock(outcome.sealed)
          // Sealed before (a repeated done message): no overlay of it may outlive its seal.
          if (outcome.kind === 'already-sealed') this.forgetSettled(outcome.block)
          if (outcome.kind === 'waiting' && outcome.afterParent === true) this.sealAfterParent = outcome.block
          await this.sealPipelined()
        } catch (error) {
          this.coordinatorError = error
          this.noteSealFailure(error)
          this.log.error('coordinator failed on a done message; it will be delivered again', { error })
          // Try again soon rather than after the visibility timeout.
          await this.doneQueue.extendVisibility(message.receiptHandle, 50).catch(() => {})
        }
      }
    }
  }

  /** A block is settled (pipelining): lay its writes over the table and wake the driver. */
  private settledBlock(outcome: SettledOutcome): void {
    const key = outcome.block.toString()
    this.overlay.lay(outcome)
    this.settledOutcomes.set(key, outcome)
    this.settledWaiters.get(key)?.resolve(outcome)
  }

  /** A sealed block: the table holds its writes now, so its overlay and settled outcome go. */
  private forgetSettled(block: bigint): void {
    this.overlay.lift(block)
    this.settledOutcomes.delete(block.toString())
  }

  private sealedBlock(sealed: SealedBlock): void {
    const key = sealed.record.number
    this.forgetSettled(BigInt(key))
    this.settledWaiters.get(key)?.resolve(undefined)
    this.sealed.set(key, sealed)
    this.waiters.get(key)?.resolve(sealed)
  }

  /**
   * A block planned on its pending parent whose shards were all done before the parent's seal:
   * its done messages are gone, so seal it here once the parent is sealed (again on the next
   * round after a failure).
   */
  private async sealPipelined(): Promise<void> {
    const number = this.sealAfterParent
    if (number === undefined || !this.sealed.has((number - 1n).toString())) return
    try {
      const sealed = await this.coordinator.sealIfComplete(number)
      if (this.sealAfterParent === number) this.sealAfterParent = undefined
      this.sealFailures = undefined
      if (sealed !== undefined) this.sealedBlock(sealed)
    } catch (error) {
      this.coordinatorError = error
      this.noteSealFailure(error)
      this.log.error('coordinator failed to seal a pipelined block; it tries again', { block: number.toString(), error })
    }
  }

  /** The block's settled outcome (pipelining), or undefined once it is sealed or the clock reaches `untilMs`. */
  private async awaitSettled(block: bigint, untilMs: number): Promise<SettledOutcome | undefined> {
    const key = block.toString()
    const ready = this.settledOutcomes.get(key)
    if (ready !== undefined) return ready
    if (this.sealed.has(key)) return undefined
    if (this.fatal !== undefined) throw this.fatal
    const notified = new Promise<SettledOutcome | undefined>((resolve, reject) => this.settledWaiters.set(key, { resolve, reject }))
    try {
      return await withinClock(this.loopClock, untilMs, notified)
    } finally {
      this.settledWaiters.delete(key)
    }
  }

  /**
   * The same error on every attempt is not going to go away: end the run with it at once
   * instead of waiting for the seal timeout.
   */
  private noteSealFailure(error: unknown): void {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    const last = this.sealFailures
    this.sealFailures = last !== undefined && last.text === text ? { text, count: last.count + 1 } : { text, count: 1 }
    // A broken invariant or bad input ends the run at the first attempt.
    if (isRetryable(error) && this.sealFailures.count < SEAL_FAILURES_MAX) return
    const fatal =
      error instanceof ParevmError
        ? error
        : new ParevmError(`the coordinator failed ${SEAL_FAILURES_MAX} times in a row: ${text}`, { cause: error })
    this.fatal ??= fatal
    for (const waiter of [...this.waiters.values(), ...this.settledWaiters.values()]) waiter.reject(fatal)
  }

  /** The seal, notified by the coordinator loop; undefined once the clock reaches `untilMs`. */
  private async awaitSeal(block: bigint, untilMs: number): Promise<SealedBlock | undefined> {
    const key = block.toString()
    const ready = this.sealed.get(key)
    if (ready !== undefined) return ready
    if (this.fatal !== undefined) throw this.fatal
    const notified = new Promise<SealedBlock>((resolve, reject) => this.waiters.set(key, { resolve, reject }))
    try {
      return await withinClock(this.loopClock, untilMs, notified)
    } finally {
      this.waiters.delete(key)
    }
  }

  /** The block driver over this cluster: seals notified in process; a seal that does not come in time ends the run. */
  private drive<P>(
    o: Pick<DriveOptions<P, SealedBlock, HeadRecord>, 'plan' | 'prefetch' | 'idle' | 'maxBlocks' | 'onSealed'> & { planOn?: (parent: HeadRecord) => Promise<PlanStep<P>> },
  ): ReturnType<typeof driveBlocks> {
    const sealWaitMs = this.options.sealTimeoutMs ?? 600_000
    const { planOn, ...rest } = o
    return driveBlocks<P, SealedBlock, HeadRecord>({
      ...rest,
      ...(this.options.pipeline !== false && planOn !== undefined
        ? { planOn, awaitSettled: async (block: bigint, untilMs: number) => (await this.awaitSettled(block, untilMs))?.head }
        : {}),
      clock: this.loopClock,
      log: this.log,
      sealWaitMs,
      awaitSeal: (block, untilMs) => this.awaitSeal(block, untilMs),
      notSealed: async (block) => {
        const cause = this.coordinatorError instanceof Error ? ` (last coordinator error: ${this.coordinatorError.message})` : ''
        throw new ParevmError(`block ${block} was not sealed within ${sealWaitMs} ms${cause}`)
      },
    })
  }

  /**
   * Put raw transactions on the ingress queue, `perMessage` to a message. A transaction whose
   * message would exceed the queue's size limit is not sent: it gets its `oversize` rejection
   * here (returned, and recorded in the store), and the rest go on.
   */
  async submit(rawTxs: readonly string[], perMessage = 1): Promise<Rejection[]> {
    const entries = []
    const rejected: Rejection[] = []
    const limit = QUEUE_LIMITS.messageBytes
    const envelopeBytes = (chunk: readonly string[]): number => Buffer.byteLength(JSON.stringify(chunk.length === 1 ? { raw: chunk[0] } : { txs: chunk }))
    for (let i = 0; i < rawTxs.length; i += perMessage) {
      const chunk = rawTxs.slice(i, i + perMessage).filter((raw) => {
        if (envelopeBytes([raw]) <= limit) return true
        rejected.push(oversizeRejection(raw, limit, this.clock.now()))
        return false
      })
      // A chunk of fitting transactions that is too big together goes one by one.
      const pieces = envelopeBytes(chunk) <= limit ? [chunk] : chunk.map((raw) => [raw])
      for (const piece of pieces) if (piece.length > 0) entries.push({ body: JSON.stringify(piece.length === 1 ? { raw: piece[0] } : { txs: piece }) })
    }
    for (const r of rejected) await this.records.putRejection(r)
    this.submitRejected.push(...rejected)
    for (let i = 0; i < entries.length; i += 10) await this.ingress.send(entries.slice(i, i + 10))
    return rejected
  }

  /** Seal blocks until the ingress queue is empty; calls `onBlock` after each. */
  async runUntilIdle(
    onBlock?: (event: BlockEvent) => void | Promise<void>,
    maxBlocks = 1_000_000,
    onRejections?: (rejections: readonly Rejection[]) => void,
  ): Promise<RunSummary> {
    const tally = this.startTally(onBlock, onRejections)
    tally.countRejections(this.submitRejected.splice(0))
    const plan = async (parent?: HeadRecord): Promise<PlanStep<PlanResult>> => {
      const plan = await this.sequencer.planNext(parent)
      if (plan === undefined) return { kind: 'none', tookIn: false }
      tally.countRejections(plan.rejected)
      tally.summary.duplicatesDropped += plan.duplicates
      if (plan.txCount === 0) return { kind: 'none', tookIn: true }
      tally.throwIfFailed()
      return { kind: 'block', block: plan.block, plan }
    }
    await this.drive<PlanResult>({
      maxBlocks,
      plan: () => plan(),
      planOn: async (parent) => {
        const step = await plan(parent)
        if (step.kind === 'block') tally.summary.pipelined++
        return step
      },
      // Take in the next block's transactions while this one executes (no state needed).
      ...(this.options.intakeOverlap !== false ? { prefetch: () => this.sequencer.prefetchIntake() } : {}),
      idle: {
        sleepMs: IDLE_SLEEP_MS,
        roundsMax: IDLE_ROUNDS_MAX,
        stop: async () => {
          const depth = await this.ingress.depth()
          return depth.visible + depth.inFlight + depth.delayed === 0 && this.sequencer.carried === 0
        },
      },
      onSealed: (plan, sealed, wallMs) => tally.sealed(plan, sealed, wallMs),
    })
    return tally.finish()
  }

  /**
   * `parevm run`: inputs in the given order, each judged at its position as serial execution
   * judges it. Lines that fail the stateless checks are rejected where they stand; the others
   * are cut into blocks of consecutive lines (at most `blockSize` transactions, and gas limits
   * that add up to at most the block's), and every block is planned in that order. A
   * transaction refused at execution (nonce, funds, fee cap, sender with code) consumes
   * nothing, and the lines after it are judged against what really happened. No queue is
   * involved, so nothing can reorder the input. Each rejection names its line (1-based, or the
   * `lineNumbers` given).
   */
  async runOrdered(
    inputs: readonly string[],
    onBlock?: (event: BlockEvent) => void | Promise<void>,
    options: {
      lineNumbers?: readonly number[]
      onRejections?: (rejections: readonly Rejection[]) => void
      /** Exact blocks: block i takes the next `cuts[i]` decodable inputs (a chain being rebuilt). */
      cuts?: readonly number[]
    } = {},
  ): Promise<RunSummary> {
    const tally = this.startTally(onBlock, options.onRejections)
    tally.summary.inputs = inputs.length
    const lineOf = (i: number): number => options.lineNumbers?.[i] ?? i + 1
    const { chain } = this.options.genesis
    const { records, clock } = this
    let head = (await records.getHead())!
    let i = 0
    /** Blocks planned so far (ahead of the sealed ones when pipelining). */
    let planned = 0
    const lines = new OrderedIntake(inputs, this.intake, this.options.blockSize, () => clock.now())
    // Calls to contract functions no template covers yet run once against the head's state before
    // their block is partitioned (as the queue path's sequencer does): a cold block is predicted.
    const speculator = new Speculator()
    /** One block of consecutive lines: planned in their order. */
    const plan = async (): Promise<PlanStep<{ plan: PlanResult; lines: number[]; intakeMs: number }>> => {
      if (i >= inputs.length) return { kind: 'end' }
      const number = BigInt(head.number) + 1n
      const common = commonFor(chain, number, BigInt(head.timestamp) + BigInt(this.options.blockTimeSec ?? 12))
      const env = nextBlockEnv(head, common, { coinbase: this.options.genesis.coinbase, blockTimeSec: this.options.blockTimeSec ?? 12 })
      const gasLimit = BigInt(env.gasLimit)
      const spec = { chain, number, timestamp: BigInt(head.timestamp) + BigInt(this.options.blockTimeSec ?? 12), blockGasLimit: gasLimit }
      // One block: consecutive lines until the block is full.
      const txs: DecodedTx[] = []
      const txLines: number[] = []
      const rejected: Rejection[] = []
      let gasBudget = 0n
      const intakeStart = performance.now()
      const cut = options.cuts?.[planned]
      for (; i < inputs.length; i++) {
        const result = await lines.at(i, spec, common)
        if (!result.ok) {
          rejected.push({ ...result.rejection, line: lineOf(i), block: number.toString() })
          continue
        }
        if (cut !== undefined ? txs.length >= cut : txs.length >= this.options.blockSize || gasBudget + result.tx.tx.gasLimit > gasLimit) break
        gasBudget += result.tx.tx.gasLimit
        txs.push(result.tx)
        txLines.push(lineOf(i))
      }
      const intakeMs = performance.now() - intakeStart
      for (const r of rejected) await records.putRejection(r)
      tally.countRejections(rejected)
      if (txs.length === 0) return { kind: 'none', tookIn: true }
      tally.throwIfFailed()
      const { meta } = await planOrderedBlock(
        {
          records,
          shardQueue: this.shardQueue,
          clock,
          templates: this.templates,
          speculate: { speculator, state: new StateTable(this.planKv) },
          ...(this.options.accelerators !== undefined ? { planner: this.options.accelerators.planner } : {}),
        },
        { chain, env, head, txs, shardCount: this.options.shards ?? this.options.workers, ...(this.options.shards !== undefined ? { chunksPerLane: 1 } : {}) },
      )
      meta.stats.intakeMs = intakeMs
      planned++
      const result: PlanResult = { block: number, txCount: txs.length, shards: meta.shardParts.length, rejected, duplicates: 0, carried: 0, stats: meta.stats }
      return { kind: 'block', block: number, plan: { plan: result, lines: txLines, intakeMs } }
    }
    await this.drive({
      plan,
      // Planned on the settled, sealing head: the next block's lines in their order, on its writes.
      planOn: async (parent) => {
        head = parent
        const step = await plan()
        if (step.kind === 'block') tally.summary.pipelined++
        return step
      },
      onSealed: async (p, sealed, wallMs) => {
        for (const r of sealed.rejections) if (r.position !== undefined) r.line = p.lines[r.position]
        sealed.report.timings.intakeMs = p.intakeMs
        await tally.sealed(p.plan, sealed, wallMs, p.lines)
        // The next block may be planned already, on this block's pending head.
        if (BigInt(head.number) <= BigInt(sealed.head.number)) head = sealed.head
      },
    })
    return tally.finish()
  }

  /** The sequential check of an intake rejection: the reference's decoder must find that reason. */
  private judgeIntakeRejection(r: Rejection): void {
    if (r.raw === undefined || this.verifyFailure !== undefined) return
    const { genesis } = this.options
    this.referenceCommon ??= createChainCommon(genesis.chainId, genesis.hardfork)
    const judged = judgeStatelessRejection(r.raw, r.code, this.referenceCommon, { blockGasLimit: BigInt(genesis.header.gasLimit) })
    if (!judged.ok) {
      this.verifyFailure = new VerificationError(`${r.line !== undefined ? `line ${r.line}` : `input ${r.id}`} was rejected as ${r.code}, but the reference finds: ${judged.reference}`, {
        hint: 'this is a correctness bug in intake: the rejection record does not give the reason serial execution gives',
      })
    }
  }

  /** Counting, the sequential check of every sealed block, and `onBlock` in block order. */
  private startTally(onBlock?: (event: BlockEvent) => void | Promise<void>, onRejections?: (rejections: readonly Rejection[]) => void) {
    const start = performance.now()
    const summary: RunSummary = {
      blocks: 0,
      included: 0,
      rejected: 0,
      rejectedByCode: {},
      reexecuted: 0,
      duplicatesDropped: 0,
      gasUsed: 0n,
      wallMs: 0,
      txPerSec: 0,
      pipelineMs: 0,
      verifyMs: 0,
      verifiedBlocks: 0,
      prediction: { txsFullyPredicted: 0, keysPredicted: 0, keysActual: 0 },
      head: { number: '0', hash: '', stateRoot: '' },
      deadLettered: 0,
      inputs: 0,
      verify: this.options.verify !== false,
      criticalPath: sumCriticalPaths([]),
      pipelined: 0,
    }
    const paths: CriticalPath[] = []
    /**
     * `outsideBlocks`: rejections that no sealed block carries (intake, submission). With the
     * check on, each one that names its input is re-judged by the reference's own decoder
     * (a rejection at execution is re-judged at its position with its block).
     */
    const countRejections = (rejections: readonly Rejection[], outsideBlocks = true): void => {
      if (outsideBlocks && rejections.length > 0) {
        onRejections?.(rejections)
        if (summary.verify) for (const r of rejections) this.judgeIntakeRejection(r)
      }
      for (const { code } of rejections) {
        summary.rejected++
        summary.rejectedByCode[code] = (summary.rejectedByCode[code] ?? 0) + 1
      }
    }
    let notified: Promise<void> = Promise.resolve()
    const countVerify = (verify: VerifyResult): void => {
      summary.verifyMs += verify.ms
      summary.verifiedBlocks++
      if (!verify.ok && this.verifyFailure === undefined) {
        this.verifyFailure = new VerificationError(`block ${verify.block} differs from sequential execution`, {
          details: verify.difference ?? 'unknown difference',
          hint: 'this is a correctness bug in the engine; the block was sealed but must not be trusted',
        })
      }
    }
    const throwIfFailed = (): void => {
      if (this.verifyFailure !== undefined) throw this.verifyFailure
    }
    const sealed = async (plan: PlanResult, block: SealedBlock, wallMs: number, lines?: readonly number[]): Promise<void> => {
      const path = criticalPath(block.report.timings, wallMs)
      paths.push(path)
      summary.criticalPath = sumCriticalPaths(paths)
      const extra = { criticalPath: path, ...(lines === undefined ? {} : { lines }) }
      summary.pipelineMs += wallMs
      summary.blocks++
      summary.included += block.report.included
      countRejections(block.rejections, false)
      summary.reexecuted += block.report.reexecuted
      summary.gasUsed += block.report.gasUsed
      summary.prediction.txsFullyPredicted += block.report.prediction.txsFullyPredicted
      summary.prediction.keysPredicted += block.report.prediction.keysPredicted
      summary.prediction.keysActual += block.report.prediction.keysActual
      summary.head = { number: block.record.number, hash: block.record.hash, stateRoot: block.head.stateRoot }
      if (this.verifyThread !== undefined) {
        // Checked in the verify thread while the engine goes on; reported in block order.
        const pending = this.verifyRemote(block)
        notified = notified.then(async () => {
          const verify = await pending
          countVerify(verify)
          await onBlock?.({ plan, sealed: block, verify, wallMs, ...extra })
        })
        notified.catch(() => {})
      } else {
        const verify = this.verifier === undefined ? undefined : await this.verifier.verify(block)
        if (verify !== undefined) countVerify(verify)
        await onBlock?.({ plan, sealed: block, verify, wallMs, ...extra })
      }
    }
    const finish = async (): Promise<RunSummary> => {
      await notified
      throwIfFailed()
      summary.wallMs = performance.now() - start
      summary.txPerSec = summary.pipelineMs === 0 ? 0 : summary.included / (summary.pipelineMs / 1000)
      if (this.deadLetter !== undefined) {
        const d = await this.deadLetter.depth()
        summary.deadLettered = d.visible + d.inFlight + d.delayed
      }
      if (summary.inputs === 0) summary.inputs = summary.included + summary.rejected + summary.duplicatesDropped
      return summary
    }
    return { summary, countRejections, sealed, throwIfFailed, finish }
  }

  /** Injected faults and redeliveries so far (fault-injection runs and reports). */
  faultStats(): { duplicated: number; delayed: number; shardRedeliveries: number; doneRedeliveries: number } {
    const faults = (q: Queue): { duplicated: number; delayed: number } => (q instanceof FaultyQueue ? q.stats : { duplicated: 0, delayed: 0 })
    const redelivered = (q: Queue): number => {
      const inner = q instanceof FaultyQueue ? q.innerQueue : q
      return inner instanceof MemoryQueue ? inner.stats.redelivered : 0
    }
    return {
      duplicated: faults(this.shardQueue).duplicated + faults(this.doneQueue).duplicated,
      delayed: faults(this.shardQueue).delayed + faults(this.doneQueue).delayed,
      shardRedeliveries: redelivered(this.shardQueue),
      doneRedeliveries: redelivered(this.doneQueue),
    }
  }

  async stop(): Promise<void> {
    this.signal.stopped = true
    await this.pool?.stop()
    await this.intake.close()
    await this.verifyThread?.terminate()
    await Promise.allSettled(this.loops)
    await this.parallelTrie?.close()
  }
}

/** The rejection of a transaction too big for an ingress message. */
export function oversizeRejection(raw: string, limitBytes: number, atMs: number): Rejection {
  return {
    id: inputId(raw),
    code: 'oversize',
    reason: `transaction of ${Buffer.byteLength(raw)} characters does not fit an ingress message (${limitBytes} bytes)`,
    inputPrefix: raw.slice(0, 34),
    atMs,
  }
}
