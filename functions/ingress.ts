/**
 * The ingress function (issue 16.2): intake off the sequencer, on AWS Lambda. An SQS event source
 * on the ingress queue hands it batches of ingress messages; it judges each (decode, recover the
 * sender, hash, the stateless checks: shared/intake/ingress.ts, the code the sequencer runs
 * inline), records the rejections (the same rejection records, put-if-absent, none for an input
 * that already has a record) and forwards the accepted transactions to the decoded queue
 * (shared/intake/decoded-message.ts), where the sequencer takes them without recovering senders
 * (PAREVM_INTAKE_SOURCE=decoded).
 *
 * One invocation's transactions (all of its messages') go out together: packed into as few
 * decoded messages as fit the queue's size (shared/intake/decoded-message.ts,
 * `packDecodedMessages`), sent in as few SendMessageBatch calls as fit, the calls in parallel, while
 * the rejections are written (bounded, in parallel). At one transaction an ingress message and
 * batches of 10, that is one send where there were ten one after another.
 *
 * Exactly once: a message is acknowledged (the event source deletes it) only after every input
 * it holds is durable: its rejections stored, its transactions in a decoded message SQS took. An
 * input held by several messages of the batch is carried by its first occurrence, and every
 * message holding it shares its fate. A message whose rejection write or whose decoded message's
 * send failed is reported (partial batch responses, `batchItemFailures`); no other is. A message
 * handled twice (a crash, a redelivery, a report) stores nothing twice (put-if-absent) and sends
 * its transactions again, possibly beside other messages' in a new decoded message; the
 * sequencer drops those copies as it drops any resubmission (same hash in one intake, or a
 * receipt already), and a decoded message holding a copy is deleted once its every transaction
 * is planned or dropped. Reported messages come back, and after the queue's maxReceiveCount move
 * to its dead-letter queue. A failure of the whole batch (no chain head, the store unreachable
 * before any message was handled) is thrown: a Lambda error, counted by the function's Errors
 * alarm, and the batch comes back. (Powertools' BatchProcessor handles one record at a time; the
 * batch is judged together here: one head read, one receipt lookup and as few sends as fit for
 * all of its messages.)
 *
 * Status: wired. Deployed by the stack when `-c ingressFunction=true` (default off;
 * infra/constructs/ingress-function.ts); then it is the only consumer of the ingress queue and the
 * sequencer reads the decoded queue (infra/access.ts, deployedAccess). Tested over the in-process
 * ports (test/engine/ingress-function.test.ts), end to end against DynamoDB Local and a local SQS
 * server with an emulated event source (test/integration/ingress.aws.test.ts), in the stack's
 * runtime contract (test/infra/runtime-contract.test.ts) and by `cdk deploy` against moto
 * (test/infra/local-deploy.test.ts). Not yet run on AWS itself. See docs/deploy.md, "Intake off
 * the sequencer".
 */
import { Records } from '../shared/store/records.ts'
import { commonFor, sharedTxCommon } from '../shared/exec/common-for.ts'
import { packDecodedMessages, sendBatchesOf } from '../shared/intake/decoded-message.ts'
import { judgeIngressBody } from '../shared/intake/ingress.ts'
import { ConfigError, MalformedInputError, isRetryable } from '../shared/errors.ts'
import { openAwsRuntime, once, storeRetries } from './commons/clients.ts'
import { chainSpec, ingressEnvSchema, loadEnv, type IngressEnv } from './commons/config.ts'
import { recordToMessage, sqsEventSchema } from './commons/events.ts'
import { MetricUnit, createLogger, createMetrics } from './commons/observability.ts'

import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger'
import type { Metrics } from '@aws-lambda-powertools/metrics'
import type { AwsBackend } from '../shared/adapters/aws/provision.ts'
import type { ChainSpec } from '../shared/exec/block-env.ts'
import type { DecodedTx } from '../shared/intake/decode.ts'
import type { Rejection } from '../shared/intake/rejection.ts'
import type { KeyValueStore } from '../shared/ports/kv-store.ts'
import type { Queue, QueueMessage } from '../shared/ports/queue.ts'

export interface IngressDeps {
  kv: KeyValueStore
  /** Where the sequencer takes decoded transactions (only this function may send to it). */
  decoded: Queue
  chain: ChainSpec
  blockTimeSec: number
  clock?: () => number
  /** Largest decoded message body (default DECODED_MESSAGE_BYTES_MAX; tests use less). */
  decodedMessageBytesMax?: number
}

export interface IngressOutcome {
  /** Message ids to report as failed (SQS delivers them again). */
  failed: string[]
  /** Why each of them failed. */
  failures: { messageId: string; error: unknown }[]
  /** Transactions sent to the decoded queue (each once). */
  forwarded: number
  /** Rejections this batch recorded (each once: one already recorded by someone else is a duplicate). */
  rejected: Rejection[]
  /** Inputs that already had a record, or came twice in this batch. */
  duplicates: number
  /** Decoded messages sent, and the SendMessageBatch calls they took. */
  decodedMessages: number
  sendCalls: number
}

