/**
 * Replay mode: a real block through the same pipeline as build mode - the sequencer's
 * prediction and partitioning (`planOrderedBlock`), shard messages, `ShardWorker`s on worker
 * threads (or inline, for tests), the `Coordinator`'s validation, re-execution and sealing -
 * with the block's own order, header fields and mainnet's hardfork for its number and time.
 *
 * Each block runs on a fresh store seeded with its pre-state (blocks are not consecutive);
 * the worker threads, queues and learned templates live as long as the cluster.
 */
import { driveBlocks, monotonicClock } from '../cluster/driver.ts'
import { ShardWorkerPool } from '../cluster/threads.ts'
import { Coordinator, type SealedBlock } from '../coordinator/coordinator.ts'
import { ConfigError, ParevmError } from '../errors.ts'
import { Executor } from '../exec/executor.ts'
import { silentLogger, type Logger } from '../log.ts'
import { realClock, type Clock } from '../ports/clock.ts'
import { MemoryQueue } from '../ports/memory/memory-queue.ts'
import { decodePlannedTxs } from '../pipeline/codec.ts'
import { parseJson, shardMessageSchema } from '../pipeline/messages.ts'
import { Speculator } from '../predict/speculate.ts'
import { TemplateRegistry } from '../predict/templates.ts'
import { planOrderedBlock } from '../sequencer/sequencer.ts'
import { Records } from '../store/records.ts'
import { StateTable } from '../store/state-table.ts'
import { executePlannedTxs } from '../worker/shard-worker.ts'
import { compareWithHeader, type HeaderComparison } from './compare.ts'
import { MAINNET, type ReplayFixture } from './fixture.ts'
import { PRE_STATE_HELD, holdPreStateMessage } from './held-pre-state.ts'
import { ReplayStore, seedReplayStore } from './store.ts'

import type { PredictionReport } from '../coordinator/coordinator.ts'

export interface ReplayClusterOptions {
  /** Workers (1..256). */
  workers: number
  /** Worker threads (default) or async loops in this thread (tests). */
  threads?: boolean
  /** Exactly this many shards per block (default: the number of workers, a large block cut into up to 8 contiguous shards per worker). */
  shards?: number
  /**
   * Visibility of a shard message while a worker holds it. A shard that fails in a worker
   * comes back after it and is then dead-lettered (one receive allowed), and the replay
   * re-runs it in this thread to report its error.
   */
  visibilityTimeoutMs?: number
  /** Longest wait for one block to seal. */
  sealTimeoutMs?: number
  /** Longest wait for the worker threads to start. */
  startTimeoutMs?: number
  /** Learned (contract, selector) templates; shared by the blocks of one cluster. */
  templates?: TemplateRegistry
  /**
   * Before partitioning, as build mode's sequencer does (default false): the code hashes of
   * called contracts without a template are loaded (a contract with the same code as one that
   * has a template is predicted from it), and a few calls no template covers run once against
   * the block's pre-state to teach the templates (shared/predict/speculate.ts). Off by default:
   * on the 47 mainnet blocks it cost more than it saved (planning 0.1 -> 10.3 s, re-execution
   * 6.9 -> 3.3 s; 2 workers 1.16x -> 0.98x the tuned baseline; BENCHMARKS.md): mainnet calls are
   * diverse, and each sample is a full execution on the planner's thread.
   */
  speculate?: boolean
  /**
   * Worker threads hold each block's pre-state and read it there (default true): sent to them
   * before the block is planned, as the sequential baselines load it into their tries, so that a
   * load the predictions did not cover is not a round trip to this thread
   * (shared/replay/held-pre-state.ts). False: every load goes to the store in this thread.
   */
  holdPreState?: boolean
  log?: Logger
  /** Time: seal and start-up waits, wall times (default: the real clock). */
  clock?: Clock
}

export interface ReplayOptions {
  /** Templates for this block only (default: the cluster's, shared by its blocks). */
  templates?: TemplateRegistry
}

export interface ReplayRun {
  number: bigint
  hardfork: string
  txs: number
  shards: number
  /** Connected groups of predicted conflicts found by the partitioner. */
  groups: number
  reexecuted: number
  /** Transactions the executor found invalid: a real block has none. */
  rejected: number
  prediction: PredictionReport
  comparison: HeaderComparison
  sealed: SealedBlock
  /** Plan to seal, wall time (seeding the store and handing the worker threads the pre-state excluded). */
  wallMs: number
  /** Handing every worker thread the pre-state (before the plan; 0 without threads or with `holdPreState: false`). */
  holdMs: number
  /** Stage timings of the block (ms): plan, workers, coordinator. */
  timings: Record<string, number>
}

