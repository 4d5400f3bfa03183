/** The same seed gives the same run: identical trace hashes (the simulator's replay guarantee). */
import { describe, expect, it } from 'vitest'

import { runSeed } from '../../shared/sim/simulator.ts'

describe('simulator determinism', () => {
  it('runs a seed twice with the same trace hash, and another seed with another', async () => {
    const a = await runSeed({ seed: 4242, lines: 30 })
    const b = await runSeed({ seed: 4242, lines: 30 })
    expect(a.events).toBeGreaterThan(100)
    expect(b.traceHash).toBe(a.traceHash)
    expect(b.events).toBe(a.events)
    expect(b.faults).toEqual(a.faults)
    const c = await runSeed({ seed: 4243, lines: 30 })
    expect(c.traceHash).not.toBe(a.traceHash)
  })
})
