/** The checks every finished load-test report must pass, whatever the target. */
import { expect } from 'vitest'

import type { LoadTestReport } from '../../shared/loadtest/report.ts'

export function expectAccounted(r: LoadTestReport): void {
  expect(r.injection.sent).toBeGreaterThan(0)
  expect(r.results.unaccounted, JSON.stringify(r.unaccountedTxs.slice(0, 3))).toBe(0)
  expect(r.unaccountedTxs).toEqual([])
  expect(r.results.accountedFor).toBe(true)
  expect(r.results.included + r.results.rejected).toBe(r.injection.sent)
  // A run where every transaction was rejected is not a load test that passed.
  expect(r.results.included, `nothing included; rejections: ${JSON.stringify(r.results.rejectedByReason)}`).toBeGreaterThan(0)
  const byReason = Object.values(r.results.rejectedByReason)
  expect(byReason.reduce((s, v) => s + v.count, 0)).toBe(r.results.rejected)
  for (const v of byReason) expect(v.example.length).toBeGreaterThan(0)
  expect(r.latencyMs.count).toBe(r.results.included)
  expect(r.blocks.ours).toBe(r.results.included)
  expect(r.injection.sendFailed).toBe(0)
  expect(r.errors).toEqual([])
  const timeline = r.timeline.points
  expect(timeline.reduce((s, p) => s + p.offeredTps * r.timeline.bucketSec, 0)).toBeCloseTo(r.injection.planned, 0)
  expect(timeline.reduce((s, p) => s + p.includedTps * r.timeline.bucketSec, 0)).toBeCloseTo(r.results.included, 0)
}
