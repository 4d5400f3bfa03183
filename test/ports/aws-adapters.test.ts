/**
 * The AWS adapters' handling of what the services answer, on stubbed SDK clients: cancellation
 * reasons mapped to conflicts, throttling (retried, bounded) and other errors; unprocessed
 * batch items retried; batching limits; SQS attribute and unit conversions. The same adapters
 * run against real AWS APIs in aws.contract.aws.test.ts and the integration suite.
 */
import { describe, expect, it } from 'vitest'

import { DynamoKeyValueStore, conditionExpression } from '../../shared/adapters/aws/dynamodb-kv-store.ts'
import { SqsQueue } from '../../shared/adapters/aws/sqs-queue.ts'
import { ConditionFailedError, ConfigError, ParevmError, ThrottledError } from '../../shared/errors.ts'
import { loadEnv, sequencerConfig, sequencerEnvSchema, workerEnvSchema } from '../../functions/commons/config.ts'
import { sequencerInvocationSchema } from '../../functions/commons/events.ts'
import { handler as sealBlock } from '../../functions/seal-block.ts'
import { handler as sequenceBlock } from '../../functions/sequence-block.ts'

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { SQSClient } from '@aws-sdk/client-sqs'
import type { ItemKey, WriteOp } from '../../shared/ports/kv-store.ts'

type Call = { command: string; input: Record<string, any> }
type Responder = (call: Call, n: number) => unknown

/** A client whose `send` records calls and answers with `respond` (throwing what it returns as an Error). */
function stubClient<T>(respond: Responder): { client: T; calls: Call[] } {
  const calls: Call[] = []
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, any> }) => {
      const call = { command: command.constructor.name, input: structuredClone(command.input) }
      calls.push(call)
      const out = respond(call, calls.length)
      if (out instanceof Error) throw out
      return out
    },
  }
  return { client: client as unknown as T, calls }
}

