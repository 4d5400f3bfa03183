/**
 * The simulator's seeds (issue 17), first half: every seed passes the auditor (sequential
 * @ethereumjs/vm, exactly once, unique seals, the chain, the state table, liveness), and the
 * faults really happen: every kind is injected over the seeds, crashes included.
 */
import { describe, expect, it } from 'vitest'

import { runRange, SIM_SEEDS } from './seeds.ts'

describe('simulator seeds (first half)', () => {
  it(`passes the auditor for seeds 1..${Math.ceil(SIM_SEEDS / 2)}, with every fault kind injected`, async () => {
    const { faults } = await runRange(1, Math.ceil(SIM_SEEDS / 2))
    for (const kind of ['kv-throttle', 'kv-ambiguous-write', 'kv-condition-failed', 'queue-throttle', 'msg-dropped', 'msg-duplicated', 'msg-delayed', 'msg-reordered', 'heartbeat-lost', 'latency-spike', 'clock-jump', 'crash']) {
      expect(faults[kind], `no ${kind} injected over the seeds`).toBeGreaterThan(0)
    }
  })
})
