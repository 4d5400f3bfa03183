/**
 * Simulated time for the deterministic simulator: `sleep` resolves only when the scheduler
 * advances the clock, which it does only when every task is blocked (the microtask queue has
 * drained). Sleepers due at the same instant wake in the order they went to sleep, so the
 * interleaving of the roles is a function of the seed alone.
 */
import type { Clock } from '../ports/clock.ts'

interface Sleeper {
  at: number
  seq: number
  resolve: () => void
}

/** A fixed epoch, so timestamps derived from the clock do not depend on the real date. */
export const SIM_EPOCH_MS = 1_700_000_000_000

export class SimClock implements Clock {
  private t: number
  private seq = 0
  private sleepers: Sleeper[] = []

  constructor(startMs = SIM_EPOCH_MS) {
    this.t = startMs
  }

  now(): number {
    return this.t
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.sleepers.push({ at: this.t + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: this.seq++, resolve })
    })
  }

  /** Sleepers not yet woken. */
  get pending(): number {
    return this.sleepers.length
  }

  /** Milliseconds since the epoch the clock started at. */
  elapsed(startMs = SIM_EPOCH_MS): number {
    return this.t - startMs
  }

  /** A forward jump of the clock (a clock step): sleepers now due wake at the next advance. */
  jump(ms: number): void {
    this.t += Math.max(0, ms)
  }

  /**
   * Advance to the earliest sleeper's deadline (never backwards) and wake every sleeper due
   * by then, in (deadline, order of sleeping). False when nobody sleeps.
   */
  advance(): boolean {
    if (this.sleepers.length === 0) return false
    let min = Infinity
    for (const s of this.sleepers) if (s.at < min) min = s.at
    if (min > this.t) this.t = min
    const due: Sleeper[] = []
    const rest: Sleeper[] = []
    for (const s of this.sleepers) (s.at <= this.t ? due : rest).push(s)
    this.sleepers = rest
    due.sort((a, b) => a.at - b.at || a.seq - b.seq)
    for (const s of due) s.resolve()
    return true
  }
}

/** One macrotask turn: every microtask queued before it has run. */
export function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
