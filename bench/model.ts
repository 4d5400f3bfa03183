/**
 * The scale model (`npm run bench -- --sections model`): a PROJECTION, not a measurement. From
 * this machine's measured per-transaction costs of each stage (an engine run of a workloads
 * section: the same invocation's, a result file's via --model-from, or a quick measurement), a
 * micro-benchmark of the decoded-queue path run by the model command itself (on this machine),
 * and AWS's published service figures (below, each with its source), it projects the throughput
 * of the AWS deployment (SQS queues, DynamoDB tables) at 1 to 256 workers, in two deployments:
 * without the ingress function (the sequencer reads the ingress queue and decodes) and with it
 * (`-c ingressFunction=true`: Lambdas decode, recover and hash; the sequencer reads the decoded
 * queue). It names the term that limits each: where the next wall is.
 *
 * The model follows the code path by path, for one block of N transactions, W workers (one shard
 * each, evenly loaded: the conflict-free case; a hot spot puts its whole group on one worker and
 * is not modelled), m = the messages the sequencer reads per block (N / transactions per ingress
 * message without the ingress function; N / transactions per decoded message with it):
 *
 *   sequencer (Sequencer.plan, serial, up to the dispatch):
 *               N x (speculation + prediction + partition) CPU per tx
 *               + 3 DynamoDB requests (templates, head, plan meta) + 2 x ceil(ceil(N / 100) / C) (sender
 *               accounts, receipts of the transactions: seen before?) + DynamoDB request (putPlan's meta
 *               check) + ceil(ceil(W / 25) / C) (plan parts) + TransactWriteItems (plan meta)
 *               + ceil(ceil(W / 10) / 8) x SQS request (dispatch: SqsQueue.send, 8 batches in flight)
 *   acknowledge = ceil(ceil(m / 10) / D) x SQS request (DeleteMessageBatch of 10, D calls in flight:
 *               Sequencer.acknowledge)
 *   intake    = DynamoDB request (head) + ceil(ceil(m / 10) / R) x SQS request (ReceiveMessage, 10
 *               messages each, R calls in flight: Sequencer.receiveRounds) + N x intake CPU per tx
 *               (decoding and sender recovery; with the ingress function: parsing decoded messages
 *               and re-checking hash and sender)
 *   worker    = SQS request (receive) + ceil(ceil(keys x N/W / 100) / C) x DynamoDB request (prefetch,
 *               BatchGetItem 100 keys, C calls in flight) + N/W x worker CPU per tx + DynamoDB request
 *               (stage results) + SQS request (done)
 *   coordinator = SQS request (receive done) + ceil(W / C) x DynamoDB request (load results)
 *               + N x coordinator CPU per tx (validate, state root, apply, seal as measured in process,
 *               with what it did before the last shard arrived: here every worker has one shard and
 *               they all arrive together, so none of it runs beside the workers)
 *               + ceil(ceil(writes / 100) / A) x TransactWriteItems (apply: A in flight, StateTable.apply)
 *               + ceil(ceil(N / 25) / C) x DynamoDB request (receipts) + DynamoDB request (seal)
 *   seal seen = the first head poll (sealByHeadPolling: GetItem, then sleeps of 50 ms doubling to
 *               500 ms) at or after worker + coordinator, polls starting after the acknowledgements
 *   block period = sequencer + max(acknowledge + intake, seal seen)
 *               (the driver takes in the next block - prefetchIntake - while this one executes)
 *   tx/s = N / period, capped by the capacity walls below and, with the ingress function, by it:
 *
 *   ingress function, per invocation of B messages (B x t transactions; SQS event source, batch
 *   size B, at most L invocations at once; the event source's own receives and deletes are made by
 *   Lambda's pollers outside the function and assumed overlapped):
 *               DynamoDB request (head) + ceil(ceil(B x t / 100) / C) (receipts)
 *               + B x t x (decode and recovery CPU per tx, as the sequencer's intake measured + encoding)
 *               + SQS request (the invocation's transactions packed in ceil(B x t / per message)
 *               decoded messages, sent in SendMessageBatch calls in parallel: one round trip, as
 *               handleIngressMessages sends them)
 *   its tx/s  = L x B x t / invocation time
 *
 * (R = D = 8: RECEIVE_CALLS_IN_FLIGHT and DELETE_CALLS_IN_FLIGHT in shared/sequencer/sequencer.ts;
 * A = 8: APPLY_CALLS_IN_FLIGHT in shared/store/state-table.ts.)
 * For comparison, the code the previous model run described (`before: true`, commit 3a465ad):
 * receives and deletes one call after another (ceil(m / 10) x SQS request each), the ingress
 * function's one decoded message per ingress message (B SendMessageBatch calls one after
 * another), and the apply's TransactWriteItems one after another (A = 1).
 *
 * and three capacity walls: the table's default on-demand quota (write and read request units
 * per second), and one item every shard reads each block (the plan) against one partition's
 * read capacity. The in-process "other" time (in-memory queue hops, staging) is not carried over:
 * the AWS requests above replace it. CPU per transaction is this machine's; a Lambda or ECS
 * vCPU may be slower or faster. Not modelled: redeliveries, rejections (none in a generated
 * workload), cold starts, a transaction carried to a later block, Lambda's own per-invocation
 * overhead (no published figure).
 */
import { performance } from 'node:perf_hooks'

import { readDeployConfig } from '../infra/config.ts'
import { buildGenesis } from '../shared/chain/genesis.ts'
import { HEAD_POLL_MS_MAX, HEAD_POLL_MS_MIN } from '../shared/cluster/driver.ts'
import { commonFor, sharedTxCommon } from '../shared/exec/common-for.ts'
import { DECODED_MESSAGE_BYTES_MAX, DECODED_TXS_MAX, decodedMessageTx, encodeDecodedMessages, judgeDecodedBody } from '../shared/intake/decoded-message.ts'
import { judgeIngressBody } from '../shared/intake/ingress.ts'
import { QUEUE_LIMITS } from '../shared/ports/queue.ts'
import { DELETE_CALLS_IN_FLIGHT, RECEIVE_CALLS_IN_FLIGHT } from '../shared/sequencer/sequencer.ts'
import { APPLY_CALLS_IN_FLIGHT } from '../shared/store/state-table.ts'
import { SQS_CALLS_IN_FLIGHT } from '../shared/adapters/aws/sqs-queue.ts'
import { generateWorkload } from '../shared/workload/generator.ts'