/** Rejection records written at once (the store client bounds its own calls too). */
const REJECTION_WRITES_IN_FLIGHT = 8

/** What one input's fate hangs on: done, or failed with an error. */
interface Carrier {
  error?: unknown
}

/** Judge a batch of ingress messages, record rejections, forward the rest; see the file comment. */
export async function handleIngressMessages(deps: IngressDeps, messages: readonly QueueMessage[]): Promise<IngressOutcome> {
  const records = new Records(deps.kv)
  const clock = deps.clock ?? Date.now
  const head = await records.getHead()
  if (head === undefined) throw new ConfigError('the store has no chain head: bootstrap the chain (genesis) first')
  // The rules of the next block (as the sequencer's intake judges them).
  const number = BigInt(head.number) + 1n
  const common = commonFor(deps.chain, number, BigInt(head.timestamp) + BigInt(deps.blockTimeSec))
  const ctx = { common: sharedTxCommon(common), blockGasLimit: BigInt(head.gasLimit), clock }

  // 1. Judge. An input (a transaction's hash, a rejection's id) is carried by its first
  // occurrence in the batch; every message that holds it, the first or a repeat, depends on it.
  const txs: DecodedTx[] = []
  const rejections: Rejection[] = []
  const inputs = new Map<string, { carrier: Carrier; tx?: DecodedTx; rejection?: Rejection }>()
  let duplicates = 0
  const perMessage = messages.map((message) => {
    const judged = judgeIngressBody(message.body, ctx)
    const results = judged.kind === 'malformed' ? [{ ok: false as const, rejection: judged.rejection }] : judged.results
    const holds: Carrier[] = []
    for (const r of results) {
      const id = r.ok ? r.tx.hashHex : r.rejection.id
      const known = inputs.get(id)
      if (known !== undefined) {
        duplicates++
        holds.push(known.carrier)
        continue
      }
      const input = r.ok ? { carrier: {}, tx: r.tx } : { carrier: {}, rejection: r.rejection }
      inputs.set(id, input)
      holds.push(input.carrier)
    }
    return { message, holds }
  })

  // 2. What was decided before (a receipt or a rejection) is final: neither recorded nor forwarded again.
  const ids = [...inputs.keys()]
  const found = ids.length === 0 ? [] : await records.getReceipts(ids)
  ids.forEach((id, i) => {
    const input = inputs.get(id)!
    if (found[i] !== undefined) duplicates++
    else if (input.tx !== undefined) txs.push(input.tx)
    else rejections.push(input.rejection!)
  })

  // 3. Record the rejections and send the transactions, all at once: the transactions of every
  // message packed into as few decoded messages as fit, those into as few SendMessageBatch calls
  // as fit, the calls in parallel. Each message's fate is the fate of every input it holds.
  const outcome: IngressOutcome = { failed: [], failures: [], forwarded: 0, rejected: [], duplicates, decodedMessages: 0, sendCalls: 0 }
  const sentAt = messages.reduce<number | undefined>((min, m) => (Number.isFinite(m.sentAtMs) && (min === undefined || m.sentAtMs < min) ? m.sentAtMs : min), undefined)
  const packed = packDecodedMessages(txs, sentAt, deps.decodedMessageBytesMax)
  const carriersOf = (offset: number, count: number): Carrier[] => txs.slice(offset, offset + count).map((t) => inputs.get(t.hashHex)!.carrier)
  let offset = 0
  const messageCarriers = packed.map((m) => {
    const carriers = carriersOf(offset, m.txs)
    offset += m.txs
    return carriers
  })
  const batches = sendBatchesOf(packed.map((m) => m.body))
  outcome.decodedMessages = packed.length
  outcome.sendCalls = batches.length
  const sends = batches.map(async (batch) => {
    try {
      await deps.decoded.send(batch.map((i) => ({ body: packed[i]!.body })))
      for (const i of batch) outcome.forwarded += packed[i]!.txs
    } catch (error) {
      for (const i of batch) for (const c of messageCarriers[i]!) c.error = error
    }
  })
  let next = 0
  const writes = Array.from({ length: Math.min(REJECTION_WRITES_IN_FLIGHT, rejections.length) }, async () => {
    // Bounded: each lane takes the next rejection until none is left.
    while (next < rejections.length) {
      const rejection = rejections[next++]!
      try {
        // Put-if-absent: false when someone else recorded it first (a concurrent copy).
        if (await records.putRejection(rejection)) outcome.rejected.push(rejection)
        else outcome.duplicates++
      } catch (error) {
        inputs.get(rejection.id)!.carrier.error = error
      }
    }
  })
  await Promise.all([...sends, ...writes])

  for (const { message, holds } of perMessage) {
    const failed = holds.find((c) => c.error !== undefined)
    if (failed === undefined) continue
    outcome.failed.push(message.id)
    outcome.failures.push({ messageId: message.id, error: failed.error })
  }
  // Rejections in the order their messages came (the writes finish in any order).
  const order = new Map(rejections.map((r, i) => [r.id, i]))
  outcome.rejected.sort((a, b) => order.get(a.id)! - order.get(b.id)!)
  return outcome
}

