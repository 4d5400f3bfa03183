/**
 * The one driver of the block loop: plan a block, wait for its seal, plan the next. Every
 * pipeline that seals blocks one after another runs it: the sequencer Lambda
 * (`functions/sequence-block.ts`: the ingress queue, the seal seen by polling the head in the
 * store), the embedded cluster (`runUntilIdle`, `runOrdered`: the seal notified in process by
 * the coordinator loop; the load test's in-process pipeline runs `runUntilIdle`) and replay
 * (`ReplayCluster`: one fixture block, its seal pumped from the done queue).
 *
 * The loop's policy lives here: the deadline, the most blocks, rounds that plan nothing (idle),
 * the next block's intake taken while this one executes, a seal that does not come in time.
 * What differs is injected: how a block is planned, how its seal is awaited, what to do with
 * each sealed block, and the clock (`shared/ports/clock.ts`), so that a simulation can drive the
 * loop on simulated time. Nothing here reads `Date.now()` or sets a timer of its own.
 */
import { ParevmError } from '../errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import { realClock, type Clock } from '../ports/clock.ts'

import type { HeadRecord } from '../store/records.ts'

/** What one planning round gave. */
export type PlanStep<P> =
  /** A block was planned (its plan stored and dispatched): the driver waits for its seal. */
  | { kind: 'block'; block: bigint; plan: P }
  /** No block. `tookIn`: inputs were handled all the same (rejections recorded, duplicates dropped). */
  | { kind: 'none'; tookIn: boolean }
  /** The inputs are exhausted: the run ends. */
  | { kind: 'end' }

export interface IdlePolicy {
  /** Pause after a round that planned no block (0: none; the planner's own receive may wait). */
  sleepMs: number
  /** Whether the run ends after a round that planned no block; `idleRounds`: rounds in a row that took nothing in. */
  stop(idleRounds: number): boolean | Promise<boolean>
  /** Rounds in a row that took nothing in, without `stop`, before the run fails (the input never drains). */
  roundsMax?: number
}

export interface DriveOptions<P, S, H = never> {
  clock: Clock
  /** How a block is planned. */
  plan(): Promise<PlanStep<P>>
  /**
   * Take in the next block's inputs while this one executes; started after a block is planned
   * when another may follow, settled once its seal is in. A failure is logged: the next
   * planning round takes in again.
   */
  prefetch?(): Promise<void>
  /** How a seal is awaited: the sealed block, or undefined once the clock reaches `untilMs`. Rejects when the seal can never come. */
  awaitSeal(block: bigint, untilMs: number): Promise<S | undefined>
  /** Longest wait for one seal before `notSealed`. */
  sealWaitMs: number
  /**
   * A block not sealed within `sealWaitMs`: send its work again (the driver then waits again,
   * at most SEAL_WAITS_MAX times) or throw. Without it the run fails.
   */
  notSealed?(block: bigint, waitedMs: number): Promise<void>
  /** What to do with each sealed block; `wallMs`: planning to seal, on the clock. */
  onSealed?(plan: P, sealed: S, wallMs: number): void | Promise<void>
  /**
   * Pipelining (shared/cluster/pipeline.ts): the parent the next block may be planned on once
   * this block is settled, before its seal; undefined when it is sealed first, or by `untilMs`.
   * With `planOn`, the next block is planned then and executes while this one seals.
   */
  awaitSettled?(block: bigint, untilMs: number): Promise<H | undefined>
  /** Plan the next block on a settled, not yet sealed parent (as `plan`). */
  planOn?(parent: H): Promise<PlanStep<P>>
  /** A block planned before this run (a stored plan) and not sealed yet: waited for first, not counted. */
  resume?(): Promise<bigint | undefined>
  /** Stop planning at this clock time; a planned block is waited for until then. */
  deadlineMs?: number
  maxBlocks?: number
  /** Rounds that plan no block. Without a policy the driver plans again at once (a source that ends by itself). */
  idle?: IdlePolicy
  log?: Logger
}

export type StopReason = 'idle' | 'deadline' | 'max-blocks' | 'end'

export interface DriveResult {
  /** Blocks planned by this run (the last one unsealed when the deadline stopped the wait). */
  blocks: number
  stoppedBecause: StopReason
}

/** Waits for one block's seal, each up to `sealWaitMs`, before the run fails. */
export const SEAL_WAITS_MAX = 100

