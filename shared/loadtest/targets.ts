/** Pieces of load-test targets that need no AWS: in-process backends, CDK stack outputs. */
import { ConfigError } from '../errors.ts'
import { MemoryKeyValueStore } from '../ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../ports/memory/memory-queue.ts'
import { ALL_TABLES, tableName } from '../resources.ts'

import type { ClusterOptions } from '../cluster/embedded.ts'

/** The embedded cluster's in-process store and queues (as EmbeddedCluster.start makes them). */
export function memoryBackends(visibilityTimeoutMs = 30_000): NonNullable<ClusterOptions['backends']> {
  const deadLetter = new MemoryQueue({ name: 'ingress-dlq' })
  return {
    kv: new MemoryKeyValueStore(),
    deadLetter,
    ingress: new MemoryQueue({ name: 'ingress', visibilityTimeoutMs, maxReceiveCount: 3, deadLetter, fifo: false }),
    shardQueue: new MemoryQueue({ name: 'shards', visibilityTimeoutMs, maxReceiveCount: 50, deadLetter: new MemoryQueue({ name: 'shards-dlq' }) }),
    doneQueue: new MemoryQueue({ name: 'done', visibilityTimeoutMs, maxReceiveCount: 50, deadLetter: new MemoryQueue({ name: 'done-dlq' }) }),
  }
}

export interface StackEndpoints {
  stack: string
  /** Table name prefix: tables are `${prefix}-${table}`. */
  prefix: string
  ingressQueueUrl: string
  ingressDeadLetterQueueUrl: string | undefined
}

/**
 * The stack's outputs as `cdk deploy --outputs-file FILE` writes them:
 * `{ "<stack>": { "ingressQueueUrl": ..., "stateTableName": ..., ... } }`.
 */
export function parseStackOutputs(json: unknown, stack?: string): StackEndpoints {
  if (typeof json !== 'object' || json === null) throw new ConfigError('the CDK outputs file is not a JSON object', { hint: 'write it with: cdk deploy --outputs-file outputs.json' })
  const stacks = Object.entries(json as Record<string, unknown>).filter(([, v]) => typeof v === 'object' && v !== null && 'ingressQueueUrl' in (v as object))
  const names = stacks.map(([k]) => k)
  const chosen = stack === undefined ? (stacks.length === 1 ? stacks[0] : undefined) : stacks.find(([k]) => k === stack)
  if (chosen === undefined) {
    throw new ConfigError(
      stack === undefined ? `the CDK outputs file holds ${stacks.length} parevm stacks${names.length > 0 ? ` (${names.join(', ')})` : ''}` : `the CDK outputs file has no parevm stack named ${stack}`,
      { hint: names.length === 0 ? 'no stack in it has an ingressQueueUrl output: deploy the parevm stack with --outputs-file' : `choose one with --stack: ${names.join(', ')}` },
    )
  }
  const [name, raw] = chosen
  const outputs = raw as Record<string, unknown>
  const str = (key: string): string | undefined => (typeof outputs[key] === 'string' ? (outputs[key] as string) : undefined)
  const stateTable = str('stateTableName')
  if (stateTable === undefined || !stateTable.endsWith('-state')) {
    throw new ConfigError(`stack ${name}: no stateTableName output of the form <prefix>-state`, { hint: 'deploy the parevm stack (infra/) with --outputs-file' })
  }
  const prefix = stateTable.slice(0, -'-state'.length)
  for (const table of ALL_TABLES) {
    const given = str(`${table}TableName`)
    if (given !== undefined && given !== tableName(prefix, table)) {
      throw new ConfigError(`stack ${name}: table ${given} does not follow the prefix ${prefix} (expected ${tableName(prefix, table)})`)
    }
  }
  return { stack: name, prefix, ingressQueueUrl: str('ingressQueueUrl')!, ingressDeadLetterQueueUrl: str('ingressDeadLetterQueueUrl') }
}

/** The region in an AWS SQS queue URL (https://sqs.<region>.amazonaws.com/...), if it is one. */
export function regionOfQueueUrl(url: string): string | undefined {
  return /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\//.exec(url)?.[1]
}
