/**
 * Lambda and worker entry points, on the in-process store (no AWS):
 * - the coordinator (functions/seal-block.ts `createHandler`, a runtime over the memory store):
 *   events of every wrong shape must throw a ParevmError; SQS events must return a batch response
 *   naming exactly the records that could not be handled (bad bodies, blocks without a plan);
 * - the sequencer (functions/sequence-block.ts `handler`): its parse layer only (a valid
 *   invocation needs the AWS runtime): a wrong invocation throws a ParevmError before any AWS
 *   call, and the schema accepts exactly the documented invocations;
 * - the shard worker (functions/execute-shards.ts runs `ShardWorker.handle` in its loop): any
 *   body gives an outcome or a ParevmError (the message comes back), nothing else.
 */
import { Logger } from '@aws-lambda-powertools/logger'

import { createCoordinatorRuntime, createHandler, type CoordinatorRuntime } from '../../functions/seal-block.ts'
import { handler as sequencerHandler } from '../../functions/sequence-block.ts'
import { sequencerInvocationSchema } from '../../functions/commons/events.ts'
import { initializeChain } from '../../shared/cluster/bootstrap.ts'
import { EmbeddedCluster } from '../../shared/cluster/embedded.ts'
import { ParevmError } from '../../shared/errors.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { ShardWorker } from '../../shared/worker/shard-worker.ts'
import { signTx, testGenesis } from '../helpers/chain.ts'
import { Rng } from './rng.ts'
import { count, failure, HANG_MS, newStats, retimed, type FuzzFailure, type TargetOptions, type TargetRun } from './types.ts'

import type { Metrics } from '@aws-lambda-powertools/metrics'
import type { AwsBackend } from '../../shared/adapters/aws/provision.ts'
import type { CoordinatorEnv } from '../../functions/commons/config.ts'
import type { QueueMessage } from '../../shared/ports/queue.ts'

const silentMetrics = { addMetric: () => {}, publishStoredMetrics: () => {} } as unknown as Metrics

function randomValue(rng: Rng, depth = 0): unknown {
  const r = rng.int(depth > 2 ? 6 : 8)
  if (r === 0) return null
  if (r === 1) return undefined
  if (r === 2) return rng.chance(0.5)
  if (r === 3) return rng.pick([0, 1, -1, 1.5, 1e21, Number.NaN, 2 ** 53])
  if (r === 4) return rng.pick(['', 'x', '1', '0', 'aws:sqs', '{}', '\u0000'])
  if (r === 5) return rng.pick(['0x', 'null', 'true', '[]'])
  if (r === 6) return Array.from({ length: rng.length(4) }, () => randomValue(rng, depth + 1))
  const o: Record<string, unknown> = {}
  for (let i = rng.length(4); i >= 0; i--) o[rng.pick(['Records', 'messageId', 'receiptHandle', 'body', 'attributes', 'eventSource', 'maxBlocks', 'budgetMs', 'detail-type', 'source', 'x'])] = randomValue(rng, depth + 1)
  return o
}

/** A done-message body, mostly well-formed; `handled`: the coordinator must accept it. */
function doneBody(rng: Rng): { body: string; handled: boolean } {
  const r = rng.int(10)
  if (r < 3) return { body: rng.pick(['', '{', 'null', '[]', '{}', '"done"', '\u0000', 'x'.repeat(rng.int(100))]), handled: false }
  const msg: Record<string, unknown> = { v: 1, kind: 'done', block: rng.pick(['0', '1', '1', '2', '99999999999999999999999']), shard: rng.int(4), parts: 1 + rng.int(3) }
  if (rng.chance(0.3)) msg.timings = { totalMs: rng.int(100) }
  if (rng.chance(0.4)) msg[rng.pick(['v', 'kind', 'block', 'shard', 'parts', 'timings', 'extra'])] = randomValue(rng, 2)
  const body = JSON.stringify(msg)
  // The model: strict fields as documented in shared/pipeline/messages.ts.
  const parsed = JSON.parse(body) as Record<string, unknown>
  const int = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
  const timings = parsed.timings
  const timingsOk = timings === undefined || (timings !== null && typeof timings === 'object' && !Array.isArray(timings) && Object.values(timings).every((t) => typeof t === 'number' && Number.isFinite(t)))
  const shapeOk =
    Object.keys(parsed).every((k) => ['v', 'kind', 'block', 'shard', 'parts', 'timings'].includes(k)) &&
    parsed.v === 1 &&
    parsed.kind === 'done' &&
    typeof parsed.block === 'string' &&
    /^[0-9]+$/.test(parsed.block) &&
    int(parsed.shard, 0, 4095) &&
    int(parsed.parts, 1, 10_000) &&
    timingsOk
  // Blocks 0 (genesis) and 1 are sealed in the runtime's store: their done messages are handled
  // ('already-sealed'). Every other one fails and comes back: malformed, or "no plan is stored".
  return { body, handled: shapeOk && (parsed.block === '0' || parsed.block === '1') }
}

interface SqsRecordInput {
  record: unknown
  /** Whether the record passes the documented record shape. */
  wellFormed: boolean
  handled: boolean
  id: string
}

