/** The simulator's seeds (issue 17), second half (a second file so that two test workers share them). */
import { describe, expect, it } from 'vitest'

import { CRASH_POINTS } from '../../shared/sim/world.ts'
import { runRange, SIM_SEEDS } from './seeds.ts'

describe('simulator seeds (second half)', () => {
  it(`passes the auditor for the second half of ${SIM_SEEDS} seeds, crashing roles at the named points`, async () => {
    const first = Math.ceil(SIM_SEEDS / 2) + 1
    const { faults, crashPoints } = await runRange(first, SIM_SEEDS - first + 1)
    expect(faults.crash).toBeGreaterThan(0)
    const hit = CRASH_POINTS.filter((p) => crashPoints[p]! > 0)
    // Most named points are hit in any fifty seeds; each of them in the full run (README).
    expect(hit.length, `crash points hit: ${JSON.stringify(crashPoints)}`).toBeGreaterThanOrEqual(Math.min(3, CRASH_POINTS.length))
  })
})
