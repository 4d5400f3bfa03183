/**
 * Least privilege, written down once: which tables each role reads and writes and which queues
 * it consumes or sends to (per deployment: deployedAccess below). The stack grants exactly this
 * (DynamoDB actions below, on the named tables only); test/infra/runtime-contract.test.ts runs the engine's roles over a recording store and
 * checks that every table operation they perform is covered here, and that nothing here goes
 * unused.
 */
import type { TableName } from '../shared/ports/kv-store.ts'
import type { QueueRole } from '../shared/resources.ts'

export type Role = 'sequencer' | 'worker' | 'coordinator' | 'rpc' | 'ingress'

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
  // The ingress function (functions/ingress.ts), deployed with -c ingressFunction=true.
  ingress: {
    // head (the next block's rules); receipts and rejection records of inputs decided before
    read: ['meta', 'receipts'],
    // rejection records (put-if-absent)
    write: ['receipts'],
    consume: ['ingress'],
    // the only sender to the decoded queue: the sequencer trusts the senders it carries
    send: ['decoded'],
  },
}

/** How a deployment takes its transactions in (infra/config.ts `ingressFunction`). */
export interface IntakeMode {
  ingressFunction: boolean
}

/**
 * The roles a deployment runs and what each may do. The one place that decides who consumes
 * the ingress queue: without the ingress function the sequencer does (ROLE_ACCESS as written)
 * and there is no ingress role; with it, the ingress function does and the sequencer consumes
 * the decoded queue instead. So exactly one role ever consumes the ingress queue; the stack
 * grants, creates the event source and sets PAREVM_INTAKE_SOURCE from this alone.
 */
export function deployedAccess(mode: IntakeMode): Partial<Record<Role, RoleAccess>> {
  const { ingress, ...direct } = ROLE_ACCESS
  if (!mode.ingressFunction) return direct
  return { ...direct, sequencer: { ...direct.sequencer, consume: direct.sequencer.consume.map((q) => (q === 'ingress' ? 'decoded' : q)) }, ingress }
}

/** Where the sequencer takes transactions in this mode (its PAREVM_INTAKE_SOURCE). */
export function sequencerSource(mode: IntakeMode): 'ingress' | 'decoded' {
  const consumes = deployedAccess(mode).sequencer!.consume
  return consumes.includes('decoded') ? 'decoded' : 'ingress'
}
