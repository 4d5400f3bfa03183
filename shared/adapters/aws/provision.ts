/**
 * Tables and queues from shared/resources.ts, through the AWS APIs: created for tests, local
 * runs and `parevm start --backend aws`; opened (names resolved to URLs, existence checked) by
 * the entry points. The CDK stack creates the same resources from the same definitions.
 */
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb'
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs'

import { ConfigError, ParevmError } from '../../errors.ts'
import { ALL_QUEUE_ROLES, ALL_TABLES, DEAD_LETTER_RETENTION_SEC, QUEUES, TABLES, queueName, tableName, type QueueDefinition, type QueueRole } from '../../resources.ts'
import { DynamoKeyValueStore, type DynamoKeyValueStoreOptions } from './dynamodb-kv-store.ts'
import { mapLimit, sleep } from './retry.ts'
import { SqsQueue } from './sqs-queue.ts'

export interface AwsClients {
  dynamodb: DynamoDBClient
  sqs: SQSClient
}

export interface AwsBackend {
  prefix: string
  kv: DynamoKeyValueStore
  queues: Record<QueueRole, SqsQueue>
  deadLetters: Record<QueueRole, SqsQueue>
}

/** Per-queue overrides of the definitions (tests use short visibility timeouts). */
export type QueueOverrides = Partial<Record<QueueRole, Partial<Pick<QueueDefinition, 'visibilityTimeoutSec' | 'maxReceiveCount' | 'receiveWaitSec'>>>>

const PREFIX_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,39}$/

export function checkPrefix(prefix: string): void {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new ConfigError(`resource prefix ${JSON.stringify(prefix)} is invalid`, {
      hint: 'use 1-40 characters: letters, digits, - and _, starting with a letter or digit (queue names allow no more)',
    })
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : ''
}

const TABLE_ACTIVE_POLLS_MAX = 120

async function waitForTable(client: DynamoDBClient, name: string): Promise<void> {
  for (let poll = 0; poll < TABLE_ACTIVE_POLLS_MAX; poll++) {
    const out = await client.send(new DescribeTableCommand({ TableName: name }))
    if (out.Table?.TableStatus === 'ACTIVE') return
    await sleep(1000)
  }
  throw new ParevmError(`table ${name} did not become ACTIVE within ${TABLE_ACTIVE_POLLS_MAX} s`)
}

/** Create every table (on-demand, pk/sk strings, TTL where defined). Existing tables are kept. */
export async function createTables(client: DynamoDBClient, prefix: string): Promise<void> {
  checkPrefix(prefix)
  await mapLimit(ALL_TABLES, 4, async (table) => {
    const def = TABLES[table]
    const name = tableName(prefix, table)
    let created = true
    try {
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: def.partitionKey, AttributeType: 'S' },
            { AttributeName: def.sortKey, AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: def.partitionKey, KeyType: 'HASH' },
            { AttributeName: def.sortKey, KeyType: 'RANGE' },
          ],
        }),
      )
    } catch (error) {
      if (errorName(error) !== 'ResourceInUseException') throw new ParevmError(`could not create table ${name}: ${(error as Error).message}`, { cause: error })
      created = false
    }
    await waitForTable(client, name)
    if (created && def.ttlAttribute !== undefined) {
      await client.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: def.ttlAttribute, Enabled: true } }))
    }
  })
}

async function queueArn(client: SQSClient, url: string): Promise<string> {
  const out = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))
  const arn = out.Attributes?.QueueArn
  if (arn === undefined) throw new ParevmError(`SQS returned no ARN for ${url}`)
  return arn
}

/** Create every queue and its dead-letter queue with the redrive policy of its definition. */
export async function createQueues(client: SQSClient, prefix: string, overrides: QueueOverrides = {}): Promise<void> {
  checkPrefix(prefix)
  for (const role of ALL_QUEUE_ROLES) {
    const def = { ...QUEUES[role], ...overrides[role] }
    const fifo = def.fifo ? { FifoQueue: 'true' } : {}
    const dlq = await client.send(
      new CreateQueueCommand({ QueueName: queueName(prefix, role, true), Attributes: { ...fifo, MessageRetentionPeriod: String(DEAD_LETTER_RETENTION_SEC) } }),
    )
    const dlqArn = await queueArn(client, dlq.QueueUrl!)
    await client.send(
      new CreateQueueCommand({
        QueueName: queueName(prefix, role),
        Attributes: {
          ...fifo,
          VisibilityTimeout: String(def.visibilityTimeoutSec),
          ...(def.retentionSec !== undefined ? { MessageRetentionPeriod: String(def.retentionSec) } : {}),
          ...(def.receiveWaitSec !== undefined ? { ReceiveMessageWaitTimeSeconds: String(def.receiveWaitSec) } : {}),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: def.maxReceiveCount }),
        },
      }),
    )
  }
}