// ----- the Lambda entry ---------------------------------------------------------------------

export interface IngressRuntime {
  env: IngressEnv
  backend: AwsBackend
  deps: IngressDeps
  logger: PowertoolsLogger
  metrics: Metrics
  /** Sees each batch's outcome (tests). */
  onOutcome?: (outcome: IngressOutcome) => void
}

export async function createIngressRuntime(env: IngressEnv, options: { backend?: AwsBackend; logger?: PowertoolsLogger; metrics?: Metrics; clock?: () => number } = {}): Promise<IngressRuntime> {
  // Its own queue is checked at start; the ingress queue reaches it through the event source.
  const backend = options.backend ?? (await openAwsRuntime(env, { checkTables: true, queues: ['decoded'] })).backend
  const deps: IngressDeps = {
    kv: backend.kv,
    decoded: backend.queues.decoded,
    chain: chainSpec(env),
    blockTimeSec: env.PAREVM_BLOCK_TIME_SEC,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
  }
  return { env, backend, deps, logger: options.logger ?? createLogger('ingress'), metrics: options.metrics ?? createMetrics('ingress') }
}

/** One batch of ingress messages: judge, record, forward; metrics and logs; the failed message ids. */
export async function handleIngressBatch(rt: IngressRuntime, messages: readonly QueueMessage[]): Promise<IngressOutcome> {
  const { logger, metrics } = rt
  const retriesBefore = storeRetries(rt.backend)
  const t0 = performance.now()
  let outcome: IngressOutcome
  try {
    outcome = await handleIngressMessages(rt.deps, messages)
  } catch (error) {
    logger.error('ingress batch failed as a whole; SQS will deliver it again', { messages: messages.length, retryable: isRetryable(error), error: error as Error })
    throw error
  }
  const now = Date.now()
  for (const m of messages) metrics.addMetric('IngressQueueWaitMs', MetricUnit.Milliseconds, Math.max(0, now - m.sentAtMs))
  metrics.addMetric('IngressMessages', MetricUnit.Count, messages.length)
  metrics.addMetric('ForwardedTxs', MetricUnit.Count, outcome.forwarded)
  metrics.addMetric('DecodedMessages', MetricUnit.Count, outcome.decodedMessages)
  metrics.addMetric('DecodedSendCalls', MetricUnit.Count, outcome.sendCalls)
  metrics.addMetric('IngressRejected', MetricUnit.Count, outcome.rejected.length)
  metrics.addMetric('IngressDuplicates', MetricUnit.Count, outcome.duplicates)
  metrics.addMetric('FailedMessages', MetricUnit.Count, outcome.failed.length)
  metrics.addMetric('IngressBatchMs', MetricUnit.Milliseconds, performance.now() - t0)
  metrics.addMetric('StoreRetries', MetricUnit.Count, storeRetries(rt.backend) - retriesBefore)
  const redelivered = messages.filter((m) => m.receiveCount > 1).length
  if (redelivered > 0) metrics.addMetric('Redeliveries', MetricUnit.Count, redelivered)
  metrics.publishStoredMetrics()
  for (const r of outcome.rejected) logger.info('transaction rejected', { txHash: r.id, code: r.code, reason: r.reason })
  const byId = new Map(messages.map((m) => [m.id, m]))
  for (const f of outcome.failures) {
    const retryable = isRetryable(f.error)
    logger.error(retryable ? 'ingress message failed; SQS will deliver it again' : 'ingress message hit a broken invariant or bad input (not retryable); SQS delivers it until the dead-letter queue', {
      messageId: f.messageId,
      receiveCount: byId.get(f.messageId)?.receiveCount,
      retryable,
      error: f.error as Error,
    })
  }
  rt.onOutcome?.(outcome)
  logger.debug('ingress batch', { messages: messages.length, forwarded: outcome.forwarded, decodedMessages: outcome.decodedMessages, sendCalls: outcome.sendCalls, rejected: outcome.rejected.length, duplicates: outcome.duplicates, failed: outcome.failed.length })
  return outcome
}

/** What Lambda's SQS event source reads back: the messages to deliver again. */
export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[]
}

/** The handler for a runtime (tests pass their own). */
export function createHandler(getRuntime: () => Promise<IngressRuntime>) {
  return async (event: unknown): Promise<SqsBatchResponse> => {
    const parsed = sqsEventSchema.safeParse(event)
    if (!parsed.success) throw new MalformedInputError(`ingress: not an SQS event: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
    const rt = await getRuntime()
    const outcome = await handleIngressBatch(rt, parsed.data.Records.map(recordToMessage))
    return { batchItemFailures: outcome.failed.map((id) => ({ itemIdentifier: id })) }
  }
}

const runtime = once(async () => createIngressRuntime(loadEnv(ingressEnvSchema, 'ingress')))

export const handler = createHandler(runtime)
