/**
 * The worker as a long-running process (an ECS task on a GPU instance): polls its shard queue
 * with the engine's worker loop (shared/cluster/worker-loop.ts) - long polling, a visibility
 * heartbeat while a shard executes, delete when staged and reported - and serves an HTTP
 * health check. SIGTERM (ECS stopping the task, scale-in) drains: no new shard is taken, the one
 * in hand finishes, then the process exits 0. A shard left unfinished by a crash comes back
 * after its visibility timeout; staging is put-if-absent, so nothing is applied twice.
 *
 * Run: node dist/execute-shards.js (or tsx functions/execute-shards.ts) with the environment of
 * functions/commons/config.ts (PAREVM_PREFIX, AWS_REGION, ...).
 */
import { realpathSync, writeSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { fileURLToPath } from 'node:url'

import { runWorkerLoop, type StopSignal } from '../shared/cluster/worker-loop.ts'
import { ParevmError } from '../shared/errors.ts'
import { ShardWorker, type ShardOutcome } from '../shared/worker/shard-worker.ts'
import { openAwsRuntime, storeRetries } from './commons/clients.ts'
import { loadEnv, workerEnvSchema, type WorkerEnv } from './commons/config.ts'
import { MetricUnit, createLogger, createMetrics, engineLogger } from './commons/observability.ts'

import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger'
import type { Metrics } from '@aws-lambda-powertools/metrics'
import type { AwsBackend } from '../shared/adapters/aws/provision.ts'
import type { KeyValueStore } from '../shared/ports/kv-store.ts'
import type { Queue, QueueMessage, ReceiveOptions } from '../shared/ports/queue.ts'

export interface WorkerStatus {
  startedAtMs: number
  lastPollAtMs: number
  busySinceMs: number | undefined
  shards: number
  txs: number
  draining: boolean
  /** Adapter retries (throttling, unprocessed items) counted so far. */
  storeRetries: number
}

export interface WorkerRuntime {
  env: WorkerEnv
  backend: AwsBackend
  worker: ShardWorker
  shardQueue: Queue
  logger: PowertoolsLogger
  metrics: Metrics
  status: WorkerStatus
}

/** Consecutive failures of the loop itself (receive errors: SQS unreachable) before exiting. */
const LOOP_FAILURES_MAX = 10

/**
 * Tests only (PAREVM_FAULT_KILL): SIGKILL this process when its first shard is about to be
 * staged (mid-batch: executed, nothing written) or right after it was staged (before it is
 * reported done and acknowledged).
 */
function withKillFault(kv: KeyValueStore, mode: WorkerEnv['PAREVM_FAULT_KILL']): KeyValueStore {
  if (mode === undefined) return kv
  let fired = false
  const kill = (): Promise<never> => {
    fired = true
    // Synchronous write: the line must reach the pipe before the process dies.
    writeSync(1, `${JSON.stringify({ level: 'WARN', message: 'fault injection: killing this worker', fault: mode, pid: process.pid })}\n`)
    process.kill(process.pid, 'SIGKILL')
    return new Promise<never>(() => {})
  }
  return {
    get: (keys) => kv.get(keys),
    write: (ops) => kv.write(ops),
    query: (table, pk, options) => kv.query(table, pk, options),
    transact: async (ops) => {
      const staging = !fired && ops.some((op) => op.op === 'put' && op.item.table === 'staged')
      if (staging && mode === 'before-stage') await kill()
      await kv.transact(ops)
      if (staging && mode === 'after-stage') await kill()
    },
  }
}

/** The shard queue, observed: last poll time and each message's wait in the queue. */
function observedQueue(queue: Queue, rt: { status: WorkerStatus; metrics: Metrics; logger: PowertoolsLogger }): Queue {
  return {
    name: queue.name,
    send: (entries) => queue.send(entries),
    delete: (handles) => queue.delete(handles),
    extendVisibility: (handle, ms) => queue.extendVisibility(handle, ms),
    depth: () => queue.depth(),
    receive: async (options: ReceiveOptions): Promise<QueueMessage[]> => {
      const messages = await queue.receive(options)
      rt.status.lastPollAtMs = Date.now()
      for (const m of messages) {
        rt.status.busySinceMs = Date.now()
        rt.metrics.addMetric('ShardQueueWaitMs', MetricUnit.Milliseconds, Math.max(0, Date.now() - m.sentAtMs))
        let shard: { block?: string; shard?: number } = {}
        try {
          shard = JSON.parse(m.body) as typeof shard
        } catch {
          // malformed: the worker reports it
        }
        rt.logger.info('shard received', { block: shard.block, shard: shard.shard, messageId: m.id, receiveCount: m.receiveCount })
      }
      return messages
    },
  }
}

export async function createWorkerRuntime(env: WorkerEnv, options: { backend?: AwsBackend; logger?: PowertoolsLogger; metrics?: Metrics } = {}): Promise<WorkerRuntime> {
  const backend = options.backend ?? (await openAwsRuntime(env, { checkTables: true, queues: ['shards', 'done'] })).backend
  const logger = options.logger ?? createLogger('worker')
  const metrics = options.metrics ?? createMetrics('worker')
  const status: WorkerStatus = { startedAtMs: Date.now(), lastPollAtMs: Date.now(), busySinceMs: undefined, shards: 0, txs: 0, draining: false, storeRetries: 0 }
  const shardQueue = observedQueue(backend.queues.shards, { status, metrics, logger })
  const worker = new ShardWorker({
    kv: withKillFault(backend.kv, env.PAREVM_FAULT_KILL),
    shardQueue,
    doneQueue: backend.queues.done,
    log: engineLogger(logger),
  })
  return { env, backend, worker, shardQueue, logger, metrics, status }
}

function recordOutcome(rt: WorkerRuntime, outcome: ShardOutcome): void {
  const { metrics, logger, status } = rt
  status.busySinceMs = undefined
  const retries = storeRetries(rt.backend)
  metrics.addMetric('StoreRetries', MetricUnit.Count, retries - status.storeRetries)
  status.storeRetries = retries
  const fields = { block: outcome.block.toString(), shard: outcome.shard }
  if (outcome.kind === 'executed') {
    status.shards++
    status.txs += outcome.txs
    metrics.addMetric('ShardsExecuted', MetricUnit.Count, 1)
    metrics.addMetric('ShardTxs', MetricUnit.Count, outcome.txs)
    for (const [name, value] of Object.entries(outcome.timings)) {
      if (name.endsWith('Ms')) metrics.addMetric(`Shard_${name}`, MetricUnit.Milliseconds, value)
    }
    logger.info('shard executed', { ...fields, txs: outcome.txs, timings: outcome.timings })
  } else if (outcome.kind === 'already-staged') {
    // A redelivered shard: its results were staged before (put-if-absent): nothing is written twice.
    metrics.addMetric('DuplicateShardDeliveries', MetricUnit.Count, 1)
    logger.info('shard already staged (redelivery); reported done again', fields)
  } else if (outcome.kind === 'stale') {
    metrics.addMetric('StaleShards', MetricUnit.Count, 1)
    logger.info('shard of a sealed block dropped', fields)
  } else {
    metrics.addMetric('ShardsNotReady', MetricUnit.Count, 1)
    logger.debug('shard not ready (parent not sealed yet)', { ...fields, head: outcome.head.toString() })
  }
  metrics.publishStoredMetrics()
}

/** The polling loop until `signal.stopped`; a failing loop (SQS unreachable) restarts, bounded. */
export async function runShardWorker(rt: WorkerRuntime, signal: StopSignal): Promise<void> {
  let failures = 0
  while (!signal.stopped) {
    try {
      await runWorkerLoop(rt.worker, rt.shardQueue, signal, {
        visibilityTimeoutMs: rt.env.PAREVM_VISIBILITY_TIMEOUT_MS,
        waitMs: rt.env.PAREVM_RECEIVE_WAIT_MS,
        log: engineLogger(rt.logger),
        onOutcome: (outcome) => {
          failures = 0
          recordOutcome(rt, outcome)
        },
      })
    } catch (error) {
      failures++
      rt.logger.error('worker loop failed; restarting it', { failures, error: error as Error })
      if (failures >= LOOP_FAILURES_MAX) throw new ParevmError(`worker loop failed ${failures} times in a row`, { cause: error })
      await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** failures)))
    }
  }
}

