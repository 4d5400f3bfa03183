/**
 * The scale model (`npm run bench -- --sections model`): a PROJECTION, not a measurement. From
 * this machine's measured per-transaction costs of each stage (an engine run of a workloads
 * section: the same invocation's, a result file's via --model-from, or a quick measurement) and
 * AWS's published service figures (below, each with its source), it projects the throughput of
 * the AWS deployment (SQS queues, DynamoDB tables) at 1 to 256 workers, and names the term that
 * limits it: where the next wall is.
 *
 * The model, for one block of N transactions and W workers (one shard each, evenly loaded: the
 * conflict-free case; a hot spot puts its whole group on one worker and is not modelled):
 *
 *   intake    = N x intake CPU per tx + ceil(N / (10 x txs per message)) x SQS request  (serial receives,
 *               10 messages each; overlapped with the previous block, as prefetchIntake does)
 *   sequencer = N x (speculation + prediction + partition) CPU per tx + 1 DynamoDB request (plan) + SQS request (dispatch)
 *   worker    = SQS request (receive) + ceil(ceil(keys x N/W / 100) / C) x DynamoDB request (prefetch,
 *               BatchGetItem 100 keys, C calls in flight) + N/W x worker CPU per tx + DynamoDB request
 *               (stage results) + SQS request (done)
 *   coordinator = SQS request (receive done) + ceil(W / C) x DynamoDB request (load results)
 *               + N x coordinator CPU per tx (validate, state root, apply, seal as measured in process)
 *               + ceil(writes / 100) x TransactWriteItems (apply: sequential, as StateTable.apply)
 *               + ceil(ceil(N / 25) / C) x DynamoDB request (receipts) + DynamoDB request (seal)
 *   block period = max(intake, sequencer + worker + coordinator);  tx/s = N / period
 *
 * and three capacity walls: the table's default on-demand quota (write and read request units
 * per second), and one item every shard reads each block (the plan) against one partition's
 * read capacity. The in-process "other" time (in-memory queue hops, staging) is not carried over:
 * the AWS requests above replace it. CPU per transaction is this machine's; a Lambda or ECS
 * vCPU may be slower or faster.
 */
import type { CaseResult, EngineRun } from './engine-bench.ts'

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
} as const satisfies Record<string, Figure>

/** parevm's own settings the model uses (code, not AWS). */
export const PAREVM_SETTINGS = {
  /** DynamoDB calls in flight per store client (shared/adapters/aws/dynamodb-kv-store.ts, `concurrency` default). */
  dynamoConcurrency: 8,
  /** Write units per transaction besides the state writes: its receipt, its staged result, its share of the plan (assumed about 1 KB each). */
  otherWriteUnitsPerTx: 2.5,
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
  return {
    source: `${result.case}, ${n} transactions${result.blockSize < n ? ` in blocks of ${result.blockSize}` : ''}, engine ${pick.workers} worker(s), ${pick.templates} templates, median run`,
    blockSize: result.blockSize,
    intakeMsPerTx: get('intakeMs') / n,
    planMsPerTx: (get('speculateMs') + get('predictMs') + get('partitionMs')) / n,
    // Every worker's prefetch + execution (on one worker: all of it).
    workerMsPerTx: (run.workerPrefetchMsSum + run.workerExecuteMsSum) / n,
    coordinatorMsPerTx: (get('loadMs') + get('validateMs') + get('stateRootMs') + get('applyMs') + get('sealMs')) / n,
    otherMsPerTx: get('otherMs') / n,
    keysPerTx: run.keysActual / n,
    writesPerTx: (run.applyTransactions * AWS_FIGURES.dynamoTransactItems.value) / n,
  }
}

export interface ModelRow {
  workers: number
  intakeMs: number
  sequencerMs: number
  workerMs: number
  coordinatorMs: number
  periodMs: number
  /** Before the capacity walls. */
  latencyTxPerSec: number
  txPerSec: number
  writeUnitsPerSec: number
  readUnitsPerSec: number
  limit: string
  /** Every term of the block period, largest first (ms). */
  terms: [string, number][]
}