import type { CaseResult, EngineRun } from './engine-bench.ts'
import type { DecodedTx } from '../shared/intake/decode.ts'

/** A published figure, its source, and what it says. */
export interface Figure {
  value: number
  unit: string
  source: string
  says: string
}

/** AWS's published figures the model uses. Where AWS publishes no figure, `says` says so. */
export const AWS_FIGURES = {
  sqsRequestMs: {
    value: 20,
    unit: 'ms per request',
    source: 'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-throughput-horizontal-scaling-and-batching.html',
    says: 'example figure: "if the latency from an Amazon EC2-based client to Amazon SQS in the same region averages 20 ms, the maximum throughput from a single thread over a single connection averages 50 TPS"',
  },
  sqsBatchMessages: {
    value: 10,
    unit: 'messages per SendMessageBatch / ReceiveMessage',
    source: 'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api-actions.html',
    says: 'batch actions "manipulate up to 10 messages with a single action"',
  },
  sqsStandardThroughput: {
    value: Number.POSITIVE_INFINITY,
    unit: 'API calls per second',
    source: 'https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues.html',
    says: 'standard queues support "a nearly unlimited number of API calls per second" (all three parevm queues are standard: shared/resources.ts)',
  },
  dynamoRequestMs: {
    value: 10,
    unit: 'ms per request',
    source: 'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html',
    says: 'on-demand tables "deliver the same single-digit millisecond latency" as provisioned ones; the model takes the upper end, 10 ms, for any request (a batch of 100 keys included)',
  },
  dynamoTransactMs: {
    value: 20,
    unit: 'ms per TransactWriteItems',
    source: 'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html',
    says: 'AWS publishes no latency for transactions; they "perform two underlying reads or writes of every item", so the model takes twice a request (an assumption, not a figure)',
  },
  dynamoTransactItems: {
    value: 100,
    unit: 'items per TransactWriteItems',
    source: 'https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html',
    says: 'up to 100 action requests per call',
  },
  dynamoBatchGetKeys: {
    value: 100,
    unit: 'keys per BatchGetItem',
    source: 'https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html',
    says: 'up to 100 items per call',
  },
  dynamoBatchWriteItems: {
    value: 25,
    unit: 'items per BatchWriteItem',
    source: 'https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html',
    says: 'up to 25 put or delete requests per call',
  },
  dynamoPartitionRcu: {
    value: 3000,
    unit: 'read units per second per partition',
    source: 'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html',
    says: '"each individual partition is limited to 1,000 write units per second and 3,000 read units per second"',
  },
  dynamoPartitionWcu: {
    value: 1000,
    unit: 'write units per second per partition',
    source: 'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html',
    says: 'as above',
  },
  dynamoTableQuota: {
    value: 40_000,
    unit: 'read (and write) request units per second per table',
    source: 'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html',
    says: 'on-demand throughput "is bounded by 40,000 table-level read and write throughput AWS service quota" by default (raisable on request)',
  },
  lambdaVcpuMemoryMb: {
    value: 1769,
    unit: 'MB of function memory for one vCPU',
    source: 'https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html',
    says: '"At 1,769 MB, a function has the equivalent of one vCPU (one vCPU-second of credits per second)" (the ingress function\'s memory: infra/constructs/ingress-function.ts); the model takes one such vCPU as one core of this machine',
  },
  lambdaSqsMaxConcurrency: {
    value: 1000,
    unit: 'concurrent invocations per SQS event source (maximum concurrency 2..1000)',
    source: 'https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html',
    says: 'MaximumConcurrency "limits the number of concurrent instances that the Amazon SQS event source can invoke", valid range 2 to 1000',
  },
} as const satisfies Record<string, Figure>

/** parevm's own settings the model uses (code, not AWS). */
export const PAREVM_SETTINGS = {
  /** DynamoDB calls in flight per store client (shared/adapters/aws/dynamodb-kv-store.ts, `concurrency` default). */
  dynamoConcurrency: 8,
  /** Write units per transaction besides the state writes: its receipt, its staged result, its share of the plan (assumed about 1 KB each). */
  otherWriteUnitsPerTx: 2.5,
  /** The sequencer's head polling while a block is sealed (shared/cluster/driver.ts, sealByHeadPolling). */
  headPollMsMin: HEAD_POLL_MS_MIN,
  headPollMsMax: HEAD_POLL_MS_MAX,
  /** Messages per ingress function invocation: the event source's batch size (infra/constructs/ingress-function.ts: `batchSize ?? 10`; the stack sets none). */
  ingressBatchSize: 10,
  /** The event source's maximum concurrency: `-c ingressConcurrency`, its default in infra/config.ts. */
  ingressConcurrency: readDeployConfig(() => undefined).ingressConcurrency,
  /** Most transactions in one decoded message (shared/intake/decoded-message.ts, DECODED_TXS_MAX). */
  decodedTxsMax: DECODED_TXS_MAX,
  /** The largest decoded message body: SQS's message size less a margin (shared/intake/decoded-message.ts). */
  decodedMessageBytes: DECODED_MESSAGE_BYTES_MAX,
  /** SQS's message size, and the most bytes of one SendMessageBatch call (shared/ports/queue.ts). */
  messageBytes: QUEUE_LIMITS.messageBytes,
  /** The sequencer's ReceiveMessage calls in flight while a block fills (shared/sequencer/sequencer.ts). */
  receiveCallsInFlight: RECEIVE_CALLS_IN_FLIGHT,
  /** The sequencer's DeleteMessageBatch calls in flight when it acknowledges (shared/sequencer/sequencer.ts). */
  deleteCallsInFlight: DELETE_CALLS_IN_FLIGHT,
  /** The coordinator's apply: TransactWriteItems calls in flight (shared/store/state-table.ts). */
  applyCallsInFlight: APPLY_CALLS_IN_FLIGHT,
  /** SendMessageBatch calls of one send in flight: the shard dispatch (shared/adapters/aws/sqs-queue.ts). */
  sendCallsInFlight: SQS_CALLS_IN_FLIGHT,
}