/** GET /health: 200 while polling, 503 when draining or stalled (no poll and no shard in hand). */
export function startHealthServer(rt: WorkerRuntime, port: number): Server {
  const server = createServer((req, res) => {
    const { status } = rt
    const now = Date.now()
    const busyMs = status.busySinceMs === undefined ? 0 : now - status.busySinceMs
    const stalled = status.busySinceMs === undefined ? now - status.lastPollAtMs > rt.env.PAREVM_RECEIVE_WAIT_MS + 30_000 : busyMs > 4 * rt.env.PAREVM_VISIBILITY_TIMEOUT_MS
    const state = status.draining ? 'draining' : stalled ? 'stalled' : 'ok'
    const body = JSON.stringify({ status: state, pid: process.pid, shards: status.shards, txs: status.txs, lastPollAgoMs: now - status.lastPollAtMs, busyMs, uptimeMs: now - status.startedAtMs })
    res.writeHead(req.url === '/health' && state === 'ok' ? 200 : req.url === '/health' ? 503 : 404, { 'content-type': 'application/json' })
    res.end(req.url === '/health' ? body : '{"error":"not found"}')
  })
  server.listen(port)
  return server
}

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const logger = createLogger('worker')
  const config = loadEnv(workerEnvSchema, 'worker', env)
  const rt = await createWorkerRuntime(config, { logger })
  const signal: StopSignal = { stopped: false }
  const health = config.PAREVM_HEALTH_PORT > 0 ? startHealthServer(rt, config.PAREVM_HEALTH_PORT) : undefined
  const drain = (name: string): void => {
    if (signal.stopped) {
      logger.warn(`second ${name}: exiting now`)
      process.exit(130)
    }
    signal.stopped = true
    rt.status.draining = true
    logger.info('draining: finishing the shard in hand, taking no new one', { signal: name })
  }
  process.on('SIGTERM', () => drain('SIGTERM'))
  process.on('SIGINT', () => drain('SIGINT'))
  logger.info('worker started', { pid: process.pid, prefix: config.PAREVM_PREFIX, healthPort: config.PAREVM_HEALTH_PORT, receiveWaitMs: config.PAREVM_RECEIVE_WAIT_MS })
  try {
    await runShardWorker(rt, signal)
  } finally {
    await new Promise<void>((resolve) => (health === undefined ? resolve() : health.close(() => resolve())))
  }
  // Where the time went, per store and queue operation (calls, items, milliseconds summed).
  logger.info('worker stopped', {
    shards: rt.status.shards,
    txs: rt.status.txs,
    store: rt.backend.kv.stats,
    shardQueue: rt.backend.queues.shards.stats,
    doneQueue: rt.backend.queues.done.stats,
  })
  return 0
}

function isEntryPoint(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (isEntryPoint()) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      const text = error instanceof ParevmError ? error.describe() : ((error as Error)?.stack ?? String(error))
      process.stderr.write(`${JSON.stringify({ level: 'ERROR', message: 'worker failed', error: text })}\n`)
      process.exit(1)
    },
  )
}