export class ReplayCluster {
  readonly store = new ReplayStore()
  readonly templates: TemplateRegistry
  private readonly records = new Records(this.store)
  private readonly shardDlq = new MemoryQueue({ name: 'replay-shards-dlq' })
  private readonly shardQueue: MemoryQueue
  private readonly doneQueue = new MemoryQueue({ name: 'replay-done' })
  private pool: ShardWorkerPool | undefined
  private readonly log: Logger
  private readonly clock: Clock
  private readonly shardCount: number
  private readonly visibilityTimeoutMs: number
  private workerError: unknown
  private readonly speculator: Speculator | undefined
  /** Set when a replay failed part-way: its messages may still be in flight. */
  private failed: string | undefined

  private constructor(private readonly options: ReplayClusterOptions) {
    this.templates = options.templates ?? new TemplateRegistry()
    this.log = options.log ?? silentLogger
    this.clock = options.clock ?? monotonicClock
    this.shardCount = options.shards ?? options.workers
    this.speculator = options.speculate === true ? new Speculator() : undefined
    this.visibilityTimeoutMs = options.visibilityTimeoutMs ?? 30_000
    this.shardQueue = new MemoryQueue({ name: 'replay-shards', visibilityTimeoutMs: this.visibilityTimeoutMs, maxReceiveCount: 1, deadLetter: this.shardDlq })
  }

  get workers(): number {
    return this.options.workers
  }

  get threaded(): boolean {
    return this.options.threads !== false
  }

  static async start(options: ReplayClusterOptions): Promise<ReplayCluster> {
    if (!Number.isInteger(options.workers) || options.workers < 1 || options.workers > 256) {
      throw new ConfigError(`workers must be 1..256 (got ${options.workers})`)
    }
    if (options.shards !== undefined && (!Number.isInteger(options.shards) || options.shards < 1 || options.shards > 4096)) {
      throw new ConfigError(`shards must be 1..4096 (got ${options.shards})`)
    }
    const cluster = new ReplayCluster(options)
    try {
      await cluster.startWorkers()
    } catch (error) {
      await cluster.stop()
      throw error
    }
    return cluster
  }

  private async startWorkers(): Promise<void> {
    // Inline workers report a failed shard at once (threads: through the dead-letter queue).
    const capture: Logger = { ...silentLogger, warn: (_m, fields) => void (this.workerError ??= fields?.error), child: () => capture }
    this.pool = ShardWorkerPool.start({
      workers: this.options.workers,
      threads: this.threaded,
      ports: { kv: this.store, shardQueue: this.shardQueue, doneQueue: this.doneQueue },
      visibilityTimeoutMs: this.visibilityTimeoutMs,
      inline: { waitMs: 20, notReadyRetryMs: 20, log: () => capture },
      onThreadError: (i, error) => {
        this.workerError ??= error
        this.log.error('replay worker thread failed', { worker: i, error })
      },
    })
    await this.pool.ready(this.clock, this.options.startTimeoutMs ?? 120_000)
  }

  /** Replay one block: seed its pre-state, plan, execute in shards, seal, compare with its header. */
  async replay(fixture: ReplayFixture, options: ReplayOptions = {}): Promise<ReplayRun> {
    if (this.failed !== undefined) {
      throw new ParevmError(`this replay cluster stopped after a failure (${this.failed})`, { hint: 'stop it and start a new one' })
    }
    try {
      return await this.replayOnce(fixture, options.templates ?? this.templates)
    } catch (error) {
      this.failed = `block ${fixture.number}: ${(error as Error)?.message ?? String(error)}`
      throw error
    }
  }

  /** True after a replay failed: start a new cluster for the next block. */
  get unusable(): boolean {
    return this.failed !== undefined
  }

