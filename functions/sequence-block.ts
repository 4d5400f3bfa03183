/**
 * The sequencer as a Lambda function (`handler`). It consumes the ingress queue itself - an
 * event source mapping would acknowledge messages when the function returns, but the sequencer
 * must control acknowledgements (a message is deleted only once its transactions are in a
 * stored plan or rejected) and may carry transactions into the next block.
 *
 * One invocation plans blocks one after another until the ingress queue stays empty, the
 * invocation's time budget runs out, or `maxBlocks` is reached: plan block N (head + 1), wait
 * until the coordinator seals it, plan N + 1. A plan that is not sealed within
 * PAREVM_SEAL_WAIT_MS has its shard messages sent again (a crash between storing a plan and
 * dispatching it loses nothing). Invoked by an EventBridge schedule; run it with reserved
 * concurrency 1: two sequencers would plan the same block number from different transactions.
 */
import { Records } from '../shared/store/records.ts'
import { Sequencer, type PlanResult } from '../shared/sequencer/sequencer.ts'
import { TemplateRegistry } from '../shared/predict/templates.ts'
import { ConfigError, MalformedInputError, ParevmError } from '../shared/errors.ts'
import { loadEnv, sequencerConfig, sequencerEnvSchema, type SequencerEnv } from './commons/config.ts'
import { openAwsRuntime, once } from './commons/clients.ts'
import { sequencerInvocationSchema } from './commons/events.ts'
import { loadTemplates } from './commons/templates.ts'
import { MetricUnit, createLogger, createMetrics, engineLogger } from './commons/observability.ts'

import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger'
import type { Metrics } from '@aws-lambda-powertools/metrics'
import type { AwsBackend } from '../shared/adapters/aws/provision.ts'

export interface SequencerRuntime {
  env: SequencerEnv
  backend: AwsBackend
  sequencer: Sequencer
  records: Records
  /** Prediction templates learned by the coordinator (meta table), and the version loaded. */
  templates: TemplateRegistry
  templatesVersion: number
  logger: PowertoolsLogger
  metrics: Metrics
}

export interface SequencerRunOptions {
  /** Stop planning after this time (epoch ms); a planned block is waited for until then. */
  deadlineMs: number
  maxBlocks?: number
}

export interface SequencerRunResult {
  blocks: number
  txs: number
  rejected: number
  duplicates: number
  lastBlock: string | undefined
  stoppedBecause: 'idle' | 'deadline' | 'max-blocks'
}

/** Head polling while a planned block is being sealed. */
const SEAL_POLL_MS_MIN = 50
const SEAL_POLL_MS_MAX = 500

export async function createSequencerRuntime(env: SequencerEnv, options: { backend?: AwsBackend; logger?: PowertoolsLogger; metrics?: Metrics } = {}): Promise<SequencerRuntime> {
  const backend = options.backend ?? (await openAwsRuntime(env, { checkTables: true, queues: ['ingress', 'shards'] })).backend
  const logger = options.logger ?? createLogger('sequencer')
  const templates = new TemplateRegistry()
  const sequencer = new Sequencer({
    kv: backend.kv,
    ingress: backend.queues.ingress,
    shardQueue: backend.queues.shards,
    templates,
    config: sequencerConfig(env),
    log: engineLogger(logger),
  })
  return { env, backend, sequencer, records: new Records(backend.kv), templates, templatesVersion: -1, logger, metrics: options.metrics ?? createMetrics('sequencer') }
}

/** Wait until the head reaches `block` or the time is up; true if it did. */
async function waitForSeal(records: Records, block: bigint, untilMs: number): Promise<boolean> {
  let pollMs = SEAL_POLL_MS_MIN
  // Bounded by time: each round sleeps at least SEAL_POLL_MS_MIN.
  for (;;) {
    const head = await records.getHead()
    if (head !== undefined && BigInt(head.number) >= block) return true
    if (Date.now() + pollMs > untilMs) return false
    await new Promise((r) => setTimeout(r, pollMs))
    pollMs = Math.min(SEAL_POLL_MS_MAX, pollMs * 2)
  }
}

function recordPlan(rt: SequencerRuntime, plan: PlanResult): void {
  const { metrics } = rt
  metrics.addMetric('PlannedTxs', MetricUnit.Count, plan.txCount)
  metrics.addMetric('Rejected', MetricUnit.Count, plan.rejected.length)
  metrics.addMetric('DuplicatesDropped', MetricUnit.Count, plan.duplicates)
  metrics.addMetric('Carried', MetricUnit.Count, plan.carried)
  metrics.addMetric('IntakeMs', MetricUnit.Milliseconds, plan.stats.intakeMs)
  metrics.addMetric('PredictMs', MetricUnit.Milliseconds, plan.stats.predictMs)
  metrics.addMetric('PartitionMs', MetricUnit.Milliseconds, plan.stats.partitionMs)
  metrics.addMetric('Shards', MetricUnit.Count, plan.shards)
  metrics.publishStoredMetrics()
  for (const r of plan.rejected) rt.logger.info('transaction rejected', { block: plan.block.toString(), txHash: r.id, code: r.code, reason: r.reason })
}