/** What the model takes from a measurement (per transaction unless said). */
export interface MeasuredCosts {
  source: string
  blockSize: number
  intakeMsPerTx: number
  planMsPerTx: number
  workerMsPerTx: number
  coordinatorMsPerTx: number
  /** In-process "other" (not carried over). */
  otherMsPerTx: number
  keysPerTx: number
  /** Upper bound: apply transactions x 100 items (the block report has no write count). */
  writesPerTx: number
}

export function costsFrom(result: CaseResult): MeasuredCosts {
  const candidates = result.engine.filter((e) => e.templates === 'warm')
  const pick = (candidates.length > 0 ? candidates : result.engine).reduce((a, b) => (b.workers < a.workers ? b : a))
  const run: EngineRun = pick.medianRun
  const n = result.size
  const s = run.stages
  const get = (k: string): number => s[k] ?? 0
  const early = run.coordinatorEarlyMs
  return {
    source: `${result.case}, ${n} transactions${result.blockSize < n ? ` in blocks of ${result.blockSize}` : ''}, engine ${pick.workers} worker(s), ${pick.templates} templates, median run${early === undefined ? '; the coordinator\'s work before the last shard is not in this result (written before it was recorded): its cost per transaction is understated' : ''}`,
    blockSize: result.blockSize,
    intakeMsPerTx: get('intakeMs') / n,
    planMsPerTx: (get('speculateMs') + get('predictMs') + get('partitionMs')) / n,
    // Every worker's prefetch + execution (on one worker: all of it).
    workerMsPerTx: (run.workerPrefetchMsSum + run.workerExecuteMsSum) / n,
    // The settlement done while later shards executed is coordinator time too (see the formula).
    coordinatorMsPerTx: (get('loadMs') + get('validateMs') + get('stateRootMs') + get('applyMs') + get('sealMs') + (early ?? 0)) / n,
    otherMsPerTx: get('otherMs') / n,
    keysPerTx: run.keysActual / n,
    writesPerTx: (run.applyTransactions * AWS_FIGURES.dynamoTransactItems.value) / n,
  }
}

/**
 * The decoded-queue path measured on this machine (a micro-benchmark the model command runs):
 * what the ingress function adds per transaction (encoding a decoded message) and what the
 * sequencer still does per transaction with it (parsing the decoded message, keccak of the bytes
 * against the hash, the public key's address against the sender, the fields read from the bytes).
 */
export interface DecodedIntakeCosts {
  source: string
  /** judgeIngressBody: decode + sender recovery (the ingress function's work; a cross-check of the engine run's intake). */
  judgeIngressMsPerTx: number
  /** encodeDecodedMessages (in the ingress function). */
  encodeMsPerTx: number
  /** judgeDecodedBody (in the sequencer). */
  parseMsPerTx: number
  /** One transaction's share of a decoded message (its JSON and a comma). */
  bytesPerTx: number
}