export interface ModelResult {
  projection: true
  costs: MeasuredCosts
  blockSize: number
  txsPerMessage: number
  figures: typeof AWS_FIGURES
  settings: typeof PAREVM_SETTINGS
  rows: ModelRow[]
  nextWall: string
}

export const MODEL_WORKERS = [1, 2, 4, 8, 16, 32, 64, 128, 256]

export function projectScale(costs: MeasuredCosts, options: { blockSize?: number; txsPerMessage?: number; workers?: number[] } = {}): ModelResult {
  const N = options.blockSize ?? costs.blockSize
  const tpm = options.txsPerMessage ?? 1
  const f = AWS_FIGURES
  const sqs = f.sqsRequestMs.value
  const ddb = f.dynamoRequestMs.value
  const C = PAREVM_SETTINGS.dynamoConcurrency
  const writes = costs.writesPerTx * N
  const wruPerTx = 2 * costs.writesPerTx + PAREVM_SETTINGS.otherWriteUnitsPerTx
  const rruPerTx = costs.keysPerTx + 1
  const rows = (options.workers ?? MODEL_WORKERS).map((W): ModelRow => {
    const intakeMs = N * costs.intakeMsPerTx + Math.ceil(N / (f.sqsBatchMessages.value * tpm)) * sqs
    const sequencerMs = N * costs.planMsPerTx + ddb + Math.ceil(Math.ceil(W / f.sqsBatchMessages.value) / C) * sqs
    const perWorker = N / W
    const workerMs = sqs + Math.ceil(Math.ceil((costs.keysPerTx * perWorker) / f.dynamoBatchGetKeys.value) / C) * ddb + perWorker * costs.workerMsPerTx + ddb + sqs
    const coordinatorMs =
      sqs +
      Math.ceil(W / C) * ddb +
      N * costs.coordinatorMsPerTx +
      Math.ceil(writes / f.dynamoTransactItems.value) * f.dynamoTransactMs.value +
      Math.ceil(Math.ceil(N / f.dynamoBatchWriteItems.value) / C) * ddb +
      ddb
    const blockMs = sequencerMs + workerMs + coordinatorMs
    const periodMs = Math.max(intakeMs, blockMs)
    const latencyTxPerSec = (N / periodMs) * 1000
    const walls: [string, number][] = [
      [`table write quota (${f.dynamoTableQuota.value.toLocaleString('en-US')} WRU/s at ${wruPerTx.toFixed(1)} per tx)`, f.dynamoTableQuota.value / wruPerTx],
      [`table read quota (${f.dynamoTableQuota.value.toLocaleString('en-US')} RRU/s at ${rruPerTx.toFixed(1)} per tx)`, f.dynamoTableQuota.value / rruPerTx],
      [`one partition's reads (${f.dynamoPartitionRcu.value.toLocaleString('en-US')} RCU/s) of the plan item all ${W} shards read each block`, (f.dynamoPartitionRcu.value / W) * N],
    ]
    const [wallName, wallTxPerSec] = walls.reduce((a, b) => (b[1] < a[1] ? b : a))
    const applyMs = Math.ceil(writes / f.dynamoTransactItems.value) * f.dynamoTransactMs.value
    const blockTerms: [string, number][] = [
      ['sequencer CPU (speculation, prediction, partition)', N * costs.planMsPerTx],
      ['worker execution', perWorker * costs.workerMsPerTx],
      ['coordinator CPU (validate, state root, apply, seal)', N * costs.coordinatorMsPerTx],
      ['apply: sequential TransactWriteItems', applyMs],
      ['request latencies (SQS hops, DynamoDB reads and writes)', blockMs - N * costs.planMsPerTx - perWorker * costs.workerMsPerTx - N * costs.coordinatorMsPerTx - applyMs],
    ]
    const intakeTerm: [string, number] = ['intake (serial SQS receives + decoding, overlapped with the previous block)', intakeMs]
    const terms = [...blockTerms, intakeTerm].sort((a, b) => b[1] - a[1])
    // Intake overlaps the block: it limits only when it is longer than the whole block.
    const termName = intakeMs >= blockMs ? intakeTerm[0] : blockTerms.reduce((a, b) => (b[1] > a[1] ? b : a))[0]
    const txPerSec = Math.min(latencyTxPerSec, wallTxPerSec)
    return {
      workers: W,
      intakeMs,
      sequencerMs,
      workerMs,
      coordinatorMs,
      periodMs,
      latencyTxPerSec,
      txPerSec,
      writeUnitsPerSec: txPerSec * wruPerTx,
      readUnitsPerSec: txPerSec * rruPerTx,
      limit: wallTxPerSec < latencyTxPerSec ? `capacity: ${wallName}` : `largest term: ${termName}`,
      terms,
    }
  })
  // The next wall: where doubling the workers stops paying (< 10% more), and what limits there.
  let wallAt = rows.at(-1)!
  for (let i = 1; i < rows.length; i++) {
    if (rows[i]!.txPerSec < rows[i - 1]!.txPerSec * 1.1) {
      wallAt = rows[i - 1]!
      break
    }
  }
  const last = rows.at(-1)!
  const behind = last.terms.filter(([name]) => !wallAt.limit.endsWith(name))[0]
  const nextWall =
    `from about ${wallAt.workers} worker(s) on, more workers add less than 10% each doubling: ${Math.round(wallAt.txPerSec).toLocaleString('en-US')} tx/s projected, limited by ${wallAt.limit.replace(/^largest term: /, '')}` +
    (behind === undefined ? '' : `; behind it at ${last.workers} workers: ${behind[0]} (${Math.round(behind[1]).toLocaleString('en-US')} ms of a ${Math.round(last.periodMs).toLocaleString('en-US')} ms block period)`)
  return { projection: true, costs, blockSize: N, txsPerMessage: tpm, figures: AWS_FIGURES, settings: PAREVM_SETTINGS, rows, nextWall }
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })

