/**
 * The coordinator as a Lambda function (`handler`), fed by the done queue through an SQS event
 * source mapping. Records are handled one after another (a batch is usually the shards of one
 * block) and failures are reported per record (Powertools processPartialResponse), so SQS
 * redelivers only those, and after the queue's maxReceiveCount moves them to its dead-letter
 * queue.
 *
 * The state trie: a container keeps a lazy WorldStateTrie over the `trie` table. Each seal
 * starts from the parent block's state root: a warm container that sealed the parent continues
 * in memory; a cold one (or one that missed blocks sealed by another container) loads only the
 * nodes on the paths the block writes, in batched rounds, one per trie level. Every new node is
 * written to the table before the block is sealed, so any container can continue from any
 * sealed head. Reserved concurrency 1 keeps one warm container (fewest node loads) but is not
 * needed for correctness: sealing is exactly-once by a conditional write.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch'

import { Coordinator, type DoneOutcome } from '../shared/coordinator/coordinator.ts'
import { MalformedInputError, ParevmError, isRetryable } from '../shared/errors.ts'
import { TemplateRegistry } from '../shared/predict/templates.ts'
import { KvTrieNodeStore } from '../shared/trie/node-store.ts'
import { WorldStateTrie } from '../shared/trie/world-state.ts'
import { openAwsRuntime, once, storeRetries } from './commons/clients.ts'
import { coordinatorEnvSchema, loadEnv, type CoordinatorEnv } from './commons/config.ts'
import { recordToMessage, sqsEventSchema, sqsRecordSchema } from './commons/events.ts'
import { loadTemplates, saveTemplates } from './commons/templates.ts'
import { MetricUnit, createLogger, createMetrics, engineLogger } from './commons/observability.ts'

import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger'
import type { Metrics } from '@aws-lambda-powertools/metrics'
import type { AwsBackend } from '../shared/adapters/aws/provision.ts'
import type { QueueMessage } from '../shared/ports/queue.ts'

export interface CoordinatorRuntime {
  backend: AwsBackend
  coordinator: Coordinator
  trie: WorldStateTrie
  /** Learned prediction templates, shared with the sequencer through the meta table. */
  templates: TemplateRegistry
  templatesSaved: string | undefined
  /** When this container last sealed a block (for the throughput metric). */
  lastSealAtMs: number | undefined
  logger: PowertoolsLogger
  metrics: Metrics
}

export async function createCoordinatorRuntime(env: CoordinatorEnv, options: { backend?: AwsBackend; logger?: PowertoolsLogger; metrics?: Metrics } = {}): Promise<CoordinatorRuntime> {
  const backend = options.backend ?? (await openAwsRuntime(env, { checkTables: true, queues: [] })).backend
  const logger = options.logger ?? createLogger('coordinator')
  const trie = WorldStateTrie.lazy(new KvTrieNodeStore(backend.kv))
  // Start from what earlier containers learned, so a cold start does not overwrite it with less.
  const templates = new TemplateRegistry()
  await loadTemplates(backend.kv, templates, -1)
  const coordinator = new Coordinator({ kv: backend.kv, templates, trie, log: engineLogger(logger) })
  return { backend, coordinator, trie, templates, templatesSaved: JSON.stringify(templates.toJSON()), lastSealAtMs: undefined, logger, metrics: options.metrics ?? createMetrics('coordinator') }
}