/** Time the decoded-queue path on erc20 transfers (medians of `rounds` passes after a warm-up pass). */
export function measureDecodedIntake(options: { txs?: number; txsPerMessage?: number; batchSize?: number; rounds?: number } = {}): DecodedIntakeCosts {
  const n = options.txs ?? 2000
  const tpm = options.txsPerMessage ?? 1
  const batch = options.batchSize ?? PAREVM_SETTINGS.ingressBatchSize
  const rounds = options.rounds ?? 5
  const workload = generateWorkload({ txs: n, mix: 'erc20', accounts: n, hotShare: 0, pools: 1, seed: 11 })
  const genesis = buildGenesis(workload.genesis)
  const number = 1n
  const timestamp = BigInt(genesis.header.timestamp) + 12n
  const ctx = { common: sharedTxCommon(commonFor(genesis.chain, number, timestamp)), blockGasLimit: BigInt(genesis.header.gasLimit), clock: () => 0 }
  const ingressBodies: string[] = []
  for (let i = 0; i < n; i += tpm) {
    const raws = workload.rawTxs.slice(i, i + tpm)
    ingressBodies.push(JSON.stringify(raws.length === 1 ? { raw: raws[0] } : { txs: raws }))
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const judgeMs: number[] = []
  const encodeMs: number[] = []
  const parseMs: number[] = []
  let bytes = 0
  for (let round = 0; round <= rounds; round++) {
    const t0 = performance.now()
    const judged = ingressBodies.map((body) => judgeIngressBody(body, ctx))
    const t1 = performance.now()
    const accepted = judged.map((j) => (j.kind === 'txs' ? j.results.flatMap((r) => (r.ok ? [r.tx as DecodedTx] : [])) : []))
    const invocations: DecodedTx[][] = []
    for (let i = 0; i < accepted.length; i += batch) invocations.push(accepted.slice(i, i + batch).flat())
    const t2 = performance.now()
    // As the ingress function sends them: an invocation's (`batch` ingress messages') transactions packed together.
    const decodedBodies = invocations.flatMap((txs) => encodeDecodedMessages(txs))
    const t3 = performance.now()
    const parsed = decodedBodies.map((body) => judgeDecodedBody(body, 0))
    const t4 = performance.now()
    const back = parsed.reduce((s, p) => s + (p.kind === 'txs' ? p.results.length : 0), 0)
    const forwarded = accepted.reduce((s, txs) => s + txs.length, 0)
    if (forwarded !== n || back !== n) throw new Error(`decoded intake micro-benchmark: ${forwarded} of ${n} transactions accepted, ${back} read back (expected all)`)
    if (round === 0) {
      bytes = accepted.flat().reduce((s, tx) => s + JSON.stringify(decodedMessageTx(tx)).length + 1, 0) / n
      continue // warm-up
    }
    judgeMs.push(t1 - t0)
    encodeMs.push(t3 - t2)
    parseMs.push(t4 - t3)
  }
  return {
    source: `measured on this machine by the model command: ${n} erc20 transfers, ${tpm} per ingress message, ${batch} ingress messages an invocation packed together, median of ${rounds} passes after a warm-up pass`,
    judgeIngressMsPerTx: median(judgeMs) / n,
    encodeMsPerTx: median(encodeMs) / n,
    parseMsPerTx: median(parseMs) / n,
    bytesPerTx: bytes,
  }
}

/** The ingress function as a deployment option. */
export interface IngressOptions {
  decoded: DecodedIntakeCosts
  /** The event source's maximum concurrency (L). */
  concurrency?: number
  /** Messages per invocation (B). */
  batchSize?: number
}

export interface IngressProjection {
  concurrency: number
  batchSize: number
  /** As built: an invocation's transactions packed together, sent in parallel; before: one decoded message per ingress message, sent one after another. */
  packing: 'invocation' | 'per-message'
  /** Transactions per decoded message (the sequencer reads these). */
  decodedTxsPerMessage: number
  /** Decoded messages that fit a transaction count: SQS's size less the margin, and the schema's 1,000. */
  decodedTxsMax: number
  txsPerInvocation: number
  /** Decoded messages, and SendMessageBatch calls, per invocation. */
  decodedMessagesPerInvocation: number
  sendCallsPerInvocation: number
  invocationMs: number
  /** The invocation's parts (ms). */
  invocation: { requestsMs: number; cpuMs: number; sendMs: number }
  /** L x B x t / invocation time. */
  txPerSec: number
}

export interface ModelRow {
  workers: number
  /** The sequencer's serial planning, up to the dispatch. */
  sequencerMs: number
  /** The sequencer's deletes of what it planned (after the dispatch). */
  acknowledgeMs: number
  /** The sequencer's next intake: receives and CPU (while the block executes). */
  intakeMs: number
  workerMs: number
  coordinatorMs: number
  /** From the dispatch until the sequencer's head poll sees the seal. */
  sealSeenMs: number
  periodMs: number
  /** Before the capacity walls and the ingress function. */
  latencyTxPerSec: number
  txPerSec: number
  writeUnitsPerSec: number
  readUnitsPerSec: number
  limit: string
  /** Every term of the block period's critical path, largest first (ms). */
  terms: [string, number][]
}

export interface ModelResult {
  projection: true
  /** Without the ingress function (`off`) or with it (`on`). */
  ingressFunction: 'off' | 'on'
  /** The code the previous model run described (commit 3a465ad: serial receives, deletes, sends and apply), for comparison. */
  before: boolean
  costs: MeasuredCosts
  blockSize: number
  txsPerMessage: number
  /** The messages the sequencer reads (and deletes) per block. */
  sequencerMessagesPerBlock: number
  /** The sequencer's SQS time per block: its receives and its deletes (ms). */
  sequencerSqsMs: number
  ingress?: IngressProjection
  figures: typeof AWS_FIGURES
  settings: typeof PAREVM_SETTINGS
  rows: ModelRow[]
  nextWall: string
}

export const MODEL_WORKERS = [1, 2, 4, 8, 16, 32, 64, 128, 256]

/** When the sequencer sees the seal: head polls from `startMs`, each a request, then a sleep doubling from the minimum to the maximum. */
export function sealSeenAt(startMs: number, sealMs: number, requestMs: number): number {
  let t = startMs
  let sleep = PAREVM_SETTINGS.headPollMsMin
  // Bounded: every round moves t on by at least the minimum sleep.
  for (;;) {
    if (t >= sealMs) return t + requestMs
    t += requestMs + sleep
    sleep = Math.min(PAREVM_SETTINGS.headPollMsMax, sleep * 2)
  }
}

export const SEQUENCER_SQS_TERM = 'sequencer SQS: ReceiveMessage + DeleteMessageBatch'

export function projectScale(
  costs: MeasuredCosts,
  options: {
    blockSize?: number
    txsPerMessage?: number
    workers?: number[]
    ingress?: IngressOptions
    /** The code the previous model run described (commit 3a465ad: receives, deletes, the function's sends and the apply one after another; one decoded message per ingress message), for comparison. */
    before?: boolean
  } = {},
): ModelResult {
  const N = options.blockSize ?? costs.blockSize
  const tpm = options.txsPerMessage ?? 1
  const f = AWS_FIGURES
  const sqs = f.sqsRequestMs.value
  const ddb = f.dynamoRequestMs.value
  const C = PAREVM_SETTINGS.dynamoConcurrency
  const batchGets = (keys: number): number => Math.ceil(Math.ceil(keys / f.dynamoBatchGetKeys.value) / C) * ddb
  const batchWrites = (items: number): number => Math.ceil(Math.ceil(items / f.dynamoBatchWriteItems.value) / C) * ddb
  const serialSqs = (messages: number): number => Math.ceil(messages / f.sqsBatchMessages.value) * sqs
  const before = options.before ?? false
  // The sequencer's receives and deletes: R (D) calls of 10 messages in flight; before, one after another.
  const sqsCalls = (messages: number, inFlight: number): number => (before ? serialSqs(messages) : Math.ceil(Math.ceil(messages / f.sqsBatchMessages.value) / inFlight) * sqs)
  const writes = costs.writesPerTx * N

  // The ingress function: what each invocation does, and the decoded messages it leaves.
  let ingress: IngressProjection | undefined
  let messages = Math.ceil(N / tpm)
  if (options.ingress !== undefined) {
    const o = options.ingress
    const L = o.concurrency ?? PAREVM_SETTINGS.ingressConcurrency
    const B = o.batchSize ?? PAREVM_SETTINGS.ingressBatchSize
    const packing = before ? 'per-message' : 'invocation'
    // The JSON envelope around the transactions: under 100 bytes.
    const decodedTxsMax = Math.max(1, Math.min(PAREVM_SETTINGS.decodedTxsMax, Math.floor((PAREVM_SETTINGS.decodedMessageBytes - 100) / o.decoded.bytesPerTx)))
    const perInvocation = B * tpm
    // As built: the invocation's transactions in as few decoded messages as fit; before: one (or more, over the size) per ingress message.
    const decodedPerIngress = Math.ceil(tpm / decodedTxsMax)
    const decodedPerInvocation = packing === 'invocation' ? Math.ceil(perInvocation / decodedTxsMax) : B * decodedPerIngress
    const decodedTxsPerMessage = packing === 'invocation' ? Math.min(perInvocation, decodedTxsMax) : Math.min(tpm, decodedTxsMax)
    messages = packing === 'invocation' ? Math.ceil(N / perInvocation) * decodedPerInvocation : Math.ceil(N / tpm) * decodedPerIngress
    // SendMessageBatch calls: 10 messages and the message size in all a call (sendBatchesOf); before, B x ceil(those of one ingress message / 10).
    const bytesPerMessage = Math.min(PAREVM_SETTINGS.decodedMessageBytes, decodedTxsPerMessage * o.decoded.bytesPerTx + 100)
    const messagesPerCall = Math.max(1, Math.min(f.sqsBatchMessages.value, Math.floor(PAREVM_SETTINGS.messageBytes / bytesPerMessage)))
    const sendCalls = packing === 'invocation' ? Math.ceil(decodedPerInvocation / messagesPerCall) : B * Math.ceil(decodedPerIngress / messagesPerCall)
    const requestsMs = ddb + batchGets(perInvocation)
    const cpuMs = perInvocation * (costs.intakeMsPerTx + o.decoded.encodeMsPerTx)
    // As built, the calls go out together: one round trip; before, one after another.
    const sendMs = packing === 'invocation' ? sqs : sendCalls * sqs
    const invocationMs = requestsMs + cpuMs + sendMs
    ingress = {
      concurrency: L,
      batchSize: B,
      packing,
      decodedTxsPerMessage,
      decodedTxsMax,
      txsPerInvocation: perInvocation,
      decodedMessagesPerInvocation: decodedPerInvocation,
      sendCallsPerInvocation: sendCalls,
      invocationMs,
      invocation: { requestsMs, cpuMs, sendMs },
      txPerSec: (L * perInvocation * 1000) / invocationMs,
    }
  }
  const on = ingress !== undefined
  const intakeCpuPerTx = on ? options.ingress!.decoded.parseMsPerTx : costs.intakeMsPerTx
  const wruPerTx = 2 * costs.writesPerTx + PAREVM_SETTINGS.otherWriteUnitsPerTx
  // With the ingress function, each transaction is looked up once more (its receipt) and each invocation reads the head.
  const rruPerTx = costs.keysPerTx + 1 + (ingress === undefined ? 0 : 1 + 1 / ingress.txsPerInvocation)

  const rows = (options.workers ?? MODEL_WORKERS).map((W): ModelRow => {
    const planCpuMs = N * costs.planMsPerTx
    const planRequestsMs = 3 * ddb + 2 * batchGets(N) + ddb + batchWrites(W) + f.dynamoTransactMs.value
    // The shard messages: W / 10 SendMessageBatch calls, SQS_CALLS_IN_FLIGHT at a time (before: one after another).
    const dispatchMs = before ? serialSqs(W) : Math.ceil(Math.ceil(W / f.sqsBatchMessages.value) / PAREVM_SETTINGS.sendCallsInFlight) * sqs
    const sequencerMs = planCpuMs + planRequestsMs + dispatchMs
    const acknowledgeMs = sqsCalls(messages, PAREVM_SETTINGS.deleteCallsInFlight)
    const receiveMs = ddb + sqsCalls(messages, PAREVM_SETTINGS.receiveCallsInFlight)
    const intakeCpuMs = N * intakeCpuPerTx
    const intakeMs = receiveMs + intakeCpuMs
    const perWorker = N / W
    const executeMs = perWorker * costs.workerMsPerTx
    const workerMs = sqs + Math.ceil(Math.ceil((costs.keysPerTx * perWorker) / f.dynamoBatchGetKeys.value) / C) * ddb + executeMs + ddb + sqs
    const applyMs = Math.ceil(Math.ceil(writes / f.dynamoTransactItems.value) / (before ? 1 : PAREVM_SETTINGS.applyCallsInFlight)) * f.dynamoTransactMs.value
    const coordinatorCpuMs = N * costs.coordinatorMsPerTx
    const coordinatorMs = sqs + Math.ceil(W / C) * ddb + coordinatorCpuMs + applyMs + batchWrites(N) + ddb
    const sealMs = workerMs + coordinatorMs
    const sealSeenMs = sealSeenAt(acknowledgeMs, sealMs, ddb)
    const intakeBranchMs = acknowledgeMs + intakeMs
    const periodMs = sequencerMs + Math.max(intakeBranchMs, sealSeenMs)
    const latencyTxPerSec = (N / periodMs) * 1000

    const planTerms: [string, number][] = [
      ['sequencer CPU (speculation, prediction, partition)', planCpuMs],
      ['sequencer requests (templates, head, sender accounts, receipts, plan store)', planRequestsMs],
      [before ? 'dispatch: serial SendMessageBatch to the shards' : `dispatch: SendMessageBatch to the shards, ${PAREVM_SETTINGS.sendCallsInFlight} in flight`, dispatchMs],
    ]
    const intakeTerms: [string, number][] = [
      [
        `${SEQUENCER_SQS_TERM} of ${messages.toLocaleString('en-US')} ${on ? 'decoded' : 'ingress'} messages (10 per request, ${before ? 'one after another' : `${PAREVM_SETTINGS.receiveCallsInFlight} receives and ${PAREVM_SETTINGS.deleteCallsInFlight} deletes in flight`})`,
        receiveMs + acknowledgeMs,
      ],
      [on ? 'sequencer intake CPU (parsing decoded messages, hash and sender re-checks)' : 'intake CPU (decoding, sender recovery)', intakeCpuMs],
    ]
    const sealTerms: [string, number][] = [
      ['worker execution', executeMs],
      ['coordinator CPU (validate, state root, apply, seal)', coordinatorCpuMs],
      [before ? 'apply: sequential TransactWriteItems' : `apply: TransactWriteItems, ${PAREVM_SETTINGS.applyCallsInFlight} in flight`, applyMs],
      ['request latencies (worker and coordinator SQS hops, DynamoDB reads and writes)', sealMs - executeMs - coordinatorCpuMs - applyMs],
      ['seal seen: head polling (after the acknowledgements)', sealSeenMs - sealMs],
    ]
    const terms = [...planTerms, ...(intakeBranchMs >= sealSeenMs ? intakeTerms : sealTerms)].sort((a, b) => b[1] - a[1])

    const walls: [string, number][] = [
      [`capacity: table write quota (${f.dynamoTableQuota.value.toLocaleString('en-US')} WRU/s at ${wruPerTx.toFixed(1)} per tx)`, f.dynamoTableQuota.value / wruPerTx],
      [`capacity: table read quota (${f.dynamoTableQuota.value.toLocaleString('en-US')} RRU/s at ${rruPerTx.toFixed(1)} per tx)`, f.dynamoTableQuota.value / rruPerTx],
      [`capacity: one partition's reads (${f.dynamoPartitionRcu.value.toLocaleString('en-US')} RCU/s) of the plan item all ${W} shards read each block`, (f.dynamoPartitionRcu.value / W) * N],
    ]
    if (ingress !== undefined) {
      walls.push([
        `ingress function: ${ingress.concurrency} concurrent invocations of ${ingress.batchSize} messages, ${ingress.invocationMs.toFixed(0)} ms each (${ingress.invocation.sendMs.toFixed(0)} ms of it ${ingress.packing === 'invocation' ? 'sends to the decoded queue, in parallel' : 'serial sends to the decoded queue'})`,
        ingress.txPerSec,
      ])
    }
    const [wallName, wallTxPerSec] = walls.reduce((a, b) => (b[1] < a[1] ? b : a))
    const txPerSec = Math.min(latencyTxPerSec, wallTxPerSec)
    return {
      workers: W,
      sequencerMs,
      acknowledgeMs,
      intakeMs,
      workerMs,
      coordinatorMs,
      sealSeenMs,
      periodMs,
      latencyTxPerSec,
      txPerSec,
      writeUnitsPerSec: txPerSec * wruPerTx,
      readUnitsPerSec: txPerSec * rruPerTx,
      limit: wallTxPerSec < latencyTxPerSec ? wallName : `largest term: ${terms[0]![0]}`,
      terms,
    }
  })
  // The next wall: the first worker count that no larger one beats by 10% or more (the head
  // polling's backoff makes the curve step, so a flat step alone is no wall), and what limits there.
  const wallAt = rows.find((r, i) => rows.slice(i + 1).every((later) => later.txPerSec < r.txPerSec * 1.1))!
  const last = rows.at(-1)!
  const behind = last.terms.filter(([name]) => !wallAt.limit.endsWith(name))[0]
  const nextWall =
    `from about ${wallAt.workers} worker(s) on, more workers add less than 10%: ${Math.round(wallAt.txPerSec).toLocaleString('en-US')} tx/s projected, limited by ${wallAt.limit.replace(/^largest term: /, '')}` +
    (behind === undefined ? '' : `; behind it at ${last.workers} workers: ${behind[0]} (${Math.round(behind[1]).toLocaleString('en-US')} ms of a ${Math.round(last.periodMs).toLocaleString('en-US')} ms block period)`)
  return {
    projection: true,
    ingressFunction: on ? 'on' : 'off',
    before,
    costs,
    blockSize: N,
    txsPerMessage: tpm,
    sequencerMessagesPerBlock: messages,
    sequencerSqsMs: sqsCalls(messages, PAREVM_SETTINGS.receiveCallsInFlight) + sqsCalls(messages, PAREVM_SETTINGS.deleteCallsInFlight),
    ...(ingress !== undefined ? { ingress } : {}),
    figures: AWS_FIGURES,
    settings: PAREVM_SETTINGS,
    rows,
    nextWall,
  }
}

/** The lowest maximum concurrency (2..1000) at which the ingress function no longer limits the best row, or 1000 if it still does there. */
function concurrencyNeeded(m: ModelResult): number {
  const ing = m.ingress!
  const best = Math.max(...m.rows.map((r) => r.txPerSec))
  const needed = Math.ceil((best * ing.invocationMs) / (ing.txsPerInvocation * 1000) - 1e-9)
  return Math.min(AWS_FIGURES.lambdaSqsMaxConcurrency.value, Math.max(2, needed))
}

export interface ModelReport {
  projection: true
  costs: MeasuredCosts
  decoded?: DecodedIntakeCosts
  blockSize: number
  txsPerMessage: number
  /** Without the ingress function. */
  off?: ModelResult
  /** With it, at the given (default: the deployment's) maximum concurrency. */
  on?: ModelResult
  /** With it, at the concurrency where it stops limiting (the wall behind it). */
  onEnough?: ModelResult
  /** For comparison, the code before issue 16's intake changes (serial receives and deletes; the function's one decoded message per ingress message, sent one after another): without the function, and with it at `on`'s concurrency. */
  offBefore?: ModelResult
  onBefore?: ModelResult
  /** Where the next wall is with the ingress function on. */
  nextWallWithIngress?: string
  figures: typeof AWS_FIGURES
  settings: typeof PAREVM_SETTINGS
}

export type IngressModes = 'on' | 'off' | 'both'

/** Both deployments (or one), side by side; `decoded` is needed for `on`. */
export function projectDeployments(
  costs: MeasuredCosts,
  options: { blockSize?: number; txsPerMessage?: number; workers?: number[]; ingress: IngressModes; decoded?: DecodedIntakeCosts; concurrency?: number; batchSize?: number },
): ModelReport {
  const base = {
    ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
    ...(options.txsPerMessage !== undefined ? { txsPerMessage: options.txsPerMessage } : {}),
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
  }
  const report: ModelReport = {
    projection: true,
    costs,
    ...(options.decoded !== undefined ? { decoded: options.decoded } : {}),
    blockSize: options.blockSize ?? costs.blockSize,
    txsPerMessage: options.txsPerMessage ?? 1,
    figures: AWS_FIGURES,
    settings: PAREVM_SETTINGS,
  }
  if (options.ingress !== 'on') {
    report.off = projectScale(costs, base)
    report.offBefore = projectScale(costs, { ...base, before: true })
  }
  if (options.ingress !== 'off') {
    if (options.decoded === undefined) throw new Error('projectDeployments: the ingress function needs the decoded path measured (measureDecodedIntake)')
    const ingress = (concurrency: number | undefined, before: boolean): ModelResult =>
      projectScale(costs, {
        ...base,
        before,
        ingress: { decoded: options.decoded!, ...(concurrency !== undefined ? { concurrency } : {}), ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}) },
      })
    const max = AWS_FIGURES.lambdaSqsMaxConcurrency.value
    report.on = ingress(options.concurrency, false)
    report.onEnough = ingress(concurrencyNeeded(ingress(max, false)), false)
    report.onBefore = ingress(report.on.ingress!.concurrency, true)
    report.nextWallWithIngress = nextWallWithIngress(report.on, report.onEnough, report.onBefore)
  }
  return report
}

