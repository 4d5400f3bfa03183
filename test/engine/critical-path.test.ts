import { describe, expect, it } from 'vitest'

import { amdahlBound, criticalPath, sumCriticalPaths } from '../../shared/cluster/critical-path.ts'
import { busiestWorker } from '../../shared/coordinator/assemble.ts'
import { addressOf, runInline, signTx, testGenesis } from '../helpers/chain.ts'

describe('the critical path', () => {
  it('serial ms is the wall time less the slowest worker; the serial fraction is taken at one worker; Amdahl bounds the rest', () => {
    // 1,000 ms block; two workers of 300 and 200 ms (prefetch + execution): 700 ms serial.
    const p = criticalPath({ workerPrefetchMsMax: 50, workerExecuteMsMax: 250, workerPrefetchMsSum: 80, workerExecuteMsSum: 420 }, 1000)
    expect(p.serialMs).toBe(700)
    expect(p.serialFraction).toBeCloseTo(700 / 1200)
    expect(p.amdahl16).toBeCloseTo(1 / (700 / 1200 + 500 / 1200 / 16))
    expect(amdahlBound(0, 64)).toBe(64)
    expect(amdahlBound(1, 64)).toBe(1)
    const sum = sumCriticalPaths([p, p])
    expect(sum.serialMs).toBe(1400)
    expect(sum.serialFraction).toBeCloseTo(p.serialFraction)
  })

  it('the intake threads are parallel work: their busiest thread comes off the serial part, all of them go to the one-worker total', () => {
    const timings = { workerPrefetchMsMax: 50, workerExecuteMsMax: 250, workerPrefetchMsSum: 80, workerExecuteMsSum: 420, intakeThreadMsMax: 150, intakeThreadMsSum: 260 }
    const p = criticalPath(timings, 1000)
    expect(p.serialMs).toBe(550)
    expect(p.slowestWorkerMs).toBe(450)
    expect(p.serialFraction).toBeCloseTo(550 / (550 + 500 + 260))
  })

  it('a worker that executed several shards of a block is one worker: its shards add up', () => {
    // Worker 7 ran shards 0 and 2 (100 + 300 ms), worker 9 shard 1 (350 ms), a shard with no worker number 50 ms.
    const b = busiestWorker([
      { worker: 7, prefetchMs: 10, executeMs: 90 },
      { worker: 9, prefetchMs: 50, executeMs: 300 },
      { worker: 7, prefetchMs: 20, executeMs: 280 },
      { prefetchMs: 5, executeMs: 45 },
    ])
    expect(b).toEqual({ prefetchMs: 30, executeMs: 370, otherMs: 0, workers: 3 })
  })

  it('every sealed block reports it', async () => {
    const genesis = testGenesis({ accounts: 4 })
    const { events, summary } = await runInline(genesis, [signTx({ from: 0, nonce: 0, to: addressOf(3), value: 1n }), signTx({ from: 1, nonce: 0, to: addressOf(3), value: 1n })])
    for (const e of events) {
      expect(e.criticalPath.wallMs).toBeCloseTo(e.wallMs)
      expect(e.criticalPath.serialMs).toBeGreaterThan(0)
      expect(e.criticalPath.serialFraction).toBeGreaterThan(0)
      expect(e.criticalPath.serialFraction).toBeLessThanOrEqual(1)
    }
    expect(summary.criticalPath.wallMs).toBeCloseTo(events.reduce((s, e) => s + e.wallMs, 0))
  })
})