/** Plan, wait for the seal, plan the next, until the inputs end, the run is idle, out of time or out of blocks. */
export async function driveBlocks<P, S, H = never>(o: DriveOptions<P, S, H>): Promise<DriveResult> {
  const { clock } = o
  const deadlineMs = o.deadlineMs ?? Number.POSITIVE_INFINITY
  const maxBlocks = o.maxBlocks ?? Number.MAX_SAFE_INTEGER
  const log = o.log ?? silentLogger
  if (!(o.sealWaitMs > 0)) throw new ParevmError(`sealWaitMs must be positive (got ${o.sealWaitMs})`)

  /** The block's seal, or undefined when the deadline came first. */
  const waitSealed = async (block: bigint): Promise<S | undefined> => {
    for (let attempt = 1; attempt <= SEAL_WAITS_MAX; attempt++) {
      const startMs = clock.now()
      const byDeadline = deadlineMs <= startMs + o.sealWaitMs
      const sealed = await o.awaitSeal(block, byDeadline ? deadlineMs : startMs + o.sealWaitMs)
      if (sealed !== undefined) return sealed
      if (byDeadline || clock.now() >= deadlineMs) return undefined
      const waitedMs = clock.now() - startMs
      if (o.notSealed === undefined) throw new ParevmError(`block ${block} was not sealed within ${o.sealWaitMs} ms`)
      await o.notSealed(block, waitedMs)
    }
    throw new ParevmError(`block ${block} was not sealed after ${SEAL_WAITS_MAX} waits of ${o.sealWaitMs} ms`)
  }

  let blocks = 0
  const done = (stoppedBecause: StopReason): DriveResult => ({ blocks, stoppedBecause })
  if (clock.now() >= deadlineMs) return done('deadline')
  const resumed = await o.resume?.()
  if (resumed !== undefined && (await waitSealed(resumed)) === undefined) return done('deadline')

  let idleRounds = 0
  /** The next block, planned while the previous one sealed (pipelining), and when its planning began. */
  let ahead: { step: PlanStep<P>; t0: number } | undefined
  /** When the last block was sealed: a pipelined block's wall time starts there (its planning overlapped its parent's). */
  let lastSealMs = Number.NEGATIVE_INFINITY
  // Bounded: every round plans a block and waits for its seal (bounded above), or counts an
  // idle round (idle.roundsMax); the deadline, maxBlocks and the source's end bound the rest.
  for (;;) {
    if (ahead === undefined && clock.now() >= deadlineMs) return done('deadline')
    if (blocks >= maxBlocks) return done('max-blocks')
    const t0 = ahead === undefined ? clock.now() : Math.max(ahead.t0, lastSealMs)
    const step = ahead?.step ?? (await o.plan())
    ahead = undefined
    if (step.kind === 'end') return done('end')
    if (step.kind === 'none') {
      idleRounds = step.tookIn ? 0 : idleRounds + 1
      if (o.idle === undefined) continue
      if (await o.idle.stop(idleRounds)) return done('idle')
      if (o.idle.roundsMax !== undefined && idleRounds > o.idle.roundsMax) {
        throw new ParevmError(`nothing to plan in ${idleRounds} rounds in a row, but the input did not drain`)
      }
      if (o.idle.sleepMs > 0) await clock.sleep(o.idle.sleepMs)
      continue
    }
    idleRounds = 0
    blocks++
    const prefetch = blocks < maxBlocks ? o.prefetch?.() : undefined
    prefetch?.catch(() => {})
    let sealed: S | undefined
    try {
      const { awaitSettled, planOn } = o
      if (awaitSettled !== undefined && planOn !== undefined && blocks < maxBlocks && clock.now() < deadlineMs) {
        const parent = await awaitSettled(step.block, Math.min(deadlineMs, clock.now() + o.sealWaitMs))
        if (parent !== undefined) {
          // Its planning takes the intake over; a failure is logged once, below.
          await prefetch?.catch(() => {})
          const tAhead = clock.now()
          const next = await planOn(parent)
          // Nothing to plan: the next round plans (or idles) after this seal, as without pipelining.
          if (next.kind !== 'none') ahead = { step: next, t0: tAhead }
        }
      }
      sealed = await waitSealed(step.block)
    } finally {
      await prefetch?.catch((error: unknown) => log.warn('intake of the next block failed; the next planning takes in again', { error }))
    }
    if (sealed === undefined) return done('deadline')
    await o.onSealed?.(step.plan, sealed, clock.now() - t0)
    // What onSealed does (an inline sequential check) is not the next block's time.
    lastSealMs = clock.now()
  }
}

/** How often `withinClock` looks at the clock at most: no timer outlives the awaited promise by more. */
const CLOCK_SLICE_MS = 100

/** `promise`'s value, or undefined once the clock reaches `untilMs` (sleeping in short slices, so no long timer is left behind). */
export async function withinClock<T>(clock: Clock, untilMs: number, promise: Promise<T>): Promise<T | undefined> {
  let settled = false
  const result = promise.finally(() => {
    settled = true
  })
  result.catch(() => {}) // a rejection after the clock ran out is nobody's to handle
  const timeout = (async (): Promise<void> => {
    // Bounded by `untilMs`: each round sleeps until it or for a slice.
    while (!settled && clock.now() < untilMs) await clock.sleep(Math.min(CLOCK_SLICE_MS, untilMs - clock.now()))
  })()
  await Promise.race([result, timeout])
  // Settled by the time the clock ran out: the value wins.
  return settled ? result : undefined
}

/** Head polling while a planned block is being sealed (the sequencer Lambda: the seal is only visible in the store). */
export const HEAD_POLL_MS_MIN = 50
export const HEAD_POLL_MS_MAX = 500

/** A seal seen by polling the head in the store: true once the head reaches the block, undefined if not by `untilMs`. */
export function sealByHeadPolling(records: { getHead(): Promise<HeadRecord | undefined> }, clock: Clock): (block: bigint, untilMs: number) => Promise<true | undefined> {
  return async (block, untilMs) => {
    let pollMs = HEAD_POLL_MS_MIN
    // Bounded by time: each round sleeps at least HEAD_POLL_MS_MIN.
    for (;;) {
      const head = await records.getHead()
      if (head !== undefined && BigInt(head.number) >= block) return true
      if (clock.now() + pollMs > untilMs) return undefined
      await clock.sleep(pollMs)
      pollMs = Math.min(HEAD_POLL_MS_MAX, pollMs * 2)
    }
  }
}

/** The real clock read with sub-millisecond resolution: blocks' wall times in reports. */
export const monotonicClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  sleep: (ms) => realClock.sleep(ms),
}
