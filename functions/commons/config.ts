/**
 * Configuration of the entry points, from environment variables, validated once at start with
 * zod. Every missing or bad variable is reported at once, by name, with what was expected.
 * The CDK stack (infra/) sets these; ENV_DOCS is the reference (docs/integration-tests.md).
 */
import { z } from 'zod'

import { SUPPORTED_HARDFORKS } from '../../shared/chain/common.ts'
import { ConfigError } from '../../shared/errors.ts'
import { QUEUES, type QueueRole } from '../../shared/resources.ts'

import type { SequencerConfig } from '../../shared/sequencer/sequencer.ts'

const int = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    z.number({ error: `expected an integer ${min}..${max}` }).int({ error: `expected an integer ${min}..${max}` }).min(min, { error: `expected an integer ${min}..${max}` }).max(max, { error: `expected an integer ${min}..${max}` }),
  )

const url = z.url({ error: 'expected a URL' })

/** What each variable means (for errors and the docs). */
export const ENV_DOCS: Record<string, string> = {
  PAREVM_PREFIX: 'prefix of every table and queue name (tables `${prefix}-state`…, queues `${prefix}-ingress`…)',
  AWS_REGION: 'AWS region (set by Lambda and ECS; any value for local servers)',
  PAREVM_INGRESS_QUEUE_URL: 'URL of the ingress queue (optional: looked up by name from the prefix)',
  PAREVM_SHARDS_QUEUE_URL: 'URL of the shard queue (optional: looked up by name)',
  PAREVM_DONE_QUEUE_URL: 'URL of the done queue (optional: looked up by name)',
  PAREVM_DECODED_QUEUE_URL: 'URL of the decoded queue, between the ingress function and the sequencer (optional: looked up by name)',
  PAREVM_INTAKE_SOURCE: 'sequencer: where it takes transactions: `ingress` (raw ingress messages, judged by the sequencer itself; default) or `decoded` (the decoded queue the ingress function fills; the stack sets it when it deploys that function)',
  PAREVM_CHAIN_ID: 'sequencer, ingress function and rpc: EIP-155 chain id of the chain it builds',
  PAREVM_HARDFORK: `sequencer, ingress function and rpc: the chain's hardfork (${SUPPORTED_HARDFORKS.join(', ')}; default cancun)`,
  PAREVM_COINBASE: 'sequencer and rpc: block beneficiary, 0x-prefixed 20-byte address',
  PAREVM_SHARDS: 'sequencer: most shards a block is cut into (default 8)',
  PAREVM_BLOCK_SIZE: 'sequencer: most transactions per block (default 1000)',
  PAREVM_BLOCK_TIME_SEC: 'sequencer and ingress function: seconds between block timestamps (default 2)',
  PAREVM_INTAKE_WAIT_MS: 'sequencer: long-poll wait for the first transactions of a block (default 1000)',
  PAREVM_SEAL_WAIT_MS: 'sequencer: how long to wait for a planned block to seal before re-sending its shard messages (default 60000)',
  PAREVM_IDLE_POLLS: 'sequencer: empty intakes in a row after which an invocation ends (default 3)',
  PAREVM_VISIBILITY_TIMEOUT_MS: `worker: visibility timeout of a shard message while executing, kept alive by heartbeats (default ${QUEUES.shards.visibilityTimeoutSec * 1000})`,
  PAREVM_RECEIVE_WAIT_MS: 'worker: long-poll wait of each receive (default 20000)',
  PAREVM_HEALTH_PORT: 'worker: port of the HTTP health check GET /health (default 8080; 0 disables it)',
  PAREVM_FAULT_KILL: 'tests only: before-stage | after-stage - the worker kills itself (SIGKILL) at that point of its first shard',
  POWERTOOLS_LOG_LEVEL: 'log level (DEBUG, INFO, WARN, ERROR; default INFO)',
  POWERTOOLS_METRICS_NAMESPACE: 'CloudWatch namespace of the metrics (default parevm)',
}

const commonShape = {
  PAREVM_PREFIX: z.string({ error: 'required' }).regex(/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,39}$/, { error: 'expected 1-40 letters, digits, - or _' }),
  AWS_REGION: z.string({ error: 'required' }).min(1, { error: 'required' }),
  PAREVM_INGRESS_QUEUE_URL: url.optional(),
  PAREVM_SHARDS_QUEUE_URL: url.optional(),
  PAREVM_DONE_QUEUE_URL: url.optional(),
  PAREVM_DECODED_QUEUE_URL: url.optional(),
}

export const sequencerEnvSchema = z.object({
  ...commonShape,
  PAREVM_CHAIN_ID: int(1, 2 ** 48),
  PAREVM_HARDFORK: z.enum(SUPPORTED_HARDFORKS, { error: `expected one of ${SUPPORTED_HARDFORKS.join(', ')}` }).default('cancun'),
  PAREVM_COINBASE: z.string({ error: 'required' }).regex(/^0x[0-9a-fA-F]{40}$/, { error: 'expected a 0x-prefixed 20-byte address' }),
  PAREVM_SHARDS: int(1, 4096).default(8),
  PAREVM_BLOCK_SIZE: int(1, 100_000).default(1000),
  PAREVM_BLOCK_TIME_SEC: int(1, 3600).default(2),
  PAREVM_INTAKE_WAIT_MS: int(0, 20_000).default(1000),
  PAREVM_SEAL_WAIT_MS: int(1000, 3_600_000).default(60_000),
  PAREVM_IDLE_POLLS: int(1, 1000).default(3),
  PAREVM_INTAKE_SOURCE: z.enum(['ingress', 'decoded'], { error: 'expected ingress or decoded' }).default('ingress'),
})