function awsError(name: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} (stub)`), { name, ...extra })
}

const cancelled = (...codes: string[]) => awsError('TransactionCanceledException', { CancellationReasons: codes.map((Code) => ({ Code })) })
const fast = { attemptsMax: 3, baseMs: 1, capMs: 2 }
const key = (pk: string): ItemKey => ({ table: 'state', pk, sk: '-' })
const put = (pk: string): WriteOp => ({ op: 'put', item: { ...key(pk), value: Uint8Array.of(1), version: 2 }, condition: { kind: 'version', oneOf: [1] } })

function store(respond: Responder): { kv: DynamoKeyValueStore; calls: Call[] } {
  const { client, calls } = stubClient<DynamoDBClient>(respond)
  return { kv: new DynamoKeyValueStore({ client, prefix: 'p', backoff: fast }), calls }
}

describe('DynamoDB adapter: transactions', () => {
  it('conditions become DynamoDB condition expressions', () => {
    expect(conditionExpression({ kind: 'absent' }).expression).toBe('attribute_not_exists(#pk)')
    const v = conditionExpression({ kind: 'version', oneOf: [3, 4, 3] })
    expect(v.expression).toBe('attribute_exists(#pk) AND #ver IN (:v0, :v1)')
    expect(v.values).toEqual({ ':v0': { N: '3' }, ':v1': { N: '4' } })
    expect(conditionExpression({ kind: 'version', oneOf: [0], orAbsent: true }).expression).toBe('attribute_not_exists(#pk) OR #ver IN (:v0)')
    expect(conditionExpression({ kind: 'version', oneOf: [], orAbsent: true }).expression).toBe('attribute_not_exists(#pk)')
  })

  it('sends physical table names, item attributes and a client request token per attempt', async () => {
    const { kv, calls } = store((_, n) => (n < 3 ? cancelled('TransactionConflict', 'None') : {}))
    await kv.transact([put('a'), { op: 'check', key: key('b'), condition: { kind: 'absent' } }])
    expect(calls).toHaveLength(3)
    expect(kv.stats.transact.retries).toBe(2)
    const items = calls[0]!.input.TransactItems
    expect(items[0].Put.TableName).toBe('p-state')
    expect(items[0].Put.Item.ver).toEqual({ N: '2' })
    expect(items[1].ConditionCheck.ConditionExpression).toBe('attribute_not_exists(#pk)')
    const tokens = calls.map((c) => c.input.ClientRequestToken)
    expect(new Set(tokens).size).toBe(3)
  })

  it('stamps the TTL attribute on tables that have one', async () => {
    const { kv, calls } = store(() => ({}))
    await kv.transact([{ op: 'put', item: { table: 'staged', pk: '1', sk: 'shard#0#0', value: Uint8Array.of(1), version: 0 } }, put('x')])
    const [staged, state] = calls[0]!.input.TransactItems
    expect(Number(staged.Put.Item.expiresAt.N)).toBeGreaterThan(Date.now() / 1000)
    expect(state.Put.Item.expiresAt).toBeUndefined()
  })

  it('throttling that does not clear is a ThrottledError after the bounded attempts', async () => {
    const { kv, calls } = store(() => cancelled('ThrottlingError'))
    await expect(kv.transact([put('a')])).rejects.toBeInstanceOf(ThrottledError)
    expect(calls).toHaveLength(fast.attemptsMax)
    const top = store((_, n) => (n === 1 ? awsError('ProvisionedThroughputExceededException') : {}))
    await top.kv.transact([put('a')])
    expect(top.calls).toHaveLength(2)
  })

  it('a failed condition is a ConditionFailedError naming exactly its keys, never retried', async () => {
    const { kv, calls } = store(() => cancelled('None', 'ConditionalCheckFailed', 'ThrottlingError'))
    const error = await kv.transact([put('a'), put('b'), put('c')]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConditionFailedError)
    expect((error as ConditionFailedError).keys).toEqual(['state|b|-'])
    expect(calls).toHaveLength(1)
  })

  it('other cancellations and errors are ParevmErrors that say what happened', async () => {
    const validation = store(() => cancelled('ValidationError'))
    const e1 = await validation.kv.transact([put('a')]).catch((e: unknown) => e)
    expect(e1).toBeInstanceOf(ParevmError)
    expect(e1).not.toBeInstanceOf(ConditionFailedError)
    expect(e1).not.toBeInstanceOf(ThrottledError)
    expect((e1 as Error).message).toMatch(/ValidationError/)
    const missing = store(() => awsError('ResourceNotFoundException'))
    const e2 = (await missing.kv.transact([put('a')]).catch((e: unknown) => e)) as ParevmError
    expect(e2.hint).toMatch(/create the tables/)
  })
})

describe('DynamoDB adapter: batches and queries', () => {
  it('get: at most 100 distinct keys a call, unprocessed keys retried, order and duplicates kept', async () => {
    let first = true
    const { kv, calls } = store((call) => {
      const req = call.input.RequestItems['p-state']
      const keys = req.Keys as { pk: { S: string } }[]
      expect(req.ConsistentRead).toBe(true)
      if (first) {
        first = false
        return { Responses: { 'p-state': [] }, UnprocessedKeys: { 'p-state': { Keys: keys, ConsistentRead: true } } }
      }
      return { Responses: { 'p-state': keys.filter((k) => k.pk.S !== 'k7').map((k) => ({ pk: k.pk, sk: { S: '-' }, v: { B: Uint8Array.of(1) }, ver: { N: k.pk.S.slice(1) } })) } }
    })
    const keys = Array.from({ length: 250 }, (_, i) => key(`k${i}`))
    const got = await kv.get([...keys, key('k3')])
    expect(calls.every((c) => c.input.RequestItems['p-state'].Keys.length <= 100)).toBe(true)
    expect(calls).toHaveLength(4)
    expect(got[7]).toBeUndefined()
    expect(got[42]!.version).toBe(42)
    expect(got[250]!.version).toBe(3)
    const stuck = store((call) => ({ Responses: {}, UnprocessedKeys: call.input.RequestItems }))
    await expect(stuck.kv.get([key('a')])).rejects.toBeInstanceOf(ThrottledError)
  })

  it('write: at most 25 a call, the last op on a key wins, unprocessed items retried then ThrottledError', async () => {
    const { kv, calls } = store(() => ({}))
    const ops = Array.from({ length: 60 }, (_, i) => ({ op: 'put' as const, item: { ...key(`k${i % 55}`), value: Uint8Array.of(i), version: i } }))
    await kv.write(ops)
    const requests = calls.flatMap((c) => c.input.RequestItems['p-state'])
    expect(calls.every((c) => c.input.RequestItems['p-state'].length <= 25)).toBe(true)
    expect(requests).toHaveLength(55)
    expect(requests.find((r: any) => r.PutRequest.Item.pk.S === 'k2').PutRequest.Item.ver.N).toBe('57')
    const stuck = store((call) => ({ UnprocessedItems: call.input.RequestItems }))
    await expect(stuck.kv.write([{ op: 'delete', key: key('a') }])).rejects.toBeInstanceOf(ThrottledError)
    expect(stuck.kv.stats.batchWrite.retries).toBe(fast.attemptsMax - 1)
  })

  it('query: follows DynamoDB pages up to the limit and returns where to continue', async () => {
    const { kv, calls } = store((call) => {
      const start = call.input.ExclusiveStartKey?.sk.S as string | undefined
      const from = start === undefined ? 0 : Number(start.slice(1)) + 1
      const items = Array.from({ length: Math.min(3, call.input.Limit as number) }, (_, i) => ({ pk: { S: 'p' }, sk: { S: `s${from + i}` }, v: { B: new Uint8Array(0) }, ver: { N: '0' } }))
      return { Items: items, LastEvaluatedKey: { pk: { S: 'p' }, sk: items.at(-1)!.sk } }
    })
    const page = await kv.query('meta', 'p', { limit: 7, skPrefix: 's' })
    expect(page.items.map((i) => i.sk)).toEqual(['s0', 's1', 's2', 's3', 's4', 's5', 's6'])
    expect(page.next).toBe('s6')
    expect(calls.map((c) => c.input.Limit)).toEqual([7, 4, 1])
    expect(calls[0]!.input.KeyConditionExpression).toBe('#pk = :pk AND begins_with(#sk, :prefix)')
    expect(calls[0]!.input.ConsistentRead).toBe(true)
  })
})

describe('SQS adapter', () => {
  const queue = (respond: Responder, fifo = false) => {
    const { client, calls } = stubClient<SQSClient>(respond)
    return { q: new SqsQueue({ client, name: 'q', url: 'http://sqs/q', fifo, backoff: fast }), calls }
  }

  it('send: batches within 10 entries and 256 KB; retries entries SQS failed on its side; refuses a sender fault', async () => {
    let failOnce = true
    const { q, calls } = queue((call) => {
      if (failOnce) {
        failOnce = false
        return { Failed: [{ Id: call.input.Entries[0].Id, SenderFault: false, Code: 'InternalError' }] }
      }
      return { Failed: [] }
    })
    await q.send([...Array.from({ length: 12 }, (_, i) => ({ body: `m${i}` })), { body: 'x'.repeat(200_000) }, { body: 'y'.repeat(200_000) }])
    // The three batches go out together; the entry SQS failed on (m0) is sent again alone.
    const sizes = calls.map((c) => c.input.Entries.length)
    expect([...sizes].sort((a, b) => a - b)).toEqual([1, 1, 3, 10])
    expect(calls.slice(3).map((c) => c.input.Entries.map((e: { MessageBody: string }) => e.MessageBody))).toEqual([['m0']])
    const refused = queue(() => ({ Failed: [{ Id: 'm0', SenderFault: true, Code: 'InvalidMessageContents', Message: 'bad' }] }))
    await expect(refused.q.send([{ body: 'a' }])).rejects.toThrow(/InvalidMessageContents/)
  })

  it('send and delete: a call of many batches has several in flight, unless a FIFO message group spans two batches', async () => {
    let inFlight = 0
    let most = 0
    const respond = async () => {
      inFlight++
      most = Math.max(most, inFlight)
      await new Promise((resolve) => setTimeout(resolve, 2))
      inFlight--
      return { Failed: [] }
    }
    const { q, calls } = queue(respond)
    await q.send(Array.from({ length: 50 }, (_, i) => ({ body: `m${i}` })))
    expect(calls).toHaveLength(5)
    expect(most).toBeGreaterThan(1)
    most = 0
    await q.delete(Array.from({ length: 40 }, (_, i) => `h${i}`))
    expect(most).toBeGreaterThan(1)
    // FIFO: one group per message (shard messages) - together; one group over 20 messages - one batch after another, in order.
    const fifo = queue(respond, true)
    most = 0
    await fifo.q.send(Array.from({ length: 30 }, (_, i) => ({ body: `s${i}`, groupId: `g${i}`, dedupId: `d${i}` })))
    expect(most).toBeGreaterThan(1)
    most = 0
    fifo.calls.length = 0
    await fifo.q.send(Array.from({ length: 20 }, (_, i) => ({ body: `o${i}`, groupId: 'one', dedupId: `e${i}` })))
    expect(most).toBe(1)
    expect(fifo.calls.flatMap((c) => c.input.Entries.map((e: { MessageBody: string }) => e.MessageBody))).toEqual(Array.from({ length: 20 }, (_, i) => `o${i}`))
  })

  it('receive: whole-second waits and visibility, receive count and sent time from either attribute list', async () => {
    const { q, calls } = queue(() => ({
      Messages: [{ MessageId: 'id1', ReceiptHandle: 'rh1', Body: '{}', Attributes: { ApproximateReceiveCount: '3', SentTimestamp: '1700000000000' } }],
    }))
    const [m] = await q.receive({ maxMessages: 5, waitMs: 1500, visibilityTimeoutMs: 100 })
    expect(m).toEqual({ id: 'id1', receiptHandle: 'rh1', body: '{}', receiveCount: 3, sentAtMs: 1700000000000 })
    expect(calls[0]!.input).toMatchObject({ MaxNumberOfMessages: 5, WaitTimeSeconds: 2, VisibilityTimeout: 1 })
    expect(calls[0]!.input.AttributeNames).toContain('ApproximateReceiveCount')
    expect(calls[0]!.input.MessageSystemAttributeNames).toContain('SentTimestamp')
  })

  it('delete ignores handles SQS no longer knows; extendVisibility with one is an error', async () => {
    const { q } = queue((call) => (call.command === 'DeleteMessageBatchCommand' ? { Failed: [{ Id: 'd0', Code: 'ReceiptHandleIsInvalid', SenderFault: true }] } : awsError('ReceiptHandleIsInvalid')))
    await q.delete(['gone'])
    await expect(q.extendVisibility('gone', 1000)).rejects.toThrow(/no longer valid/)
  })

  it('a queue known by name is looked up once, on first use', async () => {
    const { client, calls } = stubClient<SQSClient>(() => ({ Messages: [] }))
    let lookups = 0
    const q = new SqsQueue({ client, name: 'lazy', url: async () => `http://sqs/lazy/${++lookups}`, fifo: false })
    expect(() => q.url).toThrow(/not resolved/)
    await Promise.all([q.receive({ maxMessages: 1, waitMs: 0 }), q.receive({ maxMessages: 1, waitMs: 0 })])
    expect(lookups).toBe(1)
    expect(calls.map((c) => c.input.QueueUrl)).toEqual(['http://sqs/lazy/1', 'http://sqs/lazy/1'])
    expect(q.url).toBe('http://sqs/lazy/1')
  })

  it('FIFO: a group on every message, deduplication ids passed, no per-message delay', async () => {
    const { q, calls } = queue(() => ({ Failed: [] }), true)
    await expect(q.send([{ body: 'a' }])).rejects.toThrow(/groupId/)
    await expect(q.send([{ body: 'a', groupId: 'g', delayMs: 1000 }])).rejects.toThrow(/delay/)
    await q.send([{ body: 'a', groupId: 'g', dedupId: 'd' }])
    expect(calls).toHaveLength(1)
    expect(calls[0]!.input.Entries[0]).toMatchObject({ MessageGroupId: 'g', MessageDeduplicationId: 'd' })
  })
})

