/**
 * The auditor can fail: a store that silently drops one write of a block's apply (the state
 * table misses it, nothing throws) must be caught, with the invariant, the key, and the event of
 * the drop as the first diverging event.
 */
import { describe, expect, it } from 'vitest'

import { runSeed } from '../../shared/sim/simulator.ts'

describe('the auditor', () => {
  it('fails a run whose store silently drops one write of an apply', async () => {
    const r = await runSeed({ seed: 7, lines: 40, noFaults: true, dropApplyWrite: true })
    expect(r.ok).toBe(false)
    const f = r.failures.find((x) => x.invariant === 'state-table')
    expect(f, JSON.stringify(r.failures, null, 2)).toBeDefined()
    expect(f!.message).toMatch(/state table does not hold its write of [0-9a-f]{40}/)
    expect(f!.eventText).toMatch(/SILENT-DROP/)
  })

  it('passes the same run without the drop', async () => {
    const r = await runSeed({ seed: 7, lines: 40, noFaults: true })
    expect(r.failures).toEqual([])
    expect(r.ok).toBe(true)
  })
})
