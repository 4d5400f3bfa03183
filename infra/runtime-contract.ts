/**
 * The contract between the stack and the entry points in functions/: the environment each role
 * reads (functions/commons/config.ts, validated there with zod) and the metrics they emit
 * (Powertools Metrics in Embedded Metric Format, functions/commons/observability.ts: namespace
 * from POWERTOOLS_METRICS_NAMESPACE, dimensions `service` = "parevm" and `role`).
 * test/infra/runtime-contract.test.ts parses the synthesized environments with the entry points'
 * own schemas and checks every charted metric name against the sources that emit it.
 */
import { QUEUES } from '../shared/resources.ts'
import { SERVICE_NAME } from '../functions/commons/observability.ts'
import { sequencerSource } from './access.ts'

import type { z } from 'zod'
import type { coordinatorEnvSchema, ingressEnvSchema, rpcEnvSchema, sequencerEnvSchema, workerEnvSchema } from '../functions/commons/config.ts'
import type { Role } from './access.ts'
import type { DeployConfig } from './config.ts'
import type { EmittedMetric, MetricCatalog } from './constructs/cluster-monitoring.ts'
import type { QueueRole } from '../shared/resources.ts'

/** Read outside the entry points' schemas: Powertools settings, and the GPU backend choice (shared/gpu/config.ts). */
type ExtraKey = 'POWERTOOLS_LOG_LEVEL' | 'POWERTOOLS_METRICS_NAMESPACE' | 'PAREVM_GPU_BACKEND'

/** Variable names are checked against the entry points' schemas at compile time. */
type EnvOf<S extends z.ZodType> = Partial<Record<keyof z.input<S> | ExtraKey, string>>

/**
 * Lambda has no GPU, and the function bundles leave gpu.js and webgpu out (UNUSED_EXTERNALS in
 * constructs/engine-function.ts): every stage runs its CPU implementation there.
 */
const LAMBDA_GPU = { PAREVM_GPU_BACKEND: 'off' } as const

export interface RuntimeResources {
  config: DeployConfig
  queueUrls: Record<QueueRole, string>
  /** The stack's region (ECS tasks need AWS_REGION; Lambda sets it itself and forbids setting it). */
  region: string
}

/** The worker's health endpoint (PAREVM_HEALTH_PORT; the container health check calls it). */
export const WORKER_HEALTH = { port: 8080, path: '/health' } as const

/** Metrics of a deployment go to the namespace named by its prefix (the default prefix gives the functions' default, "parevm"). */
export function metricsNamespace(config: Pick<DeployConfig, 'prefix'>): string {
  return config.prefix
}

function commonEnvironment(r: RuntimeResources) {
  return {
    PAREVM_PREFIX: r.config.prefix,
    PAREVM_INGRESS_QUEUE_URL: r.queueUrls.ingress,
    PAREVM_SHARDS_QUEUE_URL: r.queueUrls.shards,
    PAREVM_DONE_QUEUE_URL: r.queueUrls.done,
    PAREVM_DECODED_QUEUE_URL: r.queueUrls.decoded,
    POWERTOOLS_LOG_LEVEL: 'INFO',
    POWERTOOLS_METRICS_NAMESPACE: metricsNamespace(r.config),
  }
}

/** The chain a role builds blocks of or answers for (sequencer, JSON-RPC). */
function chainEnvironment(r: RuntimeResources) {
  return { PAREVM_CHAIN_ID: String(r.config.chainId), PAREVM_HARDFORK: r.config.hardfork, PAREVM_COINBASE: r.config.coinbase }
}

export function sequencerEnvironment(r: RuntimeResources): EnvOf<typeof sequencerEnvSchema> {
  const c = r.config
  return {
    ...commonEnvironment(r),
    ...LAMBDA_GPU,
    ...chainEnvironment(r),
    PAREVM_SHARDS: String(c.shards),
    PAREVM_BLOCK_SIZE: String(c.blockSize),
    PAREVM_BLOCK_TIME_SEC: String(c.blockIntervalSec),
    // The ingress queue, or the decoded queue when the ingress function consumes the ingress queue.
    PAREVM_INTAKE_SOURCE: sequencerSource(c),
  }
}

/** The ingress function: the next block's rules, as the sequencer judges intake. */
export function ingressEnvironment(r: RuntimeResources): EnvOf<typeof ingressEnvSchema> {
  return {
    ...commonEnvironment(r),
    ...LAMBDA_GPU,
    PAREVM_CHAIN_ID: String(r.config.chainId),
    PAREVM_HARDFORK: r.config.hardfork,
    PAREVM_BLOCK_TIME_SEC: String(r.config.blockIntervalSec),
  }
}

export function coordinatorEnvironment(r: RuntimeResources): EnvOf<typeof coordinatorEnvSchema> {
  return { ...commonEnvironment(r), ...LAMBDA_GPU }
}