export function modelMarkdown(m: ModelResult): string {
  const c = m.costs
  return [
    `**PROJECTION, not a measurement**: this machine's measured per-transaction costs (${c.source}) combined with AWS's published service figures; blocks of ${fmt(m.blockSize)} transactions, ${m.txsPerMessage} transaction(s) per ingress message, every worker one evenly loaded shard (no hot spot).`,
    '',
    `Measured per transaction (ms): intake ${fmt(c.intakeMsPerTx, 4)}, speculation + prediction + partition ${fmt(c.planMsPerTx, 4)}, worker prefetch + execution ${fmt(c.workerMsPerTx, 4)}, coordinator ${fmt(c.coordinatorMsPerTx, 4)}, in-process other ${fmt(c.otherMsPerTx, 4)} (not carried over); ${fmt(c.keysPerTx, 1)} keys touched, at most ${fmt(c.writesPerTx, 1)} state writes.`,
    '',
    '| workers | intake ms | sequencer ms | slowest worker ms | coordinator ms | block period ms | projected tx/s | write units/s | read units/s | what limits it |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...m.rows.map(
      (r) =>
        `| ${r.workers} | ${fmt(r.intakeMs)} | ${fmt(r.sequencerMs)} | ${fmt(r.workerMs)} | ${fmt(r.coordinatorMs)} | ${fmt(r.periodMs)} | ${fmt(r.txPerSec)} | ${fmt(r.writeUnitsPerSec)} | ${fmt(r.readUnitsPerSec)} | ${r.limit} |`,
    ),
    '',
    `**Next wall** (projection): ${m.nextWall}.`,
    '',
    'AWS figures used (source in bench/model.ts, AWS_FIGURES):',
    '',
    ...Object.entries(m.figures).map(([k, v]) => `- ${k}: ${Number.isFinite(v.value) ? fmt(v.value) : 'unbounded'} ${v.unit} — ${v.says} (${v.source})`),
  ].join('\n')
}
