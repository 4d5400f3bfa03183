/**
 * The KeyValueStore port on DynamoDB.
 *
 * Items are { pk: S, sk: S, v: B, ver: N } (+ expiresAt: N on tables with a TTL, see
 * shared/resources.ts). Every read is strongly consistent: the engine reads what it wrote a
 * moment ago (the head, staged results, progress markers).
 *
 * - get: BatchGetItem, 100 distinct keys a call, calls in parallel (bounded), UnprocessedKeys
 *   retried with bounded exponential backoff; duplicate keys are read once.
 * - transact: TransactWriteItems (at most 100 operations and 4 MB, checked before sending) with
 *   a ClientRequestToken, so the SDK's own retry of a request that did succeed is a no-op
 *   rather than a spurious condition failure. A TransactionCanceledException is mapped by its
 *   cancellation reasons: any ConditionalCheckFailed → ConditionFailedError naming those keys;
 *   only TransactionConflict / throttling → retried with bounded backoff, then ThrottledError;
 *   anything else → ParevmError with the reasons.
 * - write: BatchWriteItem, 25 a call (later ops on the same key win), UnprocessedItems retried.
 * - query: Query with begins_with on the sort key and pagination through `after`.
 */
import { randomUUID } from 'node:crypto'

import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  type AttributeValue,
  type DynamoDBClient,
  type KeysAndAttributes,
  type TransactWriteItem,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb'

import { BackendError, ConditionFailedError, ConfigError, InvariantError, LimitError, ParevmError, ThrottledError } from '../../errors.ts'
import { realClock, type Clock } from '../../ports/clock.ts'
import {
  STORE_LIMITS,
  itemSize,
  keyString,
  type Condition,
  type Item,
  type ItemKey,
  type KeyValueStore,
  type QueryOptions,
  type QueryPage,
  type TableName,
  type UnconditionalOp,
  type WriteOp,
} from '../../ports/kv-store.ts'
import { ALL_TABLES, ITEM_ATTRIBUTES as A, TABLES, tableName } from '../../resources.ts'
import { DEFAULT_BACKOFF, backoffDelayMs, chunks, mapLimit, sleep, type BackoffOptions } from './retry.ts'

export const DYNAMODB_LIMITS = {
  batchGetKeys: 100,
  batchWriteItems: 25,
} as const

export interface DynamoKeyValueStoreOptions {
  client: DynamoDBClient
  /** Physical table names are `${prefix}-${table}`. */
  prefix: string
  /** Bound and pacing of retries of throttled or unprocessed work. */
  backoff?: BackoffOptions
  /** Most BatchGetItem / BatchWriteItem calls in flight for one port call (default 8). */
  concurrency?: number
  clock?: Clock
}

export interface OperationStats {
  calls: number
  items: number
  retries: number
  ms: number
}

type OperationName = 'batchGet' | 'transact' | 'batchWrite' | 'query'

const RETRYABLE_REASONS = new Set(['TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded', 'RequestLimitExceeded'])
const THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TransactionInProgressException',
  'TransactionConflictException',
])

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : ''
}

function describeAwsError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

const NAMES = { '#pk': A.partitionKey, '#sk': A.sortKey, '#ver': A.version } as const

/** A port Condition as a DynamoDB condition expression. */
export function conditionExpression(condition: Condition): { expression: string; names: Record<string, string>; values: Record<string, AttributeValue> } {
  if (condition.kind === 'absent') return { expression: 'attribute_not_exists(#pk)', names: { '#pk': NAMES['#pk'] }, values: {} }
  const versions = [...new Set(condition.oneOf)]
  const values: Record<string, AttributeValue> = {}
  versions.forEach((v, i) => (values[`:v${i}`] = { N: String(v) }))
  const inList = versions.length === 0 ? undefined : `#ver IN (${versions.map((_, i) => `:v${i}`).join(', ')})`
  if (condition.orAbsent === true) {
    return inList === undefined
      ? { expression: 'attribute_not_exists(#pk)', names: { '#pk': NAMES['#pk'] }, values }
      : { expression: `attribute_not_exists(#pk) OR ${inList}`, names: { '#pk': NAMES['#pk'], '#ver': NAMES['#ver'] }, values }
  }
  // No version can match an empty list: a condition that never holds (as in the memory store).
  if (inList === undefined) return { expression: 'attribute_exists(#pk) AND attribute_not_exists(#pk)', names: { '#pk': NAMES['#pk'] }, values }
  return { expression: `attribute_exists(#pk) AND ${inList}`, names: { '#pk': NAMES['#pk'], '#ver': NAMES['#ver'] }, values }
}

