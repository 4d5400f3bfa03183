/**
 * The open-loop injector. Every transaction has an intended send time fixed by the schedule;
 * each tick sends whatever is due, up to 10 messages a call (SQS SendMessageBatch), without
 * waiting for earlier calls (at most `maxInFlight` calls outstanding). Latency is measured from
 * the intended time, so a late send is charged to the measurement, not hidden; the actual send
 * time of every transaction is recorded, and the lag behind the schedule is reported.
 *
 * Runs in the main thread against an in-process queue, or in its own thread against SQS
 * (inject-thread.ts), so that the pipeline or the tracker in the main thread cannot delay it.
 */
import { QUEUE_LIMITS, type SendEntry } from '../ports/queue.ts'

export interface InjectionParams {
  raws: readonly string[]
  offsetsMs: Float64Array
  /** Epoch ms of offset 0. */
  startMs: number
  /** Transactions per queue message (1: `{ raw }`, more: `{ txs }`). */
  perMessage: number
  /** Most send calls outstanding. */
  maxInFlight: number
  /** Shortest pause between sends: at most one call per tick unless more than a batch is due. */
  tickMs: number
  /** Out: epoch ms at which each transaction's send call was made (0: not sent). */
  sentAtMs: Float64Array
  send(entries: SendEntry[]): Promise<void>
  stopped(): boolean
  now(): number
  /** After each call is issued: the number of transactions handed to send calls so far. */
  onIssued?(count: number): void
  onFailure?(from: number, count: number, error: unknown): void
}

export interface InjectionResult {
  /** Transactions handed to a send call. */
  issued: number
  /** Of those, in calls that failed (after the adapter's own retries). */
  failed: number
  calls: number
  stoppedEarly: boolean
}

/** Epoch milliseconds with sub-millisecond resolution (the same clock in every thread). */
export function epochNow(): number {
  return performance.timeOrigin + performance.now()
}

export function messageBody(raws: readonly string[], intendedMs: number): string {
  const sentAtMs = Math.round(intendedMs)
  return JSON.stringify(raws.length === 1 ? { raw: raws[0], sentAtMs } : { txs: raws, sentAtMs })
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Longest single pause, so that a stop request is seen promptly. */
const PAUSE_MS_MAX = 50

export async function runInjection(p: InjectionParams): Promise<InjectionResult> {
  const n = p.raws.length
  const perCall = QUEUE_LIMITS.batchEntries * p.perMessage
  const inflight = new Set<Promise<void>>()
  let next = 0
  let calls = 0
  let failed = 0
  // Bounded: every round either issues a call, waits for one, or pauses until the next send is due.
  while (next < n && !p.stopped()) {
    const now = p.now()
    let due = next
    while (due < n && p.startMs + p.offsetsMs[due]! <= now) due++
    while (next < due && !p.stopped()) {
      if (inflight.size >= p.maxInFlight) {
        await Promise.race(inflight)
        continue
      }
      const from = next
      const count = Math.min(due - next, perCall)
      next += count
      const entries: SendEntry[] = []
      for (let i = from; i < from + count; i += p.perMessage) {
        const end = Math.min(from + count, i + p.perMessage)
        entries.push({ body: messageBody(p.raws.slice(i, end), p.startMs + p.offsetsMs[i]!) })
      }
      const at = p.now()
      for (let i = from; i < from + count; i++) p.sentAtMs[i] = at
      calls++
      const call: Promise<void> = p
        .send(entries)
        .catch((error: unknown) => {
          failed += count
          p.onFailure?.(from, count, error)
        })
        .finally(() => inflight.delete(call))
      inflight.add(call)
      p.onIssued?.(next)
    }
    if (next >= n) break
    const untilDue = p.startMs + p.offsetsMs[next]! - p.now()
    await sleep(Math.max(p.tickMs, Math.min(untilDue, PAUSE_MS_MAX)))
  }
  await Promise.allSettled([...inflight])
  return { issued: next, failed, calls, stoppedEarly: next < n }
}
