/**
 * The sequencer as a Lambda function (`handler`). It consumes the ingress queue itself - an
 * event source mapping would acknowledge messages when the function returns, but the sequencer
 * must control acknowledgements (a message is deleted only once its transactions are in a
 * stored plan or rejected) and may carry transactions into the next block.
 *
 * One invocation plans blocks one after another until the ingress queue stays empty, the
 * invocation's time budget runs out, or `maxBlocks` is reached: plan block N (head + 1), wait
 * until the coordinator seals it (polling the head), plan N + 1 - the block driver of
 * `shared/cluster/driver.ts`. A plan that is not sealed within PAREVM_SEAL_WAIT_MS has its shard
 * messages sent again (a crash between storing a plan and dispatching it loses nothing); a plan
 * stored by an earlier invocation is waited for first. Invoked by an EventBridge schedule; run it
 * with reserved concurrency 1: two sequencers would plan the same block number from different
 * transactions.
 *
 * PAREVM_INTAKE_SOURCE=decoded (set by the stack when the ingress function is deployed): it reads
 * the decoded queue instead, transactions functions/ingress.ts already judged, and never touches
 * the ingress queue.
 */
import { Records } from '../shared/store/records.ts'
import { Sequencer, dispatchPlan, type PlanResult } from '../shared/sequencer/sequencer.ts'
import { TemplateRegistry } from '../shared/predict/templates.ts'
import { ConfigError, InvariantError, MalformedInputError } from '../shared/errors.ts'
import { driveBlocks, sealByHeadPolling } from '../shared/cluster/driver.ts'
import { realClock, type Clock } from '../shared/ports/clock.ts'
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
  /** Time: the deadline, seal polling (default: the real clock). */
  clock: Clock
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

export async function createSequencerRuntime(env: SequencerEnv, options: { backend?: AwsBackend; logger?: PowertoolsLogger; metrics?: Metrics; clock?: Clock } = {}): Promise<SequencerRuntime> {
  // Its input: the ingress queue, or (with the ingress function deployed) the decoded queue.
  const input = env.PAREVM_INTAKE_SOURCE === 'decoded' ? 'decoded' : 'ingress'
  const backend = options.backend ?? (await openAwsRuntime(env, { checkTables: true, queues: [input, 'shards'] })).backend
  const logger = options.logger ?? createLogger('sequencer')
  const templates = new TemplateRegistry()
  const clock = options.clock ?? realClock
  const sequencer = new Sequencer({
    kv: backend.kv,
    clock,
    ingress: backend.queues[input],
    source: env.PAREVM_INTAKE_SOURCE,
    shardQueue: backend.queues.shards,
    templates,
    config: sequencerConfig(env),
    log: engineLogger(logger),
  })
  return { env, backend, sequencer, records: new Records(backend.kv), templates, templatesVersion: -1, logger, metrics: options.metrics ?? createMetrics('sequencer'), clock }
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
  const driven = await driveBlocks<PlanResult, true>({
    clock: rt.clock,
    log: engineLogger(rt.logger),
    deadlineMs: options.deadlineMs,
    ...(options.maxBlocks !== undefined ? { maxBlocks: options.maxBlocks } : {}),
    sealWaitMs: rt.env.PAREVM_SEAL_WAIT_MS,
    // A plan stored by an earlier invocation (a crash, a timeout) is waited for first.
    resume: async () => {
      const head = await rt.records.getHead()
      if (head === undefined) throw new ConfigError('the store has no chain head: bootstrap the chain (genesis) first')
      const next = BigInt(head.number) + 1n
      return (await rt.records.getPlanMeta(next)) !== undefined ? next : undefined
    },
    plan: async () => {
      try {
        rt.templatesVersion = await loadTemplates(rt.backend.kv, rt.templates, rt.templatesVersion)
      } catch (error) {
        rt.logger.warn('could not load prediction templates; planning with the ones held', { error: error as Error })
      }
      const plan = await rt.sequencer.planNext()
      if (plan === undefined) return { kind: 'none', tookIn: false }
      result.rejected += plan.rejected.length
      result.duplicates += plan.duplicates
      recordPlan(rt, plan)
      if (plan.txCount === 0) return { kind: 'none', tookIn: true }
      result.txs += plan.txCount
      result.lastBlock = plan.block.toString()
      rt.logger.info('block planned', { block: plan.block.toString(), txs: plan.txCount, shards: plan.shards, rejected: plan.rejected.length, carried: plan.carried })
      return { kind: 'block', block: plan.block, plan }
    },
    // The next block's intake (receive, decode, recover senders), taken while the current one
    // executes. What it took in for a block not planned stays with this (warm) sequencer, or
    // comes back after its visibility timeout if the container goes away.
    prefetch: () => rt.sequencer.prefetchIntake(),
    // The seal is seen in the store: the coordinator runs elsewhere.
    awaitSeal: sealByHeadPolling(rt.records, rt.clock),
    notSealed: async (block, waitedMs) => {
      rt.logger.warn('planned block not sealed in time; sending its shard messages again', { block: block.toString(), waitedMs })
      const meta = await rt.records.getPlanMeta(block)
      if (meta === undefined) throw new InvariantError(`block ${block} has no stored plan but was waited for`)
      await dispatchPlan(rt.backend.queues.shards, meta)
    },
    // Empty intakes in a row end the invocation, unless transactions are held for a later block.
    idle: { sleepMs: 0, stop: (idleRounds) => idleRounds >= rt.env.PAREVM_IDLE_POLLS && rt.sequencer.carried === 0 },
  })
  if (driven.stoppedBecause === 'end') throw new InvariantError('the sequencer\'s intake never ends')
  result.blocks = driven.blocks
  result.stoppedBecause = driven.stoppedBecause
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
  const result = await runSequencer(rt, { deadlineMs: rt.clock.now() + Math.max(0, budget), ...(invocation.maxBlocks !== undefined ? { maxBlocks: invocation.maxBlocks } : {}) })
  rt.logger.info('sequencer invocation done', { ...result })
  return result
}
