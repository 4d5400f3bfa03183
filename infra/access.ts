/**
 * Least privilege, written down once: which tables each role reads and writes and which queues
 * it consumes or sends to. The stack grants exactly this (DynamoDB actions below, on the named
 * tables only); test/infra/access.test.ts runs the engine's roles over a recording store and
 * checks that every table operation they perform is covered here, and that nothing here goes
 * unused.
 */
import type { TableName } from '../shared/ports/kv-store.ts'
import type { QueueRole } from '../shared/resources.ts'

export type Role = 'sequencer' | 'worker' | 'coordinator' | 'rpc'

export interface RoleAccess {
  read: readonly TableName[]
  write: readonly TableName[]
  consume: readonly QueueRole[]
  send: readonly QueueRole[]
}

/**
 * The calls of shared/adapters/aws/dynamodb-kv-store.ts: get → BatchGetItem, query → Query,
 * transact → TransactWriteItems, which IAM authorises per item as PutItem / DeleteItem /
 * ConditionCheckItem; write → BatchWriteItem (authorised as BatchWriteItem plus PutItem /
 * DeleteItem). ConditionCheckItem reads an item's version, so it goes with reading.
 */
export const TABLE_READ_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'] as const
export const TABLE_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'] as const

/**
 * What every role does once at start (shared/adapters/aws/provision.ts openBackend, through
 * functions/commons/clients.ts): DescribeTable on the meta table (checkTables: the stack is
 * there). Queue URLs come from the environment, so no GetQueueUrl, and the dead-letter queues
 * are never touched by the roles.
 */
export const STARTUP_TABLE_ACTIONS = ['dynamodb:DescribeTable'] as const
export const STARTUP_TABLES: readonly TableName[] = ['meta']

export const ROLE_ACCESS: Readonly<Record<Role, RoleAccess>> = {
  sequencer: {
    // head (with the recent block hashes); plan commit check; senders' accounts; receipts of stale resubmissions;
    // state and code of the calls it pre-executes to learn templates (shared/predict/speculate.ts)
    read: ['meta', 'plans', 'state', 'code', 'receipts'],
    // the plan; rejection records
    write: ['plans', 'receipts'],
    consume: ['ingress'],
    send: ['shards'],
  },
  worker: {
    // head; plan and shard parts; state and code prefetch; staged check
    read: ['meta', 'plans', 'state', 'code', 'staged'],
    // staged results (put-if-absent)
    write: ['staged'],
    consume: ['shards'],
    send: ['done'],
  },
  coordinator: {
    // progress and head; plan; staged results; state and code for re-execution; sealed-block check; trie nodes
    read: ['meta', 'plans', 'staged', 'state', 'code', 'blocks', 'trie'],
    // progress and head; sealed block; net state writes and new code; receipts; trie nodes;
    // plans and staged results deleted after sealing
    write: ['meta', 'blocks', 'state', 'code', 'receipts', 'trie', 'plans', 'staged'],
    consume: ['done'],
    send: [],
  },
  rpc: {
    // head; sealed blocks and their transactions; receipts, rejection records and logs; the latest state and code
    read: ['meta', 'blocks', 'receipts', 'state', 'code'],
    write: [],
    consume: [],
    // eth_sendRawTransaction
    send: ['ingress'],
  },
}
