/**
 * The load-test report: offered against achieved throughput, inclusion latency percentiles
 * (HDR histograms, measured from each transaction's intended send time), rejections by reason,
 * re-executions, queue depth and the injector's own lag over time, and every transaction that
 * was never included or rejected, listed.
 */
import hdr from 'hdr-histogram-js'

import { TX_INCLUDED, TX_REJECTED, type BlockSample } from './tracker.ts'

import type { Histogram } from 'hdr-histogram-js'

import type { RampStep } from './schedule.ts'

export interface Percentiles {
  count: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

export interface TimelinePoint {
  /** Seconds after the start of injection (bucket start). */
  t: number
  /** Transactions scheduled in this bucket, per second. */
  offeredTps: number
  sentTps: number
  /** Transactions included (sealed) in this bucket, per second. */
  includedTps: number
  rejectedTps: number
  /** Inclusion latency of the transactions scheduled in this bucket (ms; absent when none was included). */
  latencyP50Ms?: number
  latencyP99Ms?: number
}

export interface DepthSample {
  atMs: number
  visible: number
  inFlight: number
  delayed: number
}

export interface StepReport {
  rate: number
  durationSec: number
  offered: number
  sent: number
  included: number
  rejected: number
  /** Inclusions (of any step's transactions) per second during the step. */
  includedTps: number
  latencyMs: Percentiles
}

export interface UnaccountedTx {
  index: number
  hash: string
  sender: string
  nonce: string
  intendedAtMs: number
  sentAtMs: number | null
  sendFailed: boolean
}

export interface LoadTestReport {
  version: 1
  target: { kind: 'embedded' | 'aws'; description: string; pipeline: 'in-process' | 'external' }
  workload: { mix: string; accounts: number; hotShare: number; pools: number; seed: number; chainId: string; hardfork: string }
  load: { steps: RampStep[]; perMessage: number; maxInFlight: number; tickMs: number; drainTimeoutSec: number }
  setup: { mode: 'genesis' | 'funding'; txs: number; ms: number; note: string }
  signing: { txs: number; threads: number; ms: number; txPerSec: number }
  startedAt: string
  endedAt: string
  stoppedBy: 'schedule' | 'interrupt' | 'pipeline-failure' | 'error'
  /** Seconds: the injection window (the schedule, or up to the stop), and the time after it until the end. */
  injectionSec: number
  drainSec: number
  injection: {
    planned: number
    sent: number
    notSent: number
    sendCalls: number
    sendFailed: number
    /** Send time minus intended time (ms): the injector's own lag behind the schedule. */
    lagMs: Percentiles
    fellBehind: boolean
    sendErrors: { from: number; count: number; error: string }[]
  }
  throughput: {
    offeredTps: number
    sentTps: number
    /** Included / (last inclusion - start). */
    achievedTps: number
    /** Included during the injection window / its length (up to the stop, when stopped early). */
    sustainedTps: number
  }
  results: {
    included: number
    /** Of the included: their receipt has status 0. */
    reverted: number
    rejected: number
    rejectedByReason: Record<string, { count: number; example: string }>
    unaccounted: number
    /** Every sent transaction is included or rejected with a reason. */
    accountedFor: boolean
    receiptsMissing: number
  }
  /** Inclusion latency: block seal time minus intended send time (ms). */
  latencyMs: Percentiles
  steps: StepReport[]
  blocks: { count: number; first: number | null; last: number | null; txs: number; ours: number; reexecuted: number; reexecutedShare: number; shardsMean: number }
  timeline: { bucketSec: number; points: TimelinePoint[] }
  queueDepth: { t: number; visible: number; inFlight: number; delayed: number }[]
  deadLettered: number | null
  unaccountedTxs: UnaccountedTx[]
  errors: string[]
}

export interface ReportInput {
  meta: Pick<LoadTestReport, 'target' | 'workload' | 'load' | 'setup' | 'signing' | 'stoppedBy'> & { startedAtMs: number; endedAtMs: number }
  steps: RampStep[]
  offsetsMs: Float64Array
  stepStarts: number[]
  stepStartMs: number[]
  startMs: number
  hashes: readonly string[]
  senderOf: (index: number) => { sender: string; nonce: bigint }
  issued: number
  sendCalls: number
  sentAtMs: Float64Array
  failed: Uint8Array
  sendErrors: { from: number; count: number; error: string }[]
  status: Uint8Array
  doneAtMs: Float64Array
  reverted: Uint8Array
  /** Block of each included or execution-rejected transaction (-1: none). */
  block?: Float64Array
  rejections: Map<number, { code: string; reason: string }>
  blocks: readonly BlockSample[]
  receiptsMissing: number
  depth: readonly DepthSample[]
  deadLettered: number | null
  errors: string[]
}

const HISTOGRAM_MAX_MS = 24 * 60 * 60 * 1000
/** Most timeline points (longer runs get wider buckets). */
export const TIMELINE_POINTS_MAX = 2000
/**
 * The injector fell behind when its p99 lag exceeds this: the offered load then reached the
 * queue later than scheduled (latency is still measured from the schedule, so it is not hidden).
 */
export const LAG_BEHIND_MS = 250

function histogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HISTOGRAM_MAX_MS, numberOfSignificantValueDigits: 3 })
}