/** Plan blocks until idle, out of time, or `maxBlocks` planned (see the file comment). */
export async function runSequencer(rt: SequencerRuntime, options: SequencerRunOptions): Promise<SequencerRunResult> {
  const result: SequencerRunResult = { blocks: 0, txs: 0, rejected: 0, duplicates: 0, lastBlock: undefined, stoppedBecause: 'idle' }
  const maxBlocks = options.maxBlocks ?? Number.MAX_SAFE_INTEGER
  let idle = 0
  // The next block's intake (receive, decode, recover senders), taken while the current one executes.
  let prefetch: Promise<void> | undefined
  // Bounded: every round plans a block, waits for a seal, or counts an idle poll; time bounds the rest.
  for (;;) {
    if (Date.now() >= options.deadlineMs) {
      result.stoppedBecause = 'deadline'
      break
    }
    const head = await rt.records.getHead()
    if (head === undefined) throw new ConfigError('the store has no chain head: bootstrap the chain (genesis) first')
    const next = BigInt(head.number) + 1n
    if ((await rt.records.getPlanMeta(next)) !== undefined) {
      const until = Math.min(options.deadlineMs, Date.now() + rt.env.PAREVM_SEAL_WAIT_MS)
      if (await waitForSeal(rt.records, next, until)) {
        await prefetch?.catch((error: unknown) => rt.logger.warn('intake of the next block failed; planNext receives again', { error: error as Error }))
        prefetch = undefined
        continue
      }
      if (Date.now() >= options.deadlineMs) continue
      rt.logger.warn('planned block not sealed in time; sending its shard messages again', { block: next.toString(), waitedMs: rt.env.PAREVM_SEAL_WAIT_MS })
      await rt.sequencer.planNext()
      continue
    }
    if (result.blocks >= maxBlocks) {
      result.stoppedBecause = 'max-blocks'
      break
    }
    try {
      rt.templatesVersion = await loadTemplates(rt.backend.kv, rt.templates, rt.templatesVersion)
    } catch (error) {
      rt.logger.warn('could not load prediction templates; planning with the ones held', { error: error as Error })
    }
    const plan = await rt.sequencer.planNext()
    if (plan === undefined) {
      if (++idle >= rt.env.PAREVM_IDLE_POLLS && rt.sequencer.carried === 0) break
      continue
    }
    idle = 0
    result.rejected += plan.rejected.length
    result.duplicates += plan.duplicates
    recordPlan(rt, plan)
    if (plan.txCount === 0) continue
    result.blocks++
    result.txs += plan.txCount
    result.lastBlock = plan.block.toString()
    if (result.blocks < maxBlocks) {
      prefetch = rt.sequencer.prefetchIntake()
      prefetch.catch(() => {})
    }
    rt.logger.info('block planned', { block: plan.block.toString(), txs: plan.txCount, shards: plan.shards, rejected: plan.rejected.length, carried: plan.carried })
  }
  // Messages taken in for the next block stay with this (warm) sequencer, or come back after
  // their visibility timeout if the container goes away.
  await prefetch?.catch(() => {})
  return result
}

const runtime = once(async () => createSequencerRuntime(loadEnv(sequencerEnvSchema, 'sequencer')))

/** Leave this much of the Lambda's time for the last block's bookkeeping. */
const SAFETY_MARGIN_MS = 10_000

export const handler = async (event: unknown, context?: { getRemainingTimeInMillis?: () => number }): Promise<SequencerRunResult> => {
  const parsed = sequencerInvocationSchema.safeParse(event ?? {})
  if (!parsed.success) {
    throw new MalformedInputError(`sequencer: unexpected invocation: ${parsed.error.issues[0]?.message ?? 'invalid'}`, {
      hint: 'invoke with a scheduled event or { "maxBlocks"?: n, "budgetMs"?: ms }',
    })
  }
  const rt = await runtime()
  const remaining = context?.getRemainingTimeInMillis?.() ?? 60_000
  const invocation = parsed.data as { maxBlocks?: number; budgetMs?: number }
  const budget = Math.min(invocation.budgetMs ?? Number.MAX_SAFE_INTEGER, remaining - SAFETY_MARGIN_MS)
  const result = await runSequencer(rt, { deadlineMs: Date.now() + Math.max(0, budget), ...(invocation.maxBlocks !== undefined ? { maxBlocks: invocation.maxBlocks } : {}) })
  rt.logger.info('sequencer invocation done', { ...result })
  return result
}