export class DynamoKeyValueStore implements KeyValueStore {
  private readonly client: DynamoDBClient
  private readonly prefix: string
  private readonly backoff: BackoffOptions
  private readonly concurrency: number
  private readonly clock: Clock
  private readonly physical = new Map<TableName, string>()
  private readonly logical = new Map<string, TableName>()
  readonly stats: Record<OperationName, OperationStats> = {
    batchGet: { calls: 0, items: 0, retries: 0, ms: 0 },
    transact: { calls: 0, items: 0, retries: 0, ms: 0 },
    batchWrite: { calls: 0, items: 0, retries: 0, ms: 0 },
    query: { calls: 0, items: 0, retries: 0, ms: 0 },
  }

  constructor(options: DynamoKeyValueStoreOptions) {
    this.client = options.client
    this.prefix = options.prefix
    this.backoff = options.backoff ?? DEFAULT_BACKOFF
    this.concurrency = options.concurrency ?? 8
    this.clock = options.clock ?? realClock
    if (this.backoff.attemptsMax < 1 || this.backoff.attemptsMax > 50) throw new ConfigError(`backoff.attemptsMax must be 1..50 (got ${this.backoff.attemptsMax})`)
    for (const table of ALL_TABLES) {
      const name = tableName(this.prefix, table)
      this.physical.set(table, name)
      this.logical.set(name, table)
    }
  }

  private tableOf(table: TableName): string {
    return this.physical.get(table)!
  }

  private async timed<T>(op: OperationName, items: number, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now()
    try {
      return await fn()
    } finally {
      const s = this.stats[op]
      s.calls++
      s.items += items
      s.ms += performance.now() - t0
    }
  }

  private keyAttributes(key: ItemKey): Record<string, AttributeValue> {
    return { [A.partitionKey]: { S: key.pk }, [A.sortKey]: { S: key.sk } }
  }

  private itemAttributes(item: Item): Record<string, AttributeValue> {
    const attrs: Record<string, AttributeValue> = {
      [A.partitionKey]: { S: item.pk },
      [A.sortKey]: { S: item.sk },
      [A.value]: { B: item.value },
      [A.version]: { N: String(item.version) },
    }
    const def = TABLES[item.table]
    if (def.ttlAttribute !== undefined && def.ttlSec !== undefined) {
      attrs[def.ttlAttribute] = { N: String(Math.floor(this.clock.now() / 1000) + def.ttlSec) }
    }
    return attrs
  }

  private decode(table: TableName, attrs: Record<string, AttributeValue>): Item {
    const pk = attrs[A.partitionKey]?.S
    const sk = attrs[A.sortKey]?.S
    const value = attrs[A.value]?.B
    const version = attrs[A.version]?.N
    if (pk === undefined || sk === undefined || version === undefined) {
      throw new InvariantError(`table ${this.tableOf(table)} holds an item without pk, sk or ver`, { hint: 'parevm tables hold only items written by parevm' })
    }
    return { table, pk, sk, value: value ?? new Uint8Array(0), version: Number(version) }
  }

  private checkItem(item: Item): number {
    const size = itemSize(item)
    if (size > STORE_LIMITS.itemBytes) {
      throw new LimitError(`item ${keyString(item)} is ${size} bytes, over the ${STORE_LIMITS.itemBytes}-byte item limit`)
    }
    return size
  }