function record(h: Histogram, ms: number): void {
  h.recordValue(Math.min(HISTOGRAM_MAX_MS, Math.max(1, Math.round(ms))))
}

export function percentiles(h: Histogram): Percentiles {
  const count = h.totalCount
  if (count === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 }
  return {
    count,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean),
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10

export function buildReport(input: ReportInput): LoadTestReport {
  const { startMs, offsetsMs, status, doneAtMs, sentAtMs } = input
  const planned = offsetsMs.length
  const issued = input.issued
  const latency = histogram()
  const lag = histogram()
  const durationMs = input.stepStartMs[input.stepStartMs.length - 1]!
  // The injection window: the schedule, or up to the first transaction not sent (stopped early).
  const windowMs = issued < planned ? Math.max(1, offsetsMs[issued]!) : durationMs
  let included = 0
  let rejected = 0
  let reverted = 0
  let sendFailed = 0
  let lastInclusionMs = startMs
  let lastSentMs = startMs
  let includedInWindow = 0
  const unaccountedTxs: UnaccountedTx[] = []
  for (let i = 0; i < issued; i++) {
    const intended = startMs + offsetsMs[i]!
    if (sentAtMs[i]! > 0) {
      record(lag, sentAtMs[i]! - intended)
      lastSentMs = Math.max(lastSentMs, sentAtMs[i]!)
    }
    if (status[i] === TX_INCLUDED) {
      included++
      if (input.reverted[i] === 1) reverted++
      record(latency, doneAtMs[i]! - intended)
      lastInclusionMs = Math.max(lastInclusionMs, doneAtMs[i]!)
      if (doneAtMs[i]! <= startMs + windowMs) includedInWindow++
    } else if (status[i] === TX_REJECTED) {
      rejected++
    } else {
      if (input.failed[i] === 1) sendFailed++
      const { sender, nonce } = input.senderOf(i)
      unaccountedTxs.push({ index: i, hash: input.hashes[i]!, sender, nonce: `0x${nonce.toString(16)}`, intendedAtMs: Math.round(intended), sentAtMs: sentAtMs[i]! > 0 ? Math.round(sentAtMs[i]!) : null, sendFailed: input.failed[i] === 1 })
    }
  }
  const rejectedByReason: Record<string, { count: number; example: string }> = {}
  for (const [i, r] of input.rejections) {
    if (i >= issued) continue
    const entry = (rejectedByReason[r.code] ??= { count: 0, example: r.reason })
    entry.count++
  }

  // Steps.
  const steps: StepReport[] = input.steps.map((step, k) => {
    const from = input.stepStarts[k]!
    const to = input.stepStarts[k + 1]!
    const h = histogram()
    let sent = 0
    let inc = 0
    let rej = 0
    for (let i = from; i < Math.min(to, issued); i++) {
      if (sentAtMs[i]! > 0) sent++
      if (status[i] === TX_INCLUDED) {
        inc++
        record(h, doneAtMs[i]! - (startMs + offsetsMs[i]!))
      } else if (status[i] === TX_REJECTED) rej++
    }
    const windowFrom = startMs + input.stepStartMs[k]!
    const windowTo = startMs + input.stepStartMs[k + 1]!
    let inWindow = 0
    for (let i = 0; i < issued; i++) if (status[i] === TX_INCLUDED && doneAtMs[i]! >= windowFrom && doneAtMs[i]! < windowTo) inWindow++
    return { rate: step.rate, durationSec: step.durationSec, offered: to - from, sent, included: inc, rejected: rej, includedTps: round1(inWindow / step.durationSec), latencyMs: percentiles(h) }
  })

  // Timeline.
  const endMs = Math.max(lastInclusionMs, lastSentMs, startMs + durationMs, input.meta.endedAtMs)
  const totalSec = Math.max(1, Math.ceil((endMs - startMs) / 1000))
  const bucketSec = Math.max(1, Math.ceil(totalSec / TIMELINE_POINTS_MAX))
  const buckets = Math.ceil(totalSec / bucketSec)
  const offered = new Float64Array(buckets)
  const sentB = new Float64Array(buckets)
  const incB = new Float64Array(buckets)
  const rejB = new Float64Array(buckets)
  const latB: Histogram[] = []
  const bucketOf = (ms: number): number => Math.min(buckets - 1, Math.max(0, Math.floor((ms - startMs) / 1000 / bucketSec)))
  for (let i = 0; i < planned; i++) offered[bucketOf(startMs + offsetsMs[i]!)]!++
  for (let i = 0; i < issued; i++) {
    if (sentAtMs[i]! > 0) sentB[bucketOf(sentAtMs[i]!)]!++
    if (status[i] === TX_INCLUDED) {
      incB[bucketOf(doneAtMs[i]!)]!++
      const b = bucketOf(startMs + offsetsMs[i]!)
      record((latB[b] ??= histogram()), doneAtMs[i]! - (startMs + offsetsMs[i]!))
    } else if (status[i] === TX_REJECTED) rejB[bucketOf(doneAtMs[i]!)]!++
  }
  const points: TimelinePoint[] = []
  for (let b = 0; b < buckets; b++) {
    const h = latB[b]
    points.push({
      t: b * bucketSec,
      offeredTps: round1(offered[b]! / bucketSec),
      sentTps: round1(sentB[b]! / bucketSec),
      includedTps: round1(incB[b]! / bucketSec),
      rejectedTps: round1(rejB[b]! / bucketSec),
      ...(h !== undefined ? { latencyP50Ms: h.getValueAtPercentile(50), latencyP99Ms: h.getValueAtPercentile(99) } : {}),
    })
  }

  const blocks = input.blocks.filter((b) => b.ours > 0)
  const blockTxs = blocks.reduce((s, b) => s + b.txs, 0)
  const reexecuted = blocks.reduce((s, b) => s + b.reexecuted, 0)
  const lagP = percentiles(lag)
  const injectionSec = windowMs / 1000
  return {
    version: 1,
    target: input.meta.target,
    workload: input.meta.workload,
    load: input.meta.load,
    setup: input.meta.setup,
    signing: input.meta.signing,
    startedAt: new Date(input.meta.startedAtMs).toISOString(),
    endedAt: new Date(input.meta.endedAtMs).toISOString(),
    stoppedBy: input.meta.stoppedBy,
    injectionSec: round1(injectionSec),
    drainSec: round1(Math.max(0, endMs - startMs - windowMs) / 1000),
    injection: {
      planned,
      sent: issued,
      notSent: planned - issued,
      sendCalls: input.sendCalls,
      sendFailed,
      lagMs: lagP,
      fellBehind: lagP.p99 > LAG_BEHIND_MS,
      sendErrors: input.sendErrors,
    },
    throughput: {
      offeredTps: round1(planned / (durationMs / 1000)),
      sentTps: round1(issued / (Math.max(lastSentMs - startMs, windowMs) / 1000)),
      achievedTps: round1(included / Math.max(0.001, (lastInclusionMs - startMs) / 1000)),
      sustainedTps: round1(includedInWindow / (windowMs / 1000)),
    },
    results: {
      included,
      reverted,
      rejected,
      rejectedByReason,
      unaccounted: unaccountedTxs.length,
      accountedFor: unaccountedTxs.length === 0,
      receiptsMissing: input.receiptsMissing,
    },
    latencyMs: percentiles(latency),
    steps,
    blocks: {
      count: blocks.length,
      first: blocks[0]?.number ?? null,
      last: blocks[blocks.length - 1]?.number ?? null,
      txs: blockTxs,
      ours: blocks.reduce((s, b) => s + b.ours, 0),
      reexecuted,
      reexecutedShare: blockTxs === 0 ? 0 : Math.round((reexecuted / blockTxs) * 10_000) / 10_000,
      shardsMean: blocks.length === 0 ? 0 : round1(blocks.reduce((s, b) => s + b.shards, 0) / blocks.length),
    },
    timeline: { bucketSec, points },
    queueDepth: input.depth.map((d) => ({ t: round1((d.atMs - startMs) / 1000), visible: d.visible, inFlight: d.inFlight, delayed: d.delayed })),
    deadLettered: input.deadLettered,
    unaccountedTxs,
    errors: input.errors,
  }
}

/** Columns of the per-transaction log (`transactions.csv`). */
export const TRANSACTION_COLUMNS = ['index', 'hash', 'sender', 'nonce', 'intendedAtMs', 'sentAtMs', 'outcome', 'doneAtMs', 'latencyMs', 'block', 'reverted', 'code'] as const

/**
 * Every scheduled transaction, one CSV line each: when it was meant to be sent and was sent,
 * and what became of it (included, rejected, pending: never included, send-failed, not-sent).
 */
export function* transactionRows(input: ReportInput): Generator<string> {
  yield TRANSACTION_COLUMNS.join(',')
  const { startMs, offsetsMs, status, doneAtMs, sentAtMs } = input
  for (let i = 0; i < offsetsMs.length; i++) {
    const intended = startMs + offsetsMs[i]!
    const { sender, nonce } = input.senderOf(i)
    const sent = i < input.issued && sentAtMs[i]! > 0
    const outcome = !sent ? 'not-sent' : status[i] === TX_INCLUDED ? 'included' : status[i] === TX_REJECTED ? 'rejected' : input.failed[i] === 1 ? 'send-failed' : 'pending'
    const done = outcome === 'included' || outcome === 'rejected'
    const block = input.block?.[i] ?? -1
    yield [
      i,
      input.hashes[i],
      sender,
      `0x${nonce.toString(16)}`,
      Math.round(intended),
      sent ? Math.round(sentAtMs[i]!) : '',
      outcome,
      done ? Math.round(doneAtMs[i]!) : '',
      outcome === 'included' ? Math.round(doneAtMs[i]! - intended) : '',
      block >= 0 ? block : '',
      outcome === 'included' ? input.reverted[i] : '',
      input.rejections.get(i)?.code ?? '',
    ].join(',')
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** The report as aligned text rows, for the terminal. */
export function reportText(r: LoadTestReport): string {
  const l = r.latencyMs
  const rejections = Object.entries(r.results.rejectedByReason)
  const rows: [string, string][] = [
    ['target', `${r.target.description} (pipeline ${r.target.pipeline})`],
    ['workload', `${r.workload.mix}, ${fmt(r.workload.accounts)} senders, hot share ${r.workload.hotShare}, ${r.workload.pools} pools, seed ${r.workload.seed}`],
    ['load', r.load.steps.map((s) => `${fmt(s.rate)} tx/s for ${fmt(s.durationSec)} s`).join(', then ')],
    ['stopped by', r.stoppedBy],
    ['offered / sent', `${fmt(r.throughput.offeredTps, 1)} tx/s offered, ${fmt(r.throughput.sentTps, 1)} tx/s sent (${fmt(r.injection.sent)} of ${fmt(r.injection.planned)} transactions)`],
    ['achieved', `${fmt(r.throughput.achievedTps, 1)} tx/s included overall, ${fmt(r.throughput.sustainedTps, 1)} tx/s within the injection window`],
    ['inclusion latency', l.count === 0 ? '-' : `p50 ${fmt(l.p50)} ms, p90 ${fmt(l.p90)} ms, p99 ${fmt(l.p99)} ms, max ${fmt(l.max)} ms`],
    ['included', `${fmt(r.results.included)}${r.results.reverted > 0 ? ` (${fmt(r.results.reverted)} reverted)` : ''}`],
    ['rejected', r.results.rejected === 0 ? '0' : `${fmt(r.results.rejected)} (${rejections.map(([code, v]) => `${code}: ${v.count}`).join(', ')})`],
    ['never included', r.results.unaccounted === 0 ? '0: every sent transaction accounted for' : `${fmt(r.results.unaccounted)} (listed in the report)`],
    ['blocks', `${fmt(r.blocks.count)} (${r.blocks.first ?? '-'}..${r.blocks.last ?? '-'}), ${fmt(r.blocks.reexecuted)} re-executed (${fmt(100 * r.blocks.reexecutedShare, 1)}%), ${fmt(r.blocks.shardsMean, 1)} shards on average`],
    ['queue depth', r.queueDepth.length === 0 ? '-' : `max ${fmt(Math.max(...r.queueDepth.map((d) => d.visible + d.inFlight)))} messages`],
    ['injector lag', `p50 ${fmt(r.injection.lagMs.p50)} ms, p99 ${fmt(r.injection.lagMs.p99)} ms, max ${fmt(r.injection.lagMs.max)} ms${r.injection.fellBehind ? '  (the injector fell behind its schedule)' : ''}`],
  ]
  if (r.steps.length > 1) {
    r.steps.forEach((s, k) => rows.push([`step ${k + 1}`, `${fmt(s.rate)} tx/s offered: ${fmt(s.includedTps, 1)} tx/s included, latency p50 ${fmt(s.latencyMs.p50)} ms, p99 ${fmt(s.latencyMs.p99)} ms`]))
  }
  if (r.injection.sendFailed > 0) rows.push(['send failures', `${fmt(r.injection.sendFailed)}: ${r.injection.sendErrors[0]?.error ?? ''}`])
  if (r.deadLettered !== null && r.deadLettered > 0) rows.push(['dead-lettered', fmt(r.deadLettered)])
  for (const e of r.errors) rows.push(['error', e])
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')
}

