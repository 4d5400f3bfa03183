/**
 * The injection schedule: when each transaction is meant to be sent, fixed before the run.
 * Open loop: the schedule depends only on the offered rate, never on how fast the system under
 * test answers, so a slow system cannot slow the injector down (no coordinated omission).
 */
import { ConfigError } from '../errors.ts'

export interface RampStep {
  /** Offered transactions per second. */
  rate: number
  durationSec: number
}

export interface Schedule {
  steps: RampStep[]
  /** Intended send time of each transaction, in ms after the start; non-decreasing. */
  offsetsMs: Float64Array
  /** Index of the first transaction of each step (and the total at the end). */
  stepStarts: number[]
  /** Start of each step in ms after the start (and the end of the last step). */
  stepStartMs: number[]
  durationMs: number
}

/** Most transactions one run may schedule (they are signed ahead and kept in memory). */
export const SCHEDULE_TXS_MAX = 2_000_000
export const RATE_MAX = 100_000
export const STEP_DURATION_SEC_MAX = 24 * 60 * 60

export function validateSteps(steps: readonly RampStep[]): void {
  const problems: string[] = []
  if (steps.length === 0) problems.push('at least one step (a rate and a duration) is needed')
  if (steps.length > 100) problems.push(`at most 100 ramp steps (got ${steps.length})`)
  steps.forEach((s, i) => {
    if (!(s.rate > 0 && s.rate <= RATE_MAX)) problems.push(`step ${i + 1}: rate must be in (0, ${RATE_MAX}] tx/s (got ${s.rate})`)
    if (!(s.durationSec > 0 && s.durationSec <= STEP_DURATION_SEC_MAX)) problems.push(`step ${i + 1}: duration must be in (0, ${STEP_DURATION_SEC_MAX}] s (got ${s.durationSec})`)
  })
  const total = steps.reduce((n, s) => n + Math.floor(s.rate * s.durationSec), 0)
  if (total > SCHEDULE_TXS_MAX) problems.push(`the steps schedule ${total} transactions; at most ${SCHEDULE_TXS_MAX} (lower the rate or the duration)`)
  if (problems.length > 0) throw new ConfigError(`invalid load: ${problems.join('; ')}`)
}

/** Evenly spaced sends within each step: transaction k of a step at start + k / rate. */
export function buildSchedule(steps: readonly RampStep[]): Schedule {
  validateSteps(steps)
  const counts = steps.map((s) => Math.max(1, Math.floor(s.rate * s.durationSec)))
  const total = counts.reduce((a, b) => a + b, 0)
  const offsetsMs = new Float64Array(total)
  const stepStarts: number[] = []
  const stepStartMs: number[] = []
  let i = 0
  let startMs = 0
  steps.forEach((s, k) => {
    stepStarts.push(i)
    stepStartMs.push(startMs)
    const interval = 1000 / s.rate
    for (let j = 0; j < counts[k]!; j++) offsetsMs[i++] = startMs + j * interval
    startMs += s.durationSec * 1000
  })
  stepStarts.push(total)
  stepStartMs.push(startMs)
  return { steps: [...steps], offsetsMs, stepStarts, stepStartMs, durationMs: startMs }
}

/** `--rate 200 --duration 10`, or `--ramp 100,200,400` with each step `--duration` long. */
export function parseRamp(ramp: string, durationSec: number): RampStep[] {
  const parts = ramp.split(',').map((p) => p.trim())
  const steps = parts.map((p) => {
    if (!/^\d+(\.\d+)?$/.test(p)) throw new ConfigError(`--ramp: ${JSON.stringify(p)} is not a rate`, { hint: 'give rates in tx/s separated by commas, e.g. --ramp 100,200,400' })
    return { rate: Number(p), durationSec }
  })
  validateSteps(steps)
  return steps
}