/** Tables and queues, created if missing. */
export async function createResources(clients: AwsClients, prefix: string, overrides: QueueOverrides = {}): Promise<void> {
  await Promise.all([createTables(clients.dynamodb, prefix), createQueues(clients.sqs, prefix, overrides)])
}

/** Delete every table and queue of a prefix (tests, throw-away runs). Missing ones are skipped. */
export async function deleteResources(clients: AwsClients, prefix: string): Promise<void> {
  checkPrefix(prefix)
  await mapLimit(ALL_TABLES, 4, async (table) => {
    try {
      await clients.dynamodb.send(new DeleteTableCommand({ TableName: tableName(prefix, table) }))
    } catch (error) {
      if (errorName(error) !== 'ResourceNotFoundException') throw error
    }
  })
  for (const role of ALL_QUEUE_ROLES) {
    for (const dead of [false, true]) {
      try {
        const url = await clients.sqs.send(new GetQueueUrlCommand({ QueueName: queueName(prefix, role, dead) }))
        await clients.sqs.send(new DeleteQueueCommand({ QueueUrl: url.QueueUrl }))
      } catch (error) {
        if (!/NonExistentQueue|QueueDoesNotExist/.test(errorName(error))) throw error
      }
    }
  }
}

function queueFor(client: SQSClient, prefix: string, role: QueueRole, deadLetter: boolean, url?: string): SqsQueue {
  const name = queueName(prefix, role, deadLetter)
  const lookUp = async (): Promise<string> => {
    let resolved: string | undefined
    try {
      resolved = (await client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl
    } catch (error) {
      throw new ConfigError(`queue ${name} does not exist or cannot be reached: ${(error as Error).message}`, {
        hint: 'deploy the stack (cdk deploy) or create the resources for this prefix; check PAREVM_PREFIX, AWS_REGION and the endpoint variables',
        cause: error,
      })
    }
    if (resolved === undefined) throw new ConfigError(`SQS returned no URL for queue ${name}`)
    return resolved
  }
  return new SqsQueue({ client, name, url: url ?? lookUp, fifo: QUEUES[role].fifo })
}

export interface OpenBackendOptions {
  /** Queue URLs known in advance (the stack passes them); the others are looked up by name. */
  queueUrls?: Partial<Record<QueueRole, string>>
  /** Check that the tables exist at start (one DescribeTable of the meta table, which every role reads). */
  checkTables?: boolean
  /**
   * Queues whose URLs are looked up now (a missing queue fails here, with a clear error). The
   * others, dead-letter queues included, are looked up on first use, so a role needs no access
   * to queues it never touches. Default: every queue and dead-letter queue.
   */
  resolve?: readonly QueueRole[]
  store?: Omit<DynamoKeyValueStoreOptions, 'client' | 'prefix'>
}

/** Adapters over existing resources: the store and every queue with its dead-letter queue. */
export async function openBackend(clients: AwsClients, prefix: string, options: OpenBackendOptions = {}): Promise<AwsBackend> {
  checkPrefix(prefix)
  if (options.checkTables === true) {
    const name = tableName(prefix, 'meta')
    try {
      await clients.dynamodb.send(new DescribeTableCommand({ TableName: name }))
    } catch (error) {
      throw new ConfigError(`table ${name} does not exist or cannot be reached: ${(error as Error).message}`, {
        hint: 'deploy the stack (cdk deploy) or create the resources for this prefix; check PAREVM_PREFIX, AWS_REGION and the endpoint variables',
        cause: error,
      })
    }
  }
  const queues = {} as Record<QueueRole, SqsQueue>
  const deadLetters = {} as Record<QueueRole, SqsQueue>
  for (const role of ALL_QUEUE_ROLES) {
    queues[role] = queueFor(clients.sqs, prefix, role, false, options.queueUrls?.[role])
    deadLetters[role] = queueFor(clients.sqs, prefix, role, true)
  }
  const eager = options.resolve === undefined ? [...Object.values(queues), ...Object.values(deadLetters)] : options.resolve.map((role) => queues[role])
  await Promise.all(eager.map((q) => q.resolve()))
  return { prefix, kv: new DynamoKeyValueStore({ client: clients.dynamodb, prefix, ...options.store }), queues, deadLetters }
}