/** The lowest maximum concurrency (2..1000) at which the ingress function, as built, no longer limits (the model's answer for infra/config.ts's default). */
export function ingressConcurrencyNeeded(costs: MeasuredCosts, options: { blockSize?: number; txsPerMessage?: number; decoded: DecodedIntakeCosts; batchSize?: number }): number {
  return concurrencyNeeded(
    projectScale(costs, {
      ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
      ...(options.txsPerMessage !== undefined ? { txsPerMessage: options.txsPerMessage } : {}),
      ingress: { decoded: options.decoded, concurrency: AWS_FIGURES.lambdaSqsMaxConcurrency.value, ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}) },
    }),
  )
}

function bestRow(m: ModelResult): ModelRow {
  return m.rows.reduce((a, b) => (b.txPerSec > a.txPerSec * 1.000001 ? b : a))
}

const round = (n: number): string => Math.round(n).toLocaleString('en-US')
const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })

function nextWallWithIngress(on: ModelResult, enough: ModelResult, before: ModelResult): string {
  const limited = on.rows.filter((r) => r.limit.startsWith('ingress function'))
  const best = bestRow(on)
  const i = on.ingress!
  const b = before.ingress!
  const parts = [
    limited.length > 0
      ? `at the deployment's ${i.concurrency} concurrent invocations the function itself limits at ${limited.map((r) => r.workers).join(', ')} worker(s): ${round(i.txPerSec)} tx/s (each invocation ${fmt(i.invocationMs)} ms, ${fmt(i.invocation.sendMs)} of it its sends to the decoded queue)${limited.length < on.rows.length ? `; best ${round(best.txPerSec)} tx/s at ${best.workers} worker(s)` : ''}`
      : `at the deployment's ${i.concurrency} concurrent invocations the function does not limit: ${on.nextWall}`,
    ...(enough.ingress!.concurrency !== i.concurrency ? [`at ${enough.ingress!.concurrency} concurrent invocations (the fewest that no longer limit): ${enough.nextWall}`] : []),
    `for comparison, the code before (commit 3a465ad: one decoded message per ingress message, ${b.sendCallsPerInvocation} SendMessageBatch calls one after another, ${fmt(b.invocation.sendMs)} of each invocation's ${fmt(b.invocationMs)} ms; the sequencer's receives and deletes and the coordinator's apply one after another) at ${b.concurrency} concurrent invocations: best ${round(bestRow(before).txPerSec)} tx/s, limited by ${bestRow(before).limit.replace(/^largest term: /, '')}`,
  ]
  return parts.map((p) => `\n- ${p}`).join('')
}

