/**
 * Replay mode of the simulator (issue 17): mainnet fixture blocks planned in their own order and
 * run through the simulated sequencer, shard workers and coordinator under the seed's faults.
 * Every seed passes the auditor: each receipt and the state root equal sequential
 * @ethereumjs/vm on the fixture's pre-state, the header's fields and hash are the fixture's (its
 * state root the reference's), every transaction included once in the block's order, one seal,
 * the chain from the fixture's parent, the state table, liveness. A seed replays exactly.
 */
import { describe, expect, it } from 'vitest'

import { replayCommand, runSeed } from '../../shared/sim/simulator.ts'
import { FAULT_KINDS } from '../../shared/sim/world.ts'

/** Replay seeds in CI (PAREVM_SIM_REPLAY_SEEDS overrides): about a second each on 2 cores. */
const REPLAY_SEEDS = Number(process.env.PAREVM_SIM_REPLAY_SEEDS ?? 8)

describe('simulator replay mode (mainnet fixture blocks)', () => {
  it(`passes the auditor for replay seeds 1..${REPLAY_SEEDS}, under faults`, async () => {
    const failures: string[] = []
    const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<string, number>
    const blocks = new Set<string>()
    let sealed = 0
    const t0 = performance.now()
    for (let seed = 1; seed <= REPLAY_SEEDS; seed++) {
      const r = await runSeed({ seed, mode: 'replay' })
      expect(r.mode).toBe('replay')
      if (r.config.mode === 'replay') for (const b of r.config.blocks) blocks.add(b)
      sealed += r.blocks
      for (const k of FAULT_KINDS) faults[k]! += r.faults[k]
      for (const f of r.failures.filter((x) => x.known === undefined)) {
        failures.push(`seed ${seed}: ${f.invariant}: ${f.message}\n  first diverging event: ${f.eventText}\n  replay: ${replayCommand(r)}`)
      }
    }
    console.log(`sim replay: seeds 1..${REPLAY_SEEDS}: ${(REPLAY_SEEDS / ((performance.now() - t0) / 1000)).toFixed(2)} seeds/s, blocks ${[...blocks].join(', ')}`)
    expect(failures, failures.join('\n')).toEqual([])
    // Every fixture block drawn was sealed, several fixtures were drawn, and the faults happened.
    expect(sealed).toBeGreaterThanOrEqual(REPLAY_SEEDS)
    expect(blocks.size).toBeGreaterThanOrEqual(Math.min(4, REPLAY_SEEDS))
    for (const kind of ['kv-throttle', 'kv-condition-failed', 'latency-spike', 'crash']) {
      expect(faults[kind], `no ${kind} injected over the replay seeds`).toBeGreaterThan(0)
    }
  })

  it('runs a replay seed twice with the same trace hash, and another seed with another', async () => {
    const a = await runSeed({ seed: 4, mode: 'replay' })
    const b = await runSeed({ seed: 4, mode: 'replay' })
    expect(a.ok).toBe(true)
    expect(a.events).toBeGreaterThan(50)
    expect(b.traceHash).toBe(a.traceHash)
    expect(b.events).toBe(a.events)
    expect(b.faults).toEqual(a.faults)
    const c = await runSeed({ seed: 14, mode: 'replay' })
    expect(c.traceHash).not.toBe(a.traceHash)
  })
})