function sqsRecord(rng: Rng, i: number): SqsRecordInput {
  const id = `m-${i}-${rng.u32()}`
  const done = doneBody(rng)
  const body = done.body
  let handled = done.handled
  const record: Record<string, unknown> = { messageId: id, receiptHandle: `h-${i}`, body, attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()) }, eventSource: 'aws:sqs' }
  let wellFormed = true
  if (rng.chance(0.15)) {
    const field = rng.pick(['messageId', 'receiptHandle', 'body', 'attributes', 'eventSource'])
    const value = rng.chance(0.3) ? undefined : randomValue(rng, 2)
    if (value === undefined) delete record[field]
    else record[field] = value
    // No random value is a done message.
    if (field === 'body') handled = false
    wellFormed = recordShapeOk(record)
  }
  return { record, wellFormed, handled: wellFormed && handled, id: typeof record.messageId === 'string' ? record.messageId : id }
}

/** The documented SQS record shape (functions/commons/events.ts), independently. */
function recordShapeOk(r: Record<string, unknown>): boolean {
  const str = (v: unknown): boolean => typeof v === 'string'
  if (!str(r.messageId) || r.messageId === '' || !str(r.receiptHandle) || r.receiptHandle === '' || !str(r.body)) return false
  if (r.eventSource !== undefined && r.eventSource !== 'aws:sqs') return false
  const a = r.attributes
  if (a === undefined) return true
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return false
  const attrs = a as Record<string, unknown>
  return ['ApproximateReceiveCount', 'SentTimestamp', 'MessageGroupId'].every((k) => attrs[k] === undefined || str(attrs[k]))
}

async function timed<T>(work: () => Promise<T>): Promise<{ value?: T; error?: unknown; ms: number }> {
  const t0 = performance.now()
  try {
    const value = await work()
    return { value, ms: performance.now() - t0 }
  } catch (error) {
    return { error, ms: performance.now() - t0 }
  }
}

/** A coordinator runtime over a memory store in which block 1 is sealed. */
async function coordinatorRuntime(): Promise<CoordinatorRuntime> {
  const kv = new MemoryKeyValueStore()
  const q = (name: string): MemoryQueue => new MemoryQueue({ name, visibilityTimeoutMs: 2_000, maxReceiveCount: 50, deadLetter: new MemoryQueue({ name: `${name}-dlq` }) })
  const cluster = await EmbeddedCluster.start({ genesis: testGenesis({ accounts: 2 }), workers: 1, threads: false, blockSize: 4, verify: false, backends: { kv, ingress: q('ingress'), shardQueue: q('shards'), doneQueue: q('done') } })
  try {
    const summary = await cluster.runOrdered([signTx({ from: 0, nonce: 0, to: `0x${'33'.repeat(20)}`, value: 1n })])
    if (summary.blocks !== 1) throw new Error('could not seal block 1 for the coordinator target')
  } finally {
    await cluster.stop()
  }
  const backend = { kv } as unknown as AwsBackend
  return createCoordinatorRuntime({} as CoordinatorEnv, { backend, logger: new Logger({ logLevel: 'SILENT' }), metrics: silentMetrics })
}