describe('entry point configuration', () => {
  it('names every missing or bad variable at once', () => {
    const error = (() => {
      try {
        loadEnv(sequencerEnvSchema, 'sequencer', { AWS_REGION: 'us-east-1', PAREVM_CHAIN_ID: '7777', PAREVM_COINBASE: '0x12', PAREVM_SHARDS: '0' })
      } catch (e) {
        return e
      }
    })() as ConfigError
    expect(error).toBeInstanceOf(ConfigError)
    expect(error.message).toMatch(/PAREVM_PREFIX missing/)
    expect(error.message).toMatch(/PAREVM_COINBASE "0x12"/)
    expect(error.message).toMatch(/PAREVM_SHARDS "0"/)
    expect(error.details).toMatch(/prefix of every table and queue name/)
  })

  it('applies defaults and builds the sequencer configuration', () => {
    const env = loadEnv(sequencerEnvSchema, 'sequencer', { PAREVM_PREFIX: 'p', AWS_REGION: 'r', PAREVM_CHAIN_ID: '7777', PAREVM_COINBASE: `0x${'Ab'.repeat(20)}`, PAREVM_INTAKE_WAIT_MS: '' })
    const config = sequencerConfig(env)
    expect(config).toMatchObject({ chain: { kind: 'custom', chainId: '0x1e61', hardfork: 'cancun' }, shardCount: 8, blockSizeMax: 1000, coinbase: `0x${'ab'.repeat(20)}`, intakeWaitMs: 1000 })
    const worker = loadEnv(workerEnvSchema, 'worker', { PAREVM_PREFIX: 'p', AWS_REGION: 'r' })
    expect(worker.PAREVM_VISIBILITY_TIMEOUT_MS).toBe(120_000)
    expect(() => loadEnv(workerEnvSchema, 'worker', { PAREVM_PREFIX: 'p', AWS_REGION: 'r', PAREVM_FAULT_KILL: 'sometimes' })).toThrow(/PAREVM_FAULT_KILL/)
  })

  it('handlers refuse events they do not understand, before touching AWS', async () => {
    await expect(sequenceBlock({ Records: [] })).rejects.toThrow(/unexpected invocation/)
    await expect(sealBlock({ source: 'aws.events' })).rejects.toThrow(/not an SQS event/)
    expect(sequencerInvocationSchema.safeParse({ 'detail-type': 'Scheduled Event', source: 'aws.events', time: 'x' }).success).toBe(true)
    expect(sequencerInvocationSchema.safeParse({ maxBlocks: 3, budgetMs: 60_000 }).success).toBe(true)
    expect(sequencerInvocationSchema.safeParse({ maxBlocks: 0 }).success).toBe(false)
  })
})
