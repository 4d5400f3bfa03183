/**
 * One load test, end to end: set-up (genesis or funding transactions), signing ahead in
 * threads, open-loop injection by the clock, inclusion tracking, drain, report.
 *
 * It stops by itself after the schedule plus a bounded drain; a first stop request (Ctrl-C)
 * ends the injection and drains, a second ends the drain: either way the report is built, and
 * every sent transaction is in it as included, rejected with a reason, or never included.
 */
import hdr from 'hdr-histogram-js'

import { buildGenesis, type GenesisFile, type GenesisState } from '../chain/genesis.ts'
import { ConfigError, ParevmError } from '../errors.ts'
import { Records } from '../store/records.ts'
import { epochNow } from './inject.ts'
import { Injector, type InjectorTarget } from './injector.ts'
import { senderAddresses, type WorkloadContext } from './intents.ts'
import { LAG_BEHIND_MS, buildReport, transactionRows, type DepthSample, type LoadTestReport, type ReportInput } from './report.ts'
import { buildSchedule, type RampStep } from './schedule.ts'
import { bootstrapStore, fundByTransactions, genesisSetup, senderNonces, warmUp, type WorkloadShape } from './setup.ts'
import { signSchedule } from './sign.ts'
import { InclusionTracker } from './tracker.ts'

import type { SupportedHardfork } from '../chain/common.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import type { Queue } from '../ports/queue.ts'
import type { PipelineHandle } from './pipeline.ts'

export interface LoadTestTarget {
  kind: 'embedded' | 'aws'
  description: string
  kv: KeyValueStore
  /** The ingress queue: depth samples and set-up transactions (and sends, for a 'queue' injector). */
  ingress: Queue
  deadLetter?: Queue
  injector: InjectorTarget
  /** Start the pipeline in this process over the target's store and queues (the embedded cluster, --with-pipeline). */
  startPipeline?: (genesis: GenesisState) => Promise<PipelineHandle>
  /** The running chain's genesis (a chain set up by funding, with the pipeline in this process). */
  genesisFile?: GenesisFile
}

/** Ctrl-C: the first request stops injecting (then drains), the second stops draining. */
export class StopController {
  requests = 0
  request(): void {
    this.requests++
  }
}

export interface LoadTestOptions {
  workload: WorkloadShape
  /** The chain's id and hardfork (a custom genesis file overrides them). */
  chain: { chainId: bigint; hardfork: SupportedHardfork }
  steps: RampStep[]
  perMessage: number
  maxInFlight: number
  tickMs: number
  signThreads: number
  drainTimeoutMs: number
  setupTimeoutMs: number
  /** Workload transactions sent and waited for before the measured run (default 20; 0: none). */
  warmupTxs?: number
  /** Fund senders and deploy contracts by transactions from this key (a running chain). */
  funding?: { funderKey: Uint8Array; fundWei: bigint }
  stop?: StopController
  /** Receives the per-transaction log (CSV lines, header first; see transactionRows). */
  onTransactions?: (rows: Iterable<string>) => void
  /** Progress lines; `live` lines replace each other on a terminal. */
  onProgress?: (line: string, live: boolean) => void
}