function detailTable(m: ModelResult): string[] {
  return [
    '| workers | sequencer ms (to dispatch) | acknowledge ms | intake ms | slowest worker ms | coordinator ms | seal seen ms | block period ms | projected tx/s | write units/s | read units/s | what limits it |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...m.rows.map(
      (r) =>
        `| ${r.workers} | ${fmt(r.sequencerMs)} | ${fmt(r.acknowledgeMs)} | ${fmt(r.intakeMs)} | ${fmt(r.workerMs)} | ${fmt(r.coordinatorMs)} | ${fmt(r.sealSeenMs)} | ${fmt(r.periodMs)} | ${fmt(r.txPerSec)} | ${fmt(r.writeUnitsPerSec)} | ${fmt(r.readUnitsPerSec)} | ${r.limit} |`,
    ),
  ]
}

function invocationLine(m: ModelResult): string {
  const i = m.ingress!
  return `${i.concurrency} concurrent invocations of ${i.batchSize} messages (${fmt(i.txsPerInvocation)} transactions) each; one invocation ${fmt(i.invocationMs, 1)} ms = requests ${fmt(i.invocation.requestsMs, 1)} (head, receipts) + CPU ${fmt(i.invocation.cpuMs, 1)} (decode, recovery, encoding) + sends ${fmt(i.invocation.sendMs, 1)} (${i.packing === 'invocation' ? `the invocation's transactions in ${fmt(i.decodedMessagesPerInvocation)} decoded message(s), ${fmt(i.sendCallsPerInvocation)} SendMessageBatch call(s) in parallel` : `one decoded message per ingress message, ${fmt(i.sendCallsPerInvocation)} SendMessageBatch calls one after another`}): at most ${fmt(i.txPerSec)} tx/s; ${fmt(i.decodedTxsPerMessage)} transaction(s) per decoded message, ${fmt(m.sequencerMessagesPerBlock)} decoded messages per block`
}