  private throttled(what: string, attempts: number, cause?: unknown): ThrottledError {
    return new ThrottledError(`DynamoDB ${what} still throttled or unprocessed after ${attempts} attempts`, {
      hint: 'the table is over its throughput; the caller may retry later (on-demand tables adapt within minutes)',
      ...(cause !== undefined ? { cause } : {}),
    })
  }

  private wrap(what: string, error: unknown): Error {
    if (error instanceof ParevmError) return error
    const name = errorName(error)
    if (name === 'ResourceNotFoundException') {
      return new ConfigError(`DynamoDB ${what}: a table does not exist (prefix ${this.prefix})`, {
        details: describeAwsError(error),
        hint: 'create the tables (shared/adapters/aws/provision.ts createResources, or cdk deploy) or check PAREVM_PREFIX and the endpoint',
        cause: error,
      })
    }
    return new BackendError(`DynamoDB ${what} failed: ${describeAwsError(error)}`, { cause: error })
  }

  // ----- get -------------------------------------------------------------------------------

  async get(keys: readonly ItemKey[]): Promise<(Item | undefined)[]> {
    if (keys.length === 0) return []
    const unique = new Map<string, ItemKey>()
    for (const key of keys) unique.set(keyString(key), key)
    const found = new Map<string, Item>()
    await mapLimit(chunks([...unique.values()], DYNAMODB_LIMITS.batchGetKeys), this.concurrency, (chunk) =>
      this.timed('batchGet', chunk.length, () => this.batchGet(chunk, found)),
    )
    return keys.map((key) => {
      const item = found.get(keyString(key))
      return item === undefined ? undefined : { ...item, value: item.value }
    })
  }

  private async batchGet(keys: readonly ItemKey[], found: Map<string, Item>): Promise<void> {
    let request: Record<string, KeysAndAttributes> = {}
    for (const key of keys) {
      const name = this.tableOf(key.table)
      request[name] ??= { Keys: [], ConsistentRead: true }
      request[name].Keys!.push(this.keyAttributes(key))
    }
    for (let attempt = 1; ; attempt++) {
      let unprocessed: Record<string, KeysAndAttributes> | undefined
      try {
        const out = await this.client.send(new BatchGetItemCommand({ RequestItems: request }))
        for (const [name, items] of Object.entries(out.Responses ?? {})) {
          const table = this.logical.get(name)
          if (table === undefined) continue
          for (const attrs of items) {
            const item = this.decode(table, attrs)
            found.set(keyString(item), item)
          }
        }
        unprocessed = out.UnprocessedKeys
      } catch (error) {
        if (!THROTTLING_ERRORS.has(errorName(error))) throw this.wrap('BatchGetItem', error)
        unprocessed = request
        if (attempt >= this.backoff.attemptsMax) throw this.throttled('BatchGetItem', attempt, error)
      }
      if (unprocessed === undefined || Object.values(unprocessed).every((r) => (r.Keys?.length ?? 0) === 0)) return
      if (attempt >= this.backoff.attemptsMax) throw this.throttled('BatchGetItem', attempt)
      this.stats.batchGet.retries++
      await sleep(backoffDelayMs(attempt, this.backoff))
      request = unprocessed
    }
  }

  // ----- transact --------------------------------------------------------------------------