/** One done message: record the shard, seal the block when it was the last one. */
export async function handleDoneMessage(rt: CoordinatorRuntime, message: QueueMessage): Promise<DoneOutcome> {
  const { logger, metrics } = rt
  const queueWaitMs = Math.max(0, Date.now() - message.sentAtMs)
  const loadedBefore = rt.trie.lazyStats.nodesLoaded
  const retriesBefore = storeRetries(rt.backend)
  const t0 = performance.now()
  let outcome: DoneOutcome
  try {
    outcome = await rt.coordinator.handleDone(message)
  } catch (error) {
    // A broken invariant or bad input is not an ordinary retryable condition: say which it is.
    const retryable = isRetryable(error)
    logger.error(retryable ? 'done message failed; SQS will deliver it again' : 'done message hit a broken invariant or bad input (not retryable); SQS delivers it until the dead-letter queue', {
      messageId: message.id,
      receiveCount: message.receiveCount,
      retryable,
      error: error as Error,
    })
    throw error
  }
  metrics.addMetric('DoneQueueWaitMs', MetricUnit.Milliseconds, queueWaitMs)
  if (message.receiveCount > 1) metrics.addMetric('Redeliveries', MetricUnit.Count, 1)
  if (outcome.kind === 'sealed') {
    const { report } = outcome.sealed
    const sealMs = performance.now() - t0
    metrics.addMetric('SealMs', MetricUnit.Milliseconds, sealMs)
    // Throughput: transactions over the time since this container's previous seal.
    const now = Date.now()
    if (rt.lastSealAtMs !== undefined && now > rt.lastSealAtMs) {
      metrics.addMetric('BlockIntervalMs', MetricUnit.Milliseconds, now - rt.lastSealAtMs)
      metrics.addMetric('TxPerSecond', MetricUnit.CountPerSecond, (report.included * 1000) / (now - rt.lastSealAtMs))
    }
    rt.lastSealAtMs = now
    metrics.addMetric('BlocksSealed', MetricUnit.Count, 1)
    metrics.addMetric('BlockTxs', MetricUnit.Count, report.included)
    metrics.addMetric('BlockRejected', MetricUnit.Count, report.rejected)
    metrics.addMetric('Reexecuted', MetricUnit.Count, report.reexecuted)
    metrics.addMetric('BlockGasUsed', MetricUnit.Count, Number(report.gasUsed))
    metrics.addMetric('TrieNodesLoaded', MetricUnit.Count, rt.trie.lazyStats.nodesLoaded - loadedBefore)
    for (const [name, value] of Object.entries(report.timings)) {
      if (name.endsWith('Ms')) metrics.addMetric(`Seal_${name}`, MetricUnit.Milliseconds, value)
    }
    logger.info('block sealed', {
      block: report.block.toString(),
      hash: report.hash,
      stateRoot: report.stateRoot,
      txs: report.included,
      rejected: report.rejected,
      shards: report.shards,
      reexecuted: report.reexecuted,
      gasUsed: report.gasUsed.toString(),
      timings: report.timings,
      sealMs,
    })
    for (const r of outcome.sealed.rejections) logger.info('transaction rejected at execution', { block: report.block.toString(), txHash: r.id, code: r.code, reason: r.reason })
    // Templates are advice: failing to share them never fails a sealed block's message.
    try {
      const saved = await saveTemplates(rt.backend.kv, rt.templates, report.block, rt.templatesSaved)
      if (saved.result === 'saved') rt.templatesSaved = saved.text
      if (saved.result === 'too-large') logger.warn('prediction templates too large to share; the sequencer keeps the last saved ones', { bytes: saved.text.length })
    } catch (error) {
      logger.warn('could not save prediction templates', { error: error as Error })
    }
  } else {
    logger.debug('shard done', { block: outcome.block.toString(), outcome: outcome.kind, ...(outcome.kind === 'waiting' ? { done: outcome.done, of: outcome.of } : {}) })
  }
  metrics.addMetric('StoreRetries', MetricUnit.Count, storeRetries(rt.backend) - retriesBefore)
  metrics.publishStoredMetrics()
  return outcome
}


const runtime = once(async () => createCoordinatorRuntime(loadEnv(coordinatorEnvSchema, 'coordinator')))

/** The handler for a runtime (tests pass their own). */
export function createHandler(getRuntime: () => Promise<CoordinatorRuntime>) {
  const processor = new BatchProcessor(EventType.SQS)
  return async (event: unknown, context?: unknown): Promise<{ batchItemFailures: { itemIdentifier: string }[] }> => {
    const parsed = sqsEventSchema.safeParse(event)
    if (!parsed.success) throw new MalformedInputError(`coordinator: not an SQS event: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
    const rt = await getRuntime()
    const recordHandler = async (record: unknown): Promise<DoneOutcome> => handleDoneMessage(rt, recordToMessage(sqsRecordSchema.parse(record)))
    return processPartialResponse(parsed.data as { Records: Record<string, unknown>[] }, recordHandler, processor, {
      ...(context !== undefined ? { context: context as never } : {}),
      // One record at a time: records of one block seal it once, in order.
      processInParallel: false,
      // Every failure is reported per record: SQS redelivers them (DLQ after maxReceiveCount).
      throwOnFullBatchFailure: false,
    })
  }
}

export const handler = createHandler(runtime)