const MONITOR_MS = 200
const PROGRESS_MS = 1000
/** Progress samples the live inclusion rate is taken over (one a second). */
const RATE_WINDOW_SAMPLES = 6
const DEPTH_MS = 1000
const SWEEP_MS = 2000
/** A pending transaction is looked up in the receipts table once its send is this old. */
const SWEEP_AGE_MS = 3000
/** Start the clock this long after the injector is ready. */
const START_LEAD_MS = 250
const ERRORS_KEPT_MAX = 20

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function runLoadTest(target: LoadTestTarget, options: LoadTestOptions): Promise<LoadTestReport> {
  const stop = options.stop ?? new StopController()
  const progress = options.onProgress ?? (() => {})
  const shape = options.workload
  const schedule = buildSchedule(options.steps)
  const senders = senderAddresses(shape.seed, shape.accounts)
  const errors: string[] = []
  const noteError = (what: string, error: unknown): void => {
    if (errors.length < ERRORS_KEPT_MAX) errors.push(`${what}: ${error instanceof Error ? error.message : String(error)}`)
  }
  const checkInterrupted = (stage: string): void => {
    if (stop.requests > 0) throw new ParevmError(`interrupted during ${stage}; nothing was injected`)
  }

  // 1. The chain and its pipeline.
  let chain = options.chain
  let genesis: GenesisState | undefined
  let ctx: WorkloadContext | undefined
  let setup: LoadTestReport['setup']
  if (options.funding === undefined) {
    if (target.genesisFile !== undefined) {
      throw new ConfigError('a custom genesis needs --funder-key', { hint: 'the load-test senders are funded by transactions from a key funded in that genesis' })
    }
    const g = genesisSetup(shape, senders, chain)
    genesis = buildGenesis(g.file)
    ctx = g.ctx
    setup = { mode: 'genesis', txs: 0, ms: 0, note: `workload genesis: ${shape.accounts} senders funded, tokens and ${shape.pools} pools deployed at genesis` }
  } else {
    if (target.genesisFile !== undefined) {
      genesis = buildGenesis(target.genesisFile)
      chain = { chainId: genesis.chainId, hardfork: genesis.hardfork }
    }
    setup = { mode: 'funding', txs: 0, ms: 0, note: '' }
  }
  let pipeline: PipelineHandle | undefined
  if (target.startPipeline !== undefined) {
    if (genesis === undefined) {
      throw new ConfigError('the pipeline in this process needs the chain\'s genesis', { hint: 'give --genesis FILE (the running chain\'s genesis), or leave out --funder-key for a fresh chain' })
    }
    progress('starting the pipeline', false)
    pipeline = await target.startPipeline(genesis)
  } else if (options.funding === undefined) {
    const outcome = await bootstrapStore(target.kv, genesis!)
    progress(outcome === 'created' ? 'created the chain in the target store (workload genesis)' : 'the target store already holds this workload genesis', false)
  }
  const records = new Records(target.kv)
  try {
    if ((await records.getHead()) === undefined) {
      throw new ConfigError('the target store holds no chain', { hint: 'leave out --funder-key to create one with the workload genesis, or deploy and bootstrap the stack first' })
    }

    // 2. Set-up by transactions.
    if (options.funding !== undefined) {
      progress(`set-up: funding ${shape.accounts} senders and deploying contracts by transactions`, false)
      const funded = await fundByTransactions({
        kv: target.kv,
        ingress: target.ingress,
        funderKey: options.funding.funderKey,
        fundWei: options.funding.fundWei,
        shape,
        chain,
        senders,
        timeoutMs: options.setupTimeoutMs,
        stopped: () => stop.requests > 0,
        onProgress: (line) => progress(line, true),
      })
      ctx = funded.ctx
      setup = { mode: 'funding', txs: funded.txs, ms: Math.round(funded.ms), note: `${funded.txs} set-up transactions (funder waves: ${funded.waves})` }
    }
    const warm = await warmUp({ kv: target.kv, ingress: target.ingress, ctx: ctx!, senders, count: options.warmupTxs ?? 20, timeoutMs: options.setupTimeoutMs, stopped: () => stop.requests > 0 })
    if (warm > 0) {
      setup.note += `; ${warm} warm-up transactions included before the run`
      progress(`warm-up: ${warm} transactions included`, false)
    }
    checkInterrupted('set-up')

    // 3. Sign ahead.
    const baseNonces = await senderNonces(target.kv, senders)
    const total = schedule.offsetsMs.length
    let lastSignLine = 0
    const signed = await signSchedule({
      ctx: ctx!,
      total,
      baseNonces,
      threads: options.signThreads,
      onProgress: (n, of) => {
        const now = Date.now()
        if (now - lastSignLine >= 250 || n === of) {
          lastSignLine = now
          progress(`signing: ${n}/${of} transactions`, true)
        }
      },
    })
    progress(`signed ${total} transactions in ${Math.round(signed.ms)} ms (${signed.threads} threads)`, false)
    checkInterrupted('signing')

    // 4. Inject and track.
    const head = await records.getHead()
    const tracker = new InclusionTracker(target.kv, signed.hashes, { afterBlock: BigInt(head!.number) })
    const injector = await Injector.prepare(target.injector, signed.raws, schedule.offsetsMs, {
      perMessage: options.perMessage,
      maxInFlight: options.maxInFlight,
      tickMs: options.tickMs,
    })
    const startMs = epochNow() + START_LEAD_MS
    const startedAtMs = Date.now()
    const live = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 24 * 3600 * 1000, numberOfSignificantValueDigits: 2 })
    const depth: DepthSample[] = []
    let stoppedBy: LoadTestReport['stoppedBy'] = 'schedule'
    let injecting = true
    const injection = injector.run(startMs).finally(() => (injecting = false))
    injection.catch(() => {})
    let lastDepth = 0
    let lastSweep = 0
    let lastProgress = startMs
    const rateWindow: { at: number; included: number }[] = []
    const drainDeadline = { ms: Number.POSITIVE_INFINITY }

    const round = async (draining: boolean): Promise<void> => {
      const now = epochNow()
      try {
        await tracker.pollBlocks()
      } catch (error) {
        noteError('reading blocks', error)
      }
      if (now - lastSweep >= (draining ? SWEEP_MS / 2 : SWEEP_MS)) {
        lastSweep = now
        try {
          await tracker.sweep(injector.issued(), injector.sentAtMs, now - (draining ? SWEEP_AGE_MS / 3 : SWEEP_AGE_MS))
        } catch (error) {
          noteError('reading rejection records', error)
        }
      }
      if (now - lastDepth >= DEPTH_MS) {
        lastDepth = now
        try {
          const d = await target.ingress.depth()
          depth.push({ atMs: Date.now(), ...d })
        } catch (error) {
          noteError('reading the queue depth', error)
        }
      }
      const issued = injector.issued()
      if (now - lastProgress >= PROGRESS_MS) {
        lastProgress = now
        live.reset()
        let included = 0
        for (let i = 0; i < issued; i++) {
          if (tracker.status[i] === 1) {
            included++
            live.recordValue(Math.max(1, Math.round(tracker.doneAtMs[i]! - (startMs + schedule.offsetsMs[i]!))))
          }
        }
        // Included per second over the last few seconds (blocks seal in bursts).
        rateWindow.push({ at: now, included })
        while (rateWindow.length > RATE_WINDOW_SAMPLES) rateWindow.shift()
        const first = rateWindow[0]!
        const rate = rateWindow.length < 2 ? 0 : (included - first.included) / Math.max(0.001, (now - first.at) / 1000)
        // How late the next unsent transaction already is (the injector's lag, live).
        const behindMs = issued < total ? now - (startMs + schedule.offsetsMs[issued]!) : 0
        const t = (now - startMs) / 1000
        const step = schedule.stepStartMs.findIndex((ms, k) => k < schedule.steps.length && now - startMs < schedule.stepStartMs[k + 1]!)
        const offered = schedule.steps[step === -1 ? schedule.steps.length - 1 : step]!.rate
        const d = depth[depth.length - 1]
        const parts = [
          `${draining ? 'drain' : 'run'} ${t.toFixed(1)}s`,
          draining ? `${Math.max(0, Math.ceil((drainDeadline.ms - now) / 1000))}s left` : `offered ${offered} tx/s`,
          `sent ${issued}/${total}`,
          `included ${included} (${rate.toFixed(0)} tx/s)`,
          `rejected ${tracker.rejections.size}`,
          `pending ${issued - tracker.resolved}`,
          live.totalCount === 0 ? 'latency -' : `p50 ${live.getValueAtPercentile(50)} ms p99 ${live.getValueAtPercentile(99)} ms`,
          d === undefined ? '' : `queue ${d.visible + d.inFlight}`,
          !draining && behindMs > LAG_BEHIND_MS ? `injector ${Math.round(behindMs)} ms behind` : '',
        ]
        progress(parts.filter((p) => p !== '').join(' | '), true)
      }
    }

    // Injection: bounded by the schedule (the injector stops itself at its end) or a stop request.
    while (injecting) {
      if (stop.requests > 0 && stoppedBy === 'schedule') {
        stoppedBy = 'interrupt'
        injector.stop()
      }
      if (pipeline?.failure() !== undefined && stoppedBy !== 'pipeline-failure') {
        stoppedBy = 'pipeline-failure'
        injector.stop()
      }
      await round(false)
      await sleep(MONITOR_MS)
    }
    let outcome: Awaited<typeof injection> | undefined
    try {
      outcome = await injection
    } catch (error) {
      stoppedBy = 'error'
      noteError('injection', error)
    }
    const issued = injector.issued()

    // Drain: until every sent transaction is accounted for, the drain timeout, a second stop
    // request, or a pipeline failure.
    drainDeadline.ms = epochNow() + options.drainTimeoutMs
    while (tracker.resolved < issued && epochNow() < drainDeadline.ms && stop.requests < 2 && pipeline?.failure() === undefined) {
      await round(true)
      await sleep(MONITOR_MS)
    }
    try {
      await tracker.pollBlocks()
    } catch (error) {
      noteError('reading blocks', error)
    }
    // Final accounting: every still-pending transaction looked up (receipts accepted too).
    try {
      for (let guard = 0; guard < Math.ceil(issued / 1000) + 1 && tracker.resolved < issued; guard++) {
        if ((await tracker.sweep(issued, injector.sentAtMs, Number.POSITIVE_INFINITY, true, 1000)) === 0 && guard > 0) break
      }
    } catch (error) {
      noteError('final accounting', error)
    }
    if (pipeline?.failure() !== undefined) {
      const f = pipeline.failure()
      errors.push(`pipeline failed: ${f instanceof ParevmError ? f.describe() : f instanceof Error ? f.message : String(f)}`)
    }
    let deadLettered: number | null = null
    if (target.deadLetter !== undefined) {
      try {
        const d = await target.deadLetter.depth()
        deadLettered = d.visible + d.inFlight + d.delayed
      } catch (error) {
        noteError('reading the dead-letter queue', error)
      }
    }
    const accounts = shape.accounts
    const input: ReportInput = {
      meta: {
        target: { kind: target.kind, description: target.description, pipeline: pipeline === undefined ? 'external' : 'in-process' },
        workload: { mix: shape.mix, accounts, hotShare: shape.hotShare, pools: shape.pools, seed: shape.seed, chainId: chain.chainId.toString(), hardfork: chain.hardfork },
        load: { steps: schedule.steps, perMessage: options.perMessage, maxInFlight: options.maxInFlight, tickMs: options.tickMs, drainTimeoutSec: options.drainTimeoutMs / 1000 },
        setup,
        signing: { txs: total, threads: signed.threads, ms: Math.round(signed.ms), txPerSec: Math.round(total / Math.max(0.001, signed.ms / 1000)) },
        stoppedBy,
        startedAtMs,
        endedAtMs: Date.now(),
      },
      steps: schedule.steps,
      offsetsMs: schedule.offsetsMs,
      stepStarts: schedule.stepStarts,
      stepStartMs: schedule.stepStartMs,
      startMs,
      hashes: signed.hashes,
      senderOf: (i) => ({ sender: senders[i % accounts]!, nonce: baseNonces[i % accounts]! + BigInt(Math.floor(i / accounts)) }),
      issued,
      sendCalls: outcome?.calls ?? 0,
      sentAtMs: injector.sentAtMs,
      failed: injector.failed,
      sendErrors: outcome?.failures ?? [],
      status: tracker.status,
      doneAtMs: tracker.doneAtMs,
      reverted: tracker.reverted,
      block: tracker.block,
      rejections: tracker.rejections,
      blocks: tracker.blocks,
      receiptsMissing: tracker.receiptsMissing,
      depth,
      deadLettered,
      errors,
    }
    const report = buildReport(input)
    if (options.onTransactions !== undefined) {
      try {
        options.onTransactions(transactionRows(input))
      } catch (error) {
        report.errors.push(`writing the transaction log: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
    return report
  } finally {
    await pipeline?.stop()
  }
}