export const coordinatorEnvSchema = z.object(commonShape)

/** The JSON-RPC function: the chain it answers for (as the sequencer builds it). */
export const rpcEnvSchema = z.object({
  ...commonShape,
  PAREVM_CHAIN_ID: sequencerEnvSchema.shape.PAREVM_CHAIN_ID,
  PAREVM_HARDFORK: sequencerEnvSchema.shape.PAREVM_HARDFORK,
  PAREVM_COINBASE: sequencerEnvSchema.shape.PAREVM_COINBASE,
})

/**
 * The ingress function (functions/ingress.ts): the chain's rules for the next block (chain id,
 * hardfork, block time), as the sequencer judges intake.
 */
export const ingressEnvSchema = z.object({
  ...commonShape,
  PAREVM_CHAIN_ID: sequencerEnvSchema.shape.PAREVM_CHAIN_ID,
  PAREVM_HARDFORK: sequencerEnvSchema.shape.PAREVM_HARDFORK,
  PAREVM_BLOCK_TIME_SEC: sequencerEnvSchema.shape.PAREVM_BLOCK_TIME_SEC,
})

export const workerEnvSchema = z.object({
  ...commonShape,
  PAREVM_VISIBILITY_TIMEOUT_MS: int(1000, 43_200_000).default(QUEUES.shards.visibilityTimeoutSec * 1000),
  PAREVM_RECEIVE_WAIT_MS: int(0, 20_000).default(20_000),
  PAREVM_HEALTH_PORT: int(0, 65_535).default(8080),
  PAREVM_FAULT_KILL: z.enum(['before-stage', 'after-stage'], { error: 'expected before-stage or after-stage' }).optional(),
})

export type SequencerEnv = z.infer<typeof sequencerEnvSchema>
export type CoordinatorEnv = z.infer<typeof coordinatorEnvSchema>
export type RpcEnv = z.infer<typeof rpcEnvSchema>
export type IngressEnv = z.infer<typeof ingressEnvSchema>
export type WorkerEnv = z.infer<typeof workerEnvSchema>
export type CommonEnv = z.infer<z.ZodObject<typeof commonShape>>

/** Parse the environment for a role; a ConfigError names every bad variable. */
export function loadEnv<S extends z.ZodType>(schema: S, role: string, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings count as unset (a template's blank default).
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = schema.safeParse(input)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '?')
    const given = env[name]
    const what = given === undefined || given === '' ? 'missing' : `${JSON.stringify(given)}: ${issue.message}`
    return `${name} ${what}${ENV_DOCS[name] !== undefined ? ` (${ENV_DOCS[name]})` : ''}`
  })
  throw new ConfigError(`${role}: invalid environment: ${problems.map((p) => p.split(' (')[0]).join('; ')}`, {
    details: problems.join('\n'),
    hint: 'set these environment variables (the CDK stack sets them on AWS)',
  })
}

export function queueUrls(env: CommonEnv): Partial<Record<QueueRole, string>> {
  return {
    ...(env.PAREVM_INGRESS_QUEUE_URL !== undefined ? { ingress: env.PAREVM_INGRESS_QUEUE_URL } : {}),
    ...(env.PAREVM_SHARDS_QUEUE_URL !== undefined ? { shards: env.PAREVM_SHARDS_QUEUE_URL } : {}),
    ...(env.PAREVM_DONE_QUEUE_URL !== undefined ? { done: env.PAREVM_DONE_QUEUE_URL } : {}),
    ...(env.PAREVM_DECODED_QUEUE_URL !== undefined ? { decoded: env.PAREVM_DECODED_QUEUE_URL } : {}),
  }
}

/** The chain the sequencer builds and the ingress function judges for. */
export function chainSpec(env: Pick<SequencerEnv, 'PAREVM_CHAIN_ID' | 'PAREVM_HARDFORK'>): SequencerConfig['chain'] {
  return { kind: 'custom', chainId: `0x${env.PAREVM_CHAIN_ID.toString(16)}`, hardfork: env.PAREVM_HARDFORK }
}

export function sequencerConfig(env: SequencerEnv): SequencerConfig {
  return {
    chain: chainSpec(env),
    shardCount: env.PAREVM_SHARDS,
    blockSizeMax: env.PAREVM_BLOCK_SIZE,
    blockTimeSec: env.PAREVM_BLOCK_TIME_SEC,
    coinbase: env.PAREVM_COINBASE.toLowerCase(),
    intakeWaitMs: env.PAREVM_INTAKE_WAIT_MS,
    receiveRoundsMax: Math.ceil(env.PAREVM_BLOCK_SIZE / 10) + 10,
  }
}
