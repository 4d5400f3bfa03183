/**
 * The one definition of parevm's tables and queues. The CDK stack (infra/), the AWS adapters
 * and the integration tests' local servers all create resources from this, so names, keys,
 * FIFO choices, visibility timeouts and dead-letter policies cannot drift apart.
 */
import { TABLE_NAMES, type TableName } from './ports/kv-store.ts'

export interface TableDefinition {
  /** Partition key attribute (string). */
  partitionKey: 'pk'
  /** Sort key attribute (string). */
  sortKey: 'sk'
  /** Attribute holding an epoch-seconds expiry (DynamoDB TTL), where records are temporary. */
  ttlAttribute?: 'expiresAt'
  purpose: string
}

export const TABLES: Record<TableName, TableDefinition> = {
  state: { partitionKey: 'pk', sortKey: 'sk', purpose: 'flat state: accounts, storage slots, wipe markers; one item per key, versioned' },
  code: { partitionKey: 'pk', sortKey: 'sk', purpose: 'contract code by hash' },
  blocks: { partitionKey: 'pk', sortKey: 'sk', purpose: 'sealed block headers and their transactions' },
  plans: { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt', purpose: 'block plans written by the sequencer (deleted after sealing)' },
  staged: { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt', purpose: "workers' staged shard results (deleted after sealing)" },
  receipts: { partitionKey: 'pk', sortKey: 'sk', purpose: 'receipts and rejection records by transaction hash' },
  meta: { partitionKey: 'pk', sortKey: 'sk', purpose: 'chain head, shard progress, templates' },
  trie: { partitionKey: 'pk', sortKey: 'sk', purpose: 'state trie nodes by hash' },
}

export const ALL_TABLES: readonly TableName[] = TABLE_NAMES

export interface QueueDefinition {
  fifo: boolean
  visibilityTimeoutSec: number
  /** Receives before a message moves to the queue's dead-letter queue. */
  maxReceiveCount: number
  /** Why FIFO or standard. */
  why: string
}

export type QueueRole = 'ingress' | 'shards' | 'done'

export const QUEUES: Record<QueueRole, QueueDefinition> = {
  ingress: {
    fifo: false,
    visibilityTimeoutSec: 60,
    maxReceiveCount: 3,
    why: 'standard: the sequencer orders each sender by nonce itself and holds carried transactions, so FIFO ordering is not needed and its per-group serialisation would only cost throughput',
  },
  shards: {
    fifo: false,
    visibilityTimeoutSec: 120,
    maxReceiveCount: 10,
    why: 'standard: the shards of a block must run in parallel on different workers; FIFO groups would serialise them',
  },
  done: {
    fifo: false,
    visibilityTimeoutSec: 60,
    maxReceiveCount: 10,
    why: 'standard: completions are idempotent markers, order does not matter',
  },
}

/** Physical names, with a per-deployment prefix. */
export function tableName(prefix: string, table: TableName): string {
  return `${prefix}-${table}`
}

export function queueName(prefix: string, role: QueueRole, deadLetter = false): string {
  const def = QUEUES[role]
  return `${prefix}-${role}${deadLetter ? '-dlq' : ''}${def.fifo ? '.fifo' : ''}`
}