export function modelMarkdown(r: ModelReport): string {
  const c = r.costs
  const d = r.decoded
  const lines = [
    `**PROJECTION, not a measurement**: this machine's measured per-transaction costs (${c.source}) combined with AWS's published service figures; blocks of ${fmt(r.blockSize)} transactions, ${r.txsPerMessage} transaction(s) per ingress message, every worker one evenly loaded shard (no hot spot). The formulas and what is not modelled: bench/model.ts.`,
    '',
    `Measured per transaction (ms): intake (decoding, sender recovery) ${fmt(c.intakeMsPerTx, 4)}, speculation + prediction + partition ${fmt(c.planMsPerTx, 4)}, worker prefetch + execution ${fmt(c.workerMsPerTx, 4)}, coordinator ${fmt(c.coordinatorMsPerTx, 4)}, in-process other ${fmt(c.otherMsPerTx, 4)} (not carried over); ${fmt(c.keysPerTx, 1)} keys touched, at most ${fmt(c.writesPerTx, 1)} state writes.`,
  ]
  if (d !== undefined) {
    lines.push(
      '',
      `The decoded-queue path, ${d.source} (ms per transaction): the ingress function's judgeIngressBody (decode, recovery) ${fmt(d.judgeIngressMsPerTx, 4)} (a cross-check: the model uses the engine run's intake, ${fmt(c.intakeMsPerTx, 4)}), its encodeDecodedMessages ${fmt(d.encodeMsPerTx, 4)}; the sequencer's judgeDecodedBody (parse, keccak of the bytes against the hash, the key's address against the sender, fields from the bytes) ${fmt(d.parseMsPerTx, 4)}; ${fmt(d.bytesPerTx)} bytes per transaction in a decoded message.`,
      '',
      `The sequencer's intake per transaction (CPU, and SQS time with ${PAREVM_SETTINGS.receiveCallsInFlight} receives and ${PAREVM_SETTINGS.deleteCallsInFlight} deletes of 10 messages in flight; before: one after another): without the ingress function ${fmt(c.intakeMsPerTx, 4)} ms CPU + ${fmt((r.off?.sequencerSqsMs ?? 0) / r.blockSize, 2)} ms of SQS (before ${fmt((r.offBefore?.sequencerSqsMs ?? 0) / r.blockSize, 2)}; messages of ${r.txsPerMessage}); with it ${fmt(d.parseMsPerTx, 4)} ms CPU + ${fmt((r.on?.sequencerSqsMs ?? 0) / r.blockSize, 2)} ms of SQS (decoded messages of ${fmt(r.on?.ingress?.decodedTxsPerMessage ?? 0)} transaction(s), an invocation's ${r.on?.ingress?.batchSize ?? 0} ingress messages packed together; before ${fmt((r.onBefore?.sequencerSqsMs ?? 0) / r.blockSize, 2)} ms, one decoded message per ingress message).`,
    )
  }
  const cols: [string, ModelResult][] = []
  if (r.off !== undefined) cols.push(['without the ingress function', r.off])
  if (r.on !== undefined) cols.push([`with it, ${r.on.ingress!.concurrency} concurrent (the deployment default)`, r.on])
  if (r.onEnough !== undefined && r.onEnough.ingress!.concurrency !== r.on?.ingress!.concurrency) cols.push([`with it, ${r.onEnough.ingress!.concurrency} concurrent (the fewest that no longer limit)`, r.onEnough])
  if (r.offBefore !== undefined) cols.push(['before (3a465ad), without the ingress function', r.offBefore])
  if (r.onBefore !== undefined) cols.push([`before (3a465ad), with it, ${r.onBefore.ingress!.concurrency} concurrent`, r.onBefore])
  lines.push(
    '',
    '### Side by side (projected tx/s, and what limits it)',
    '',
    `| workers | ${cols.map(([name]) => `${name} tx/s | limit`).join(' | ')} |`,
    `|---:|${cols.map(() => '---:|---').join('|')}|`,
    ...cols[0]![1].rows.map((row, i) => `| ${row.workers} | ${cols.map(([, m]) => `${fmt(m.rows[i]!.txPerSec)} | ${m.rows[i]!.limit.replace(/^largest term: /, '')}`).join(' | ')} |`),
    '',
  )
  if (r.off !== undefined) lines.push(`**Next wall without the ingress function** (projection): ${r.off.nextWall}.`, '')
  if (r.nextWallWithIngress !== undefined) lines.push(`**Next wall with the ingress function** (projection):${r.nextWallWithIngress}`, '')
  if (r.off !== undefined) lines.push('### Without the ingress function (the sequencer reads the ingress queue and decodes)', '', ...detailTable(r.off), '')
  if (r.offBefore !== undefined) lines.push('### Before (commit 3a465ad), without the ingress function (receives, deletes and the apply one after another)', '', ...detailTable(r.offBefore), '')
  for (const [title, m] of [
    ['With the ingress function, the deployment default concurrency', r.on],
    ['With the ingress function, at the concurrency where it stops limiting', r.onEnough !== undefined && r.onEnough.ingress!.concurrency !== r.on?.ingress!.concurrency ? r.onEnough : undefined],
    ['Before (commit 3a465ad), with the ingress function (one decoded message per ingress message, sent one after another; the sequencer\'s receives and deletes and the apply one after another)', r.onBefore],
  ] as const) {
    if (m === undefined) continue
    lines.push(`### ${title}`, '', `Ingress function: ${invocationLine(m)}.`, '', ...detailTable(m), '')
  }
  lines.push(
    'AWS figures used (source in bench/model.ts, AWS_FIGURES):',
    '',
    ...Object.entries(r.figures).map(([k, v]) => `- ${k}: ${Number.isFinite(v.value) ? fmt(v.value) : 'unbounded'} ${v.unit} — ${v.says} (${v.source})`),
    '',
    `parevm settings used (bench/model.ts, PAREVM_SETTINGS): ${Object.entries(r.settings).map(([k, v]) => `${k} ${fmt(v, 1)}`).join(', ')}.`,
  )
  return lines.join('\n')
}