  async transact(ops: readonly WriteOp[]): Promise<void> {
    if (ops.length === 0) return
    if (ops.length > STORE_LIMITS.transactOps) {
      throw new LimitError(`transaction of ${ops.length} operations exceeds the limit of ${STORE_LIMITS.transactOps}`)
    }
    let bytes = 0
    const seen = new Set<string>()
    const keys: string[] = []
    const items: TransactWriteItem[] = ops.map((op) => {
      const key = op.op === 'put' ? op.item : op.key
      const id = keyString(key)
      if (seen.has(id)) throw new LimitError(`transaction touches ${id} twice (DynamoDB forbids this)`)
      seen.add(id)
      keys.push(id)
      const condition = op.condition === undefined ? undefined : conditionExpression(op.condition)
      const conditional =
        condition === undefined
          ? {}
          : {
              ConditionExpression: condition.expression,
              ExpressionAttributeNames: condition.names,
              ...(Object.keys(condition.values).length > 0 ? { ExpressionAttributeValues: condition.values } : {}),
            }
      const TableName = this.tableOf(key.table)
      if (op.op === 'put') {
        bytes += this.checkItem(op.item)
        return { Put: { TableName, Item: this.itemAttributes(op.item), ...conditional } }
      }
      if (op.op === 'delete') return { Delete: { TableName, Key: this.keyAttributes(op.key), ...conditional } }
      const check = conditionExpression(op.condition)
      return {
        ConditionCheck: {
          TableName,
          Key: this.keyAttributes(op.key),
          ConditionExpression: check.expression,
          ExpressionAttributeNames: check.names,
          ...(Object.keys(check.values).length > 0 ? { ExpressionAttributeValues: check.values } : {}),
        },
      }
    })
    if (bytes > STORE_LIMITS.transactBytes) {
      throw new LimitError(`transaction of ${bytes} bytes exceeds the ${STORE_LIMITS.transactBytes}-byte limit`)
    }
    await this.timed('transact', ops.length, async () => {
      for (let attempt = 1; ; attempt++) {
        let retryCause: unknown
        try {
          // A fresh token per attempt of ours: the previous attempt was cancelled (nothing written);
          // the SDK's internal retries of one attempt reuse its token, which makes them idempotent.
          await this.client.send(new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: randomUUID() }))
          return
        } catch (error) {
          const name = errorName(error)
          if (name === 'TransactionCanceledException') {
            const reasons = ((error as { CancellationReasons?: { Code?: string; Message?: string }[] }).CancellationReasons ?? []).map((r) => r.Code ?? 'None')
            const failed = keys.filter((_, i) => reasons[i] === 'ConditionalCheckFailed')
            if (failed.length > 0) throw new ConditionFailedError(failed, { cause: error })
            const other = reasons.filter((code) => code !== 'None' && !RETRYABLE_REASONS.has(code))
            if (other.length > 0 || reasons.length === 0) {
              throw new ParevmError(`DynamoDB TransactWriteItems cancelled: ${reasons.join(', ') || (error as Error).message}`, {
                details: keys.filter((_, i) => reasons[i] !== 'None').slice(0, 5).join('; '),
                cause: error,
              })
            }
            retryCause = error
          } else if (THROTTLING_ERRORS.has(name)) {
            retryCause = error
          } else {
            throw this.wrap('TransactWriteItems', error)
          }
        }
        if (attempt >= this.backoff.attemptsMax) throw this.throttled('TransactWriteItems', attempt, retryCause)
        this.stats.transact.retries++
        await sleep(backoffDelayMs(attempt, this.backoff))
      }
    })
  }

  // ----- write -----------------------------------------------------------------------------

  async write(ops: readonly UnconditionalOp[]): Promise<void> {
    if (ops.length === 0) return
    // BatchWriteItem refuses two requests for one key: the last op on a key wins, as it would
    // if the ops ran one after another.
    const last = new Map<string, UnconditionalOp>()
    for (const op of ops) {
      if (op.op === 'put') this.checkItem(op.item)
      const id = keyString(op.op === 'put' ? op.item : op.key)
      last.delete(id)
      last.set(id, op)
    }
    await mapLimit(chunks([...last.values()], DYNAMODB_LIMITS.batchWriteItems), this.concurrency, (chunk) =>
      this.timed('batchWrite', chunk.length, () => this.batchWrite(chunk)),
    )
  }

  private async batchWrite(ops: readonly UnconditionalOp[]): Promise<void> {
    let request: Record<string, WriteRequest[]> = {}
    for (const op of ops) {
      const name = this.tableOf(op.op === 'put' ? op.item.table : op.key.table)
      request[name] ??= []
      request[name].push(op.op === 'put' ? { PutRequest: { Item: this.itemAttributes(op.item) } } : { DeleteRequest: { Key: this.keyAttributes(op.key) } })
    }
    for (let attempt = 1; ; attempt++) {
      let unprocessed: Record<string, WriteRequest[]> | undefined
      try {
        const out = await this.client.send(new BatchWriteItemCommand({ RequestItems: request }))
        unprocessed = out.UnprocessedItems
      } catch (error) {
        if (!THROTTLING_ERRORS.has(errorName(error))) throw this.wrap('BatchWriteItem', error)
        unprocessed = request
        if (attempt >= this.backoff.attemptsMax) throw this.throttled('BatchWriteItem', attempt, error)
      }
      if (unprocessed === undefined || Object.values(unprocessed).every((r) => r.length === 0)) return
      if (attempt >= this.backoff.attemptsMax) throw this.throttled('BatchWriteItem', attempt)
      this.stats.batchWrite.retries++
      await sleep(backoffDelayMs(attempt, this.backoff))
      request = unprocessed
    }
  }

  // ----- query -----------------------------------------------------------------------------

  async query(table: TableName, pk: string, options: QueryOptions = {}): Promise<QueryPage> {
    const limit = Math.min(options.limit ?? STORE_LIMITS.queryLimitMax, STORE_LIMITS.queryLimitMax)
    if (!Number.isInteger(limit) || limit < 1) throw new LimitError(`query limit must be 1..${STORE_LIMITS.queryLimitMax} (got ${options.limit})`)
    const prefix = options.skPrefix
    let after = options.after
    if (prefix !== undefined && after !== undefined && !after.startsWith(prefix)) {
      // DynamoDB refuses a start key outside the key condition: resolve it here.
      if (after < prefix) after = undefined
      else return { items: [] }
    }
    return this.timed('query', 0, async () => {
      const items: Item[] = []
      let start: Record<string, AttributeValue> | undefined = after === undefined ? undefined : this.keyAttributes({ table, pk, sk: after })
      // Each page returns at least one item or ends the query (no filters), so this is bounded by `limit`.
      for (let page = 0; page <= limit; page++) {
        let out
        for (let attempt = 1; ; attempt++) {
          try {
            out = await this.client.send(
              new QueryCommand({
                TableName: this.tableOf(table),
                KeyConditionExpression: prefix === undefined ? '#pk = :pk' : '#pk = :pk AND begins_with(#sk, :prefix)',
                ExpressionAttributeNames: {
                  '#pk': A.partitionKey,
                  ...(prefix !== undefined || options.keysOnly === true ? { '#sk': A.sortKey } : {}),
                  ...(options.keysOnly === true ? { '#ver': A.version } : {}),
                },
                ...(options.keysOnly === true ? { ProjectionExpression: '#pk, #sk, #ver' } : {}),
                ExpressionAttributeValues: { ':pk': { S: pk }, ...(prefix === undefined ? {} : { ':prefix': { S: prefix } }) },
                ConsistentRead: true,
                Limit: limit - items.length,
                ...(start !== undefined ? { ExclusiveStartKey: start } : {}),
              }),
            )
            break
          } catch (error) {
            if (!THROTTLING_ERRORS.has(errorName(error))) throw this.wrap('Query', error)
            if (attempt >= this.backoff.attemptsMax) throw this.throttled('Query', attempt, error)
            this.stats.query.retries++
            await sleep(backoffDelayMs(attempt, this.backoff))
          }
        }
        for (const attrs of out.Items ?? []) items.push(this.decode(table, attrs))
        this.stats.query.items += out.Items?.length ?? 0
        start = out.LastEvaluatedKey
        if (start === undefined) return { items }
        if (items.length >= limit) return { items, next: items[items.length - 1]!.sk }
      }
      throw new BackendError(`DynamoDB Query of ${table}/${pk} did not finish within ${limit + 1} pages`)
    })
  }
}