export async function fuzzLambda(options: TargetOptions): Promise<TargetRun> {
  const stats = newStats('lambda + worker events')
  const failures: FuzzFailure[] = []
  const rng = Rng.derive(options.seed, 4)
  const rt = await coordinatorRuntime()
  const coordinator = createHandler(async () => rt)
  const kv = new MemoryKeyValueStore()
  await initializeChain(kv, testGenesis({ accounts: 2 }))
  const worker = new ShardWorker({ kv, shardQueue: new MemoryQueue({ name: 'shards' }), doneQueue: new MemoryQueue({ name: 'done' }) })
  const t0 = performance.now()
  const fail = (i: number, kind: string, input: unknown, error: unknown): void => {
    let text: string
    try {
      text = JSON.stringify(input) ?? String(input)
    } catch {
      text = String(input)
    }
    failures.push(failure(stats.target, options.seed, i, kind, text, error))
  }
  for (let i = 0; i < options.count; i++) {
    const r = rng.int(100)
    if (r < 45) {
      // Coordinator: an SQS event (mostly well-formed) or anything else.
      let event: unknown
      let records: SqsRecordInput[] = []
      let eventOk = true
      if (rng.chance(0.2)) {
        event = randomValue(rng)
        const o = event as { Records?: unknown }
        eventOk = event !== null && typeof event === 'object' && !Array.isArray(event) && Array.isArray(o.Records) && (o.Records as unknown[]).every((x) => x !== null && typeof x === 'object' && !Array.isArray(x) && recordShapeOk(x as Record<string, unknown>))
        if (eventOk) records = (o.Records as Record<string, unknown>[]).map((x) => ({ record: x, wellFormed: true, handled: false, id: x.messageId as string }))
      } else {
        records = Array.from({ length: rng.length(10) }, (_, j) => sqsRecord(rng, i * 100 + j))
        eventOk = records.every((x) => x.wellFormed)
        event = { Records: records.map((x) => x.record) }
      }
      count(stats.byKind, eventOk ? 'coordinator-sqs-event' : 'coordinator-bad-event')
      const out = await timed(() => coordinator(event))
      stats.slowestMs = Math.max(stats.slowestMs, out.ms)
      if (out.ms > HANG_MS * 5) fail(i, 'coordinator', event, `hang: ${out.ms.toFixed(0)} ms`)
      if (!eventOk) {
        if (!(out.error instanceof ParevmError)) fail(i, 'coordinator-bad-event', event, out.error ?? `returned ${JSON.stringify(out.value)} for an event that is not an SQS event`)
        else count(stats.rejectedByCode, 'ParevmError')
        continue
      }
      if (out.error !== undefined) {
        fail(i, 'coordinator-sqs-event', event, out.error)
        continue
      }
      const reported = new Set((out.value?.batchItemFailures ?? []).map((f) => f.itemIdentifier))
      const expected = new Set(records.filter((x) => !x.handled).map((x) => x.id))
      const missing = [...expected].filter((id) => !reported.has(id))
      const extra = [...reported].filter((id) => !expected.has(id))
      if (missing.length > 0 || extra.length > 0) {
        const bodies = records.filter((x) => missing.includes(x.id) || extra.includes(x.id)).map((x) => `${x.id}: ${(x.record as { body?: unknown }).body}`)
        fail(i, 'coordinator-sqs-event', event, `batch item failures differ: missing ${missing.join(',')}, unexpected ${extra.join(',')}; bodies ${bodies.join(' | ')}`)
      }
      count(stats.rejectedByCode, 'batch-item-failure', reported.size)
      stats.accepted += records.length - reported.size
    } else if (r < 65) {
      // Sequencer invocation: the parse layer.
      const event = rng.chance(0.3)
        ? rng.pick([{ 'detail-type': 'Scheduled Event', source: 'aws.events' }, { maxBlocks: rng.range(-2, 3) }, { budgetMs: rng.pick([999, 1000, 900_000, 900_001, 1.5]) }, { maxBlocks: 1, budgetMs: 60_000 }, { maxBlocks: '1' }, { 'detail-type': 5, source: 'x' }])
        : randomValue(rng)
      const o = (event ?? {}) as Record<string, unknown>
      const isObj = typeof o === 'object' && !Array.isArray(o)
      const int = (v: unknown, min: number, max: number): boolean => v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)
      const scheduled = isObj && typeof o['detail-type'] === 'string' && typeof o.source === 'string'
      const direct = isObj && Object.keys(o).every((k) => k === 'maxBlocks' || k === 'budgetMs') && int(o.maxBlocks, 1, 100_000) && int(o.budgetMs, 1000, 15 * 60_000)
      const modelOk = scheduled || direct
      count(stats.byKind, modelOk ? 'sequencer-invocation' : 'sequencer-bad-invocation')
      const schemaOk = sequencerInvocationSchema.safeParse(event ?? {}).success
      if (schemaOk !== modelOk) fail(i, 'sequencer-invocation', event, `the schema ${schemaOk ? 'accepts' : 'refuses'} it, the documented shape ${modelOk ? 'accepts' : 'refuses'} it`)
      if (!modelOk) {
        const out = await timed(() => sequencerHandler(event))
        if (!(out.error instanceof ParevmError) || !/unexpected invocation/.test(out.error.message)) fail(i, 'sequencer-bad-invocation', event, out.error ?? 'the handler accepted it')
        else count(stats.rejectedByCode, 'ParevmError')
      } else stats.accepted++
    } else {
      // Shard worker: a message body.
      const body = rng.chance(0.3)
        ? String(JSON.stringify(randomValue(rng)))
        : JSON.stringify({ v: 1, kind: 'shard', block: rng.pick(['0', '1', '2', '7', '1e3', '-1', '']), shard: rng.pick([0, 1, 4095, 4096, -1, 0.5]), shards: rng.pick([1, 2, 4096, 0]), parts: rng.pick([1, 2, 0, 10_001]), ...(rng.chance(0.1) ? { x: 1 } : {}) })
      count(stats.byKind, 'worker-shard-message')
      const message: QueueMessage = { id: `w-${i}`, body, receiptHandle: `wh-${i}`, receiveCount: 1, sentAtMs: Date.now() }
      const out = await timed(() => worker.handle(message))
      stats.slowestMs = Math.max(stats.slowestMs, out.ms)
      const ms = await retimed(out.ms, () => worker.handle(message))
      if (ms > HANG_MS) fail(i, 'worker', body, `hang: ${ms.toFixed(0)} ms`)
      if (out.error !== undefined && !(out.error instanceof ParevmError)) fail(i, 'worker-shard-message', body, out.error)
      else if (out.error !== undefined) count(stats.rejectedByCode, 'ParevmError')
      else {
        stats.accepted++
        count(stats.rejectedByCode, `outcome-${out.value!.kind}`)
      }
    }
    if ((i & 255) === 255) options.onProgress?.(i + 1)
  }
  stats.inputs = options.count
  stats.ms = performance.now() - t0
  return { stats, failures }
}
