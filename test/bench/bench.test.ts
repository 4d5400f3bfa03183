/**
 * The benchmark's own code: both sequential baselines run the engine's sealed blocks to the
 * engine's state root (what the bench checks before it reports a ratio), the stages it reports
 * add up to the wall time, and the scale model's arithmetic.
 */
import { describe, expect, it } from 'vitest'

import { buildGenesis } from '../../shared/chain/genesis.ts'
import { EmbeddedCluster, type BlockEvent } from '../../shared/cluster/embedded.ts'
import { generateWorkload } from '../../shared/workload/generator.ts'
import { runBaseline, type BaselineBlock } from '../../bench/baseline.ts'
import { STAGES, stagesOf } from '../../bench/engine-bench.ts'
import { projectScale, type MeasuredCosts } from '../../bench/model.ts'

describe('bench baselines', () => {
  it('default and tuned @ethereumjs/vm reach the engine state root after every block, and the stages add up', async () => {
    const workload = generateWorkload({ txs: 60, mix: 'erc20', accounts: 60, hotShare: 0, pools: 1, seed: 3 })
    const cluster = await EmbeddedCluster.start({ genesis: buildGenesis(workload.genesis), workers: 2, threads: false, blockSize: 20, verify: false })
    const events: BlockEvent[] = []
    try {
      await cluster.submit(workload.rawTxs)
      await cluster.runUntilIdle((e) => {
        events.push(e)
      })
    } finally {
      await cluster.stop()
    }
    expect(events.length).toBeGreaterThan(1)
    const blocks: BaselineBlock[] = events.map((e) => ({ env: e.sealed.env, raws: e.sealed.raws }))
    const [warm, ...measured] = blocks
    const roots = events.slice(1).map((e) => e.sealed.head.stateRoot)
    for (const kind of ['default', 'tuned'] as const) {
      const r = await runBaseline(kind, buildGenesis(workload.genesis), [warm!], measured)
      expect(r.stateRoots, kind).toEqual(roots)
      expect(r.txs).toBe(measured.reduce((s, b) => s + b.raws.length, 0))
      expect(r.blockMs.every((ms) => ms > 0)).toBe(true)
    }
    // Without the first block the roots cannot match: the comparison can fail.
    const swapped = await runBaseline('tuned', buildGenesis(workload.genesis), [], measured)
    expect(swapped.stateRoots.at(-1)).not.toBe(roots.at(-1))

    const stages = stagesOf(events)
    const sum = STAGES.reduce((s, [, key]) => s + stages[key]!, 0) + stages.otherMs!
    expect(sum).toBeCloseTo(stages.wallMs!, 6)
    expect(stages.wallMs).toBeCloseTo(events.reduce((s, e) => s + e.wallMs, 0), 6)
  })
})

describe('scale model', () => {
  const costs: MeasuredCosts = {
    source: 'test',
    blockSize: 1000,
    intakeMsPerTx: 0.1,
    planMsPerTx: 0.05,
    workerMsPerTx: 2,
    coordinatorMsPerTx: 0.3,
    otherMsPerTx: 0,
    keysPerTx: 5,
    writesPerTx: 3,
  }

  it('projects more workers as less worker time, and stops at the serial part', () => {
    const m = projectScale(costs, { txsPerMessage: 100 })
    expect(m.projection).toBe(true)
    const w1 = m.rows.find((r) => r.workers === 1)!
    const w16 = m.rows.find((r) => r.workers === 16)!
    expect(w16.workerMs).toBeLessThan(w1.workerMs)
    expect(w16.txPerSec).toBeGreaterThan(w1.txPerSec)
    // One worker: 1,000 x 2 ms of execution dominates.
    expect(w1.limit).toBe('largest term: worker execution')
    // 256 workers: 3,000 writes in 30 sequential TransactWriteItems (600 ms) outweigh the
    // coordinator's 300 ms of CPU.
    expect(m.rows.at(-1)!.limit).toBe('largest term: apply: sequential TransactWriteItems')
    expect(m.rows.at(-1)!.terms[0]).toEqual(['apply: sequential TransactWriteItems', 600])
    expect(m.nextWall).toContain('apply: sequential TransactWriteItems')
    // Period = sequencer + worker + coordinator (intake overlaps and is shorter here).
    for (const r of m.rows) expect(r.periodMs).toBeCloseTo(Math.max(r.intakeMs, r.sequencerMs + r.workerMs + r.coordinatorMs), 6)
  })

  it('names a capacity wall when the table quota binds', () => {
    // 2,000 keys read per transaction: 40,000 read units a second allow about 20 tx/s, far less
    // than the latencies do.
    const heavy = projectScale({ ...costs, keysPerTx: 2000, writesPerTx: 0.01 }, { txsPerMessage: 1000 })
    const last = heavy.rows.at(-1)!
    expect(last.limit).toMatch(/^capacity: table read quota/)
    expect(last.txPerSec).toBeLessThan(last.latencyTxPerSec)
    expect(last.readUnitsPerSec).toBeCloseTo(40_000, 6)
  })
})