export function rpcEnvironment(r: RuntimeResources): EnvOf<typeof rpcEnvSchema> {
  return { ...commonEnvironment(r), ...LAMBDA_GPU, ...chainEnvironment(r) }
}

export function workerEnvironment(r: RuntimeResources): EnvOf<typeof workerEnvSchema> {
  return {
    ...commonEnvironment(r),
    AWS_REGION: r.region,
    PAREVM_VISIBILITY_TIMEOUT_MS: String(QUEUES.shards.visibilityTimeoutSec * 1000),
    PAREVM_HEALTH_PORT: String(WORKER_HEALTH.port),
  }
}

export function runtimeEnvironment(role: Role, r: RuntimeResources): Record<string, string> {
  const env =
    role === 'sequencer' ? sequencerEnvironment(r) : role === 'coordinator' ? coordinatorEnvironment(r) : role === 'rpc' ? rpcEnvironment(r) : role === 'ingress' ? ingressEnvironment(r) : workerEnvironment(r)
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined))
}

const emitted = (role: Role, metricName: string, statistics: readonly string[], label: string): EmittedMetric => ({
  metricName,
  dimensions: { service: SERVICE_NAME, role },
  statistics,
  label,
})

/**
 * What the dashboard charts, by panel. Names are those the entry points pass to
 * `metrics.addMetric` (functions/sequence-block.ts, seal-block.ts, execute-shards.ts, rpc.ts,
 * and ingress.ts where the ingress function is deployed).
 */
export function metricCatalog(config: Pick<DeployConfig, 'prefix'> & Partial<Pick<DeployConfig, 'ingressFunction'>>): MetricCatalog & { logErrors: string } {
  const ingress = config.ingressFunction === true
  return {
    namespace: metricsNamespace(config),
    throughput: [
      emitted('coordinator', 'BlockTxs', ['Sum'], 'transactions sealed'),
      emitted('coordinator', 'TxPerSecond', ['Average'], 'tx/s between seals'),
      emitted('coordinator', 'BlocksSealed', ['Sum'], 'blocks sealed'),
      emitted('sequencer', 'PlannedTxs', ['Sum'], 'transactions planned'),
      emitted('worker', 'ShardsExecuted', ['Sum'], 'shards executed'),
      emitted('rpc', 'RpcRequests', ['Sum'], 'JSON-RPC requests'),
      ...(ingress ? [emitted('ingress', 'ForwardedTxs', ['Sum'], 'forwarded by the ingress function')] : []),
    ],
    latency: [
      emitted('coordinator', 'SealMs', ['p50', 'p90', 'Maximum'], 'seal ms'),
      emitted('coordinator', 'BlockIntervalMs', ['p50', 'p90'], 'ms between seals'),
      emitted('coordinator', 'DoneQueueWaitMs', ['p90'], 'done-queue wait ms'),
      emitted('worker', 'ShardQueueWaitMs', ['p90'], 'shard-queue wait ms'),
      emitted('rpc', 'RpcLatencyMs', ['p50', 'p99'], 'JSON-RPC request ms'),
      ...(ingress ? [emitted('ingress', 'IngressQueueWaitMs', ['p90'], 'ingress-queue wait ms'), emitted('ingress', 'IngressBatchMs', ['p90'], 'ingress batch ms')] : []),
    ],
    conflicts: [
      // A re-execution is a transaction whose read was stale: a conflict the prediction missed.
      emitted('coordinator', 'Reexecuted', ['Sum'], 're-executed (conflicts)'),
      emitted('coordinator', 'Redeliveries', ['Sum'], 'done messages redelivered'),
      emitted('worker', 'DuplicateShardDeliveries', ['Sum'], 'shards redelivered'),
      emitted('worker', 'ShardsNotReady', ['Sum'], 'shards before their parent'),
    ],
    errors: [
      emitted('sequencer', 'Rejected', ['Sum'], 'rejected at intake'),
      emitted('coordinator', 'BlockRejected', ['Sum'], 'rejected at execution'),
      // DynamoDB throttling and unprocessed items the adapters retried.
      emitted('coordinator', 'StoreRetries', ['Sum'], 'coordinator store retries'),
      emitted('worker', 'StoreRetries', ['Sum'], 'worker store retries'),
      emitted('rpc', 'RpcErrors', ['Sum'], 'JSON-RPC error answers'),
      ...(ingress
        ? [
            emitted('ingress', 'IngressRejected', ['Sum'], 'rejected by the ingress function'),
            emitted('ingress', 'FailedMessages', ['Sum'], 'ingress messages failed (redelivered)'),
            emitted('ingress', 'StoreRetries', ['Sum'], 'ingress store retries'),
          ]
        : []),
    ],
    // Counted from the log groups by metric filters (ERROR lines, per role).
    logErrors: 'ErrorLogLines',
  }
}
