/**
 * The one definition of parevm's tables and queues. The CDK stack (infra/), the AWS adapters
 * (shared/adapters/aws/provision.ts) and the integration tests' local servers all create
 * resources from this, so names, keys, FIFO choices, visibility timeouts and dead-letter
 * policies cannot drift apart.
 *
 * Item layout in every table (shared/adapters/aws/dynamodb-kv-store.ts):
 *   pk (S, partition key), sk (S, sort key), v (B, the item's bytes), ver (N, its version),
 *   expiresAt (N, epoch seconds) on tables with a TTL: stamped on every put, a backstop that
 *   removes what a crash left behind (plans and staged results are deleted after sealing).
 */
import { TABLE_NAMES, type TableName } from './ports/kv-store.ts'

export interface TableDefinition {
  /** Partition key attribute (string). */
  partitionKey: 'pk'
  /** Sort key attribute (string). */
  sortKey: 'sk'
  /** Attribute holding an epoch-seconds expiry (DynamoDB TTL), where records are temporary. */
  ttlAttribute?: 'expiresAt'
  /** Lifetime stamped into `ttlAttribute` on every put (with ttlAttribute only). */
  ttlSec?: number
  purpose: string
}

/** Attribute names of an item (the port's Item: value bytes and version). */
export const ITEM_ATTRIBUTES = { partitionKey: 'pk', sortKey: 'sk', value: 'v', version: 'ver', expiresAt: 'expiresAt' } as const

const DAY_SEC = 24 * 60 * 60

export const TABLES: Record<TableName, TableDefinition> = {
  state: { partitionKey: 'pk', sortKey: 'sk', purpose: 'flat state: accounts, storage slots, wipe markers; one item per key, versioned' },
  code: { partitionKey: 'pk', sortKey: 'sk', purpose: 'contract code by hash' },
  blocks: { partitionKey: 'pk', sortKey: 'sk', purpose: 'sealed block headers and their transactions' },
  plans: { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt', ttlSec: 7 * DAY_SEC, purpose: 'block plans written by the sequencer (deleted after sealing)' },
  staged: { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt', ttlSec: 7 * DAY_SEC, purpose: "workers' staged shard results (deleted after sealing)" },
  receipts: { partitionKey: 'pk', sortKey: 'sk', purpose: 'receipts and rejection records by transaction hash' },
  meta: { partitionKey: 'pk', sortKey: 'sk', purpose: 'chain head, shard progress, templates' },
  trie: {
    partitionKey: 'pk',
    sortKey: 'sk',
    purpose: 'state trie nodes by hash (pk = keccak of the node, sk = "-", v = its RLP): written before each seal, read lazily by a coordinator that starts cold',
  },
}

export const ALL_TABLES: readonly TableName[] = TABLE_NAMES

export interface QueueDefinition {
  fifo: boolean
  visibilityTimeoutSec: number
  /** Receives before a message moves to the queue's dead-letter queue. */
  maxReceiveCount: number
  /** Why FIFO or standard. */
  why: string
  /** How long an unconsumed message is kept (SQS: 60 s to 14 days). */
  retentionSec?: number
  /** Default long-poll wait of ReceiveMessage (0 to 20 s). */
  receiveWaitSec?: number
  /** Who consumes the queue, for readers of the stack. */
  consumer?: string
}

export type QueueRole = 'ingress' | 'decoded' | 'shards' | 'done'

export const QUEUES: Record<QueueRole, QueueDefinition> = {
  ingress: {
    fifo: false,
    visibilityTimeoutSec: 60,
    maxReceiveCount: 3,
    why: 'standard: the sequencer orders each sender by nonce itself and holds carried transactions, so FIFO ordering is not needed and its per-group serialisation would only cost throughput',
    retentionSec: 4 * DAY_SEC,
    receiveWaitSec: 1,
    consumer:
      'one of two, never both (the deployment switch ingressFunction, infra/access.ts): the sequencer (functions/sequence-block.ts), which receives itself: a single instance (reserved concurrency 1) started by a schedule; or, with the ingress function deployed, that function (functions/ingress.ts) through an SQS event source with partial batch responses',
  },
  decoded: {
    fifo: false,
    visibilityTimeoutSec: 60,
    maxReceiveCount: 3,
    why: 'standard, as the ingress queue it continues: the sequencer orders each sender by nonce and drops copies (a message the ingress function sent twice) itself',
    retentionSec: 4 * DAY_SEC,
    receiveWaitSec: 1,
    consumer:
      'the sequencer (functions/sequence-block.ts, PAREVM_INTAKE_SOURCE=decoded) when the ingress function is deployed: transactions that function decoded, recovered and checked (shared/intake/decoded-message.ts); only the ingress function may send to it. Unused (and empty) otherwise',
  },
  shards: {
    fifo: false,
    visibilityTimeoutSec: 120,
    maxReceiveCount: 10,
    why: 'standard: the shards of a block must run in parallel on different workers; FIFO groups would serialise them (a FIFO message group is processed strictly one message at a time)',
    retentionSec: 4 * DAY_SEC,
    receiveWaitSec: 20,
    consumer: 'workers (functions/execute-shards.ts on ECS), which heartbeat the visibility timeout while executing',
  },
  done: {
    fifo: false,
    visibilityTimeoutSec: 60,
    maxReceiveCount: 10,
    why: 'standard: completions are idempotent markers, order does not matter; the coordinator seals a block once all of its shards are marked, whatever the order',
    retentionSec: 4 * DAY_SEC,
    receiveWaitSec: 20,
    consumer: 'coordinator (functions/seal-block.ts), an SQS event source with partial batch responses',
  },
}

export const ALL_QUEUE_ROLES: readonly QueueRole[] = ['ingress', 'decoded', 'shards', 'done']

/** Dead-letter queues keep messages for the 14-day maximum, so nothing is lost before someone looks. */
export const DEAD_LETTER_RETENTION_SEC = 14 * DAY_SEC

/** Prefix of physical names when none is configured. */
export const DEFAULT_PREFIX = 'parevm'

/** Physical names, with a per-deployment prefix. */
export function tableName(prefix: string, table: TableName): string {
  return `${prefix}-${table}`
}

export function queueName(prefix: string, role: QueueRole, deadLetter = false): string {
  const def = QUEUES[role]
  return `${prefix}-${role}${deadLetter ? '-dlq' : ''}${def.fifo ? '.fifo' : ''}`
}