  private async replayOnce(fixture: ReplayFixture, templates: TemplateRegistry): Promise<ReplayRun> {
    this.workerError = undefined
    this.store.reset(fixture.preState)
    const { head, trie } = await seedReplayStore(this.store, fixture)
    let holdMs = 0
    if (this.threaded && this.options.holdPreState !== false) {
      const h0 = performance.now()
      await this.pool!.tellThreads(holdPreStateMessage(fixture.number, fixture.preState), PRE_STATE_HELD, this.clock, this.options.startTimeoutMs ?? 120_000)
      holdMs = performance.now() - h0
    }
    const coordinator = new Coordinator({ kv: this.store, templates, trie, log: this.log.child({ role: 'coordinator' }) })
    let run: ReplayRun | undefined
    let planned = false
    // One block through the block driver: planned in the fixture's order, its seal pumped here.
    await driveBlocks({
      clock: this.clock,
      log: this.log,
      sealWaitMs: this.options.sealTimeoutMs ?? 600_000,
      plan: async () => {
        if (planned) return { kind: 'end' }
        planned = true
        const t0 = performance.now()
        const { meta, partition } = await planOrderedBlock(
          {
            records: this.records,
            shardQueue: this.shardQueue,
            clock: this.options.clock ?? realClock,
            templates,
            ...(this.speculator !== undefined ? { speculate: { speculator: this.speculator, state: new StateTable(this.store) } } : {}),
          },
          { chain: MAINNET, env: fixture.env, txs: fixture.txs, head, shardCount: this.shardCount, ...(this.options.shards !== undefined ? { chunksPerLane: 1 } : {}) },
        )
        return { kind: 'block', block: fixture.number, plan: { shards: meta.shardParts.length, groups: partition.groups, planMs: performance.now() - t0 } }
      },
      awaitSeal: (number, untilMs) => this.pumpUntilSealed(coordinator, number, untilMs),
      onSealed: (plan, sealed, wallMs) => {
        const r = sealed.report
        run = {
          number: fixture.number,
          hardfork: fixture.hardfork,
          txs: r.txs,
          shards: plan.shards,
          groups: plan.groups,
          reexecuted: r.reexecuted,
          rejected: r.rejected,
          prediction: r.prediction,
          comparison: compareWithHeader(sealed, fixture),
          sealed,
          wallMs,
          holdMs,
          timings: { planMs: plan.planMs, ...r.timings },
        }
      },
    })
    if (run === undefined) throw new ParevmError(`block ${fixture.number} was planned but not sealed`)
    return run
  }

  /** Run the coordinator on the done queue until `number` is sealed, or undefined once the clock reaches `untilMs`. */
  private async pumpUntilSealed(coordinator: Coordinator, number: bigint, untilMs: number): Promise<SealedBlock | undefined> {
    const roundsMax = Math.ceil(Math.max(0, untilMs - this.clock.now()) / 10) + 100
    for (let round = 0; round < roundsMax && this.clock.now() < untilMs; round++) {
      if (this.workerError !== undefined) throw asError(this.workerError, `a worker failed on block ${number}`)
      const dead = await this.shardDlq.receive({ maxMessages: 10, waitMs: 0 })
      if (dead.length > 0) {
        await this.shardDlq.delete(dead.map((m) => m.receiptHandle))
        const mine = dead.find((m) => blockOf(m.body) === number)
        if (mine !== undefined) await this.diagnoseDeadShard(mine.body, number)
      }
      const messages = await this.doneQueue.receive({ maxMessages: 10, waitMs: 50 })
      for (const message of messages) {
        // A message of an earlier, failed replay: its store is gone.
        if (blockOf(message.body) !== number) {
          await this.doneQueue.delete([message.receiptHandle])
          continue
        }
        const outcome = await coordinator.handleDone(message)
        await this.doneQueue.delete([message.receiptHandle])
        if (outcome.kind === 'sealed' && outcome.sealed.report.block === number) return outcome.sealed
      }
    }
    return undefined
  }

  /** A shard that failed in a worker thread: run it here, where its error can be reported. */
  private async diagnoseDeadShard(body: string, number: bigint): Promise<never> {
    const msg = shardMessageSchema.parse(parseJson(body))
    const meta = await this.records.getPlanMeta(msg.block)
    if (meta === undefined) throw new ParevmError(`shard ${msg.shard} of block ${msg.block} failed in a worker, and its plan is gone`)
    const parts = await this.records.getShardPlanParts(meta, msg.shard)
    const state = new StateTable(this.store)
    try {
      await executePlannedTxs(new Executor(meta.chain), meta, parts.flatMap(decodePlannedTxs), {
        load: (keys) => state.load(keys),
        loadCode: (hashes) => state.loadCode(hashes),
      })
    } catch (error) {
      throw asError(error, `shard ${msg.shard} of block ${number} failed`)
    }
    throw new ParevmError(`shard ${msg.shard} of block ${number} failed in a worker thread but executes in the main thread`, {
      hint: 'a worker-thread problem (crash, timeout): try --inline, or a longer visibility timeout',
    })
  }

  async stop(): Promise<void> {
    await this.pool?.stop()
  }
}

function blockOf(body: string): bigint | undefined {
  const parsed = parseJson(body) as { block?: unknown }
  return typeof parsed?.block === 'string' && /^[0-9]+$/.test(parsed.block) ? BigInt(parsed.block) : undefined
}

function asError(error: unknown, context: string): Error {
  if (error instanceof ParevmError) return error
  if (error instanceof Error) return new ParevmError(`${context}: ${error.message}`, { cause: error })
  return new ParevmError(`${context}: ${String(error)}`)
}
