/**
 * The benchmark's own code: both sequential baselines run the engine's sealed blocks to the
 * engine's state root (what the bench checks before it reports a ratio), the stages it reports
 * add up to the wall time, and the scale model's arithmetic.
 */
import { readFileSync } from 'node:fs'

import { describe, expect, it } from 'vitest'

import { buildGenesis } from '../../shared/chain/genesis.ts'
import { EmbeddedCluster, type BlockEvent } from '../../shared/cluster/embedded.ts'
import { generateWorkload } from '../../shared/workload/generator.ts'
import { runBaseline, type BaselineBlock } from '../../bench/baseline.ts'
import { STAGES, stagesOf } from '../../bench/engine-bench.ts'
import { AWS_FIGURES, measureDecodedIntake, PAREVM_SETTINGS, projectDeployments, projectScale, sealSeenAt, type DecodedIntakeCosts, type MeasuredCosts } from '../../bench/model.ts'

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
    // Period = the sequencer's planning, then the longer of (acknowledgements + next intake) and
    // the seal as the head polls see it (after worker + coordinator).
    for (const r of m.rows) {
      expect(r.periodMs).toBeCloseTo(r.sequencerMs + Math.max(r.acknowledgeMs + r.intakeMs, r.sealSeenMs), 6)
      expect(r.sealSeenMs).toBeGreaterThanOrEqual(r.workerMs + r.coordinatorMs)
    }
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

  it('sees the seal at the first head poll at or after it', () => {
    const ddb = AWS_FIGURES.dynamoRequestMs.value
    const { headPollMsMin: p0 } = PAREVM_SETTINGS
    expect(sealSeenAt(0, 0, ddb)).toBe(ddb)
    // Polls at 0 and ddb + p0 (then ddb + p0 + ddb + 2 p0): a seal just after the second is seen at the third.
    expect(sealSeenAt(0, ddb + p0, ddb)).toBe(ddb + p0 + ddb)
    expect(sealSeenAt(0, ddb + p0 + 1, ddb)).toBe(2 * ddb + 3 * p0 + ddb)
  })
})

describe('scale model: the ingress function', () => {
  const sqs = AWS_FIGURES.sqsRequestMs.value
  const ddb = AWS_FIGURES.dynamoRequestMs.value
  const base: MeasuredCosts = {
    source: 'test',
    blockSize: 1000,
    intakeMsPerTx: 5,
    planMsPerTx: 0.05,
    workerMsPerTx: 2,
    coordinatorMsPerTx: 0.3,
    otherMsPerTx: 0,
    keysPerTx: 5,
    writesPerTx: 3,
  }
  const decoded: DecodedIntakeCosts = { source: 'test', judgeIngressMsPerTx: 5, encodeMsPerTx: 0.01, parseMsPerTx: 0.02, bytesPerTx: 400 }

  it('moves decoding and recovery off the sequencer: the intake wall goes, and its numbers follow from its inputs', () => {
    // 5 ms of decoding per transaction: 5,000 ms a block on the sequencer, the wall at every size.
    const off = projectScale(base, { txsPerMessage: 100 })
    for (const r of off.rows) expect(r.limit).toBe('largest term: intake CPU (decoding, sender recovery)')
    const on = projectScale(base, { txsPerMessage: 100, ingress: { decoded, concurrency: 1000 } })
    expect(on.ingressFunction).toBe('on')
    for (const [i, r] of on.rows.entries()) {
      expect(r.limit).not.toMatch(/intake/)
      expect(r.txPerSec).toBeGreaterThan(off.rows[i]!.txPerSec)
      // The sequencer's intake: the head, one receive for 10 decoded messages of 100, and parsing.
      expect(r.intakeMs).toBeCloseTo(ddb + sqs + 1000 * decoded.parseMsPerTx, 9)
      expect(r.acknowledgeMs).toBe(sqs)
    }
    // One invocation: 10 messages of 100 transactions: the head, 10 x 100 receipts (2 rounds of 8
    // BatchGetItem calls in flight), decoding and encoding, 10 sends one after another.
    const ing = on.ingress!
    expect(ing.batchSize).toBe(PAREVM_SETTINGS.ingressBatchSize)
    expect(ing.txsPerInvocation).toBe(1000)
    expect(ing.decodedTxsPerMessage).toBe(100)
    expect(ing.invocationMs).toBeCloseTo(ddb + 2 * ddb + 1000 * (base.intakeMsPerTx + decoded.encodeMsPerTx) + 10 * sqs, 9)
    expect(ing.txPerSec).toBeCloseTo((1000 * 1000 * 1000) / ing.invocationMs, 6)

    // Too few invocations: where the function's rate is below the block path's, it is the wall, at exactly its rate.
    const few = projectScale(base, { txsPerMessage: 100, ingress: { decoded, concurrency: 2 } })
    const cap = (2 * 1000 * 1000) / few.ingress!.invocationMs
    expect(few.ingress!.txPerSec).toBeCloseTo(cap, 6)
    for (const r of few.rows) {
      expect(r.txPerSec).toBeCloseTo(Math.min(r.latencyTxPerSec, cap), 6)
      if (cap < r.latencyTxPerSec) expect(r.limit).toMatch(/^ingress function: 2 concurrent invocations of 10 messages/)
    }
    expect(few.rows.at(-1)!.limit).toMatch(/^ingress function/)
  })

  it('as built, single-transaction messages keep the sequencer\'s per-message SQS calls; packing an invocation in one decoded message removes them', () => {
    const cheap = { ...base, intakeMsPerTx: 0.1 }
    const off = projectScale(cheap, { txsPerMessage: 1 })
    const on = projectScale(cheap, { txsPerMessage: 1, ingress: { decoded, concurrency: 1000 } })
    // 1,000 messages a block: 100 receives and 100 deletes of 20 ms on the sequencer, with or without the function.
    expect(off.sequencerMessagesPerBlock).toBe(1000)
    expect(on.sequencerMessagesPerBlock).toBe(1000)
    for (const m of [off, on]) for (const r of m.rows) expect(r.limit).toMatch(/^largest term: sequencer SQS: serial ReceiveMessage \+ DeleteMessageBatch of 1,000/)
    const packed = projectScale(cheap, { txsPerMessage: 1, ingress: { decoded, concurrency: 1000, coalesce: true } })
    expect(packed.sequencerMessagesPerBlock).toBe(100)
    expect(packed.ingress!.decodedTxsPerMessage).toBe(10)
    expect(packed.ingress!.invocation.sendMs).toBe(sqs)
    for (const [i, r] of packed.rows.entries()) {
      expect(r.limit).not.toMatch(/sequencer SQS/)
      expect(r.txPerSec).toBeGreaterThan(on.rows[i]!.txPerSec)
    }
  })

  it('reports both deployments side by side and finds the concurrency where the function stops limiting', () => {
    const r = projectDeployments({ ...base, intakeMsPerTx: 0.1 }, { txsPerMessage: 1, ingress: 'both', decoded })
    expect(r.projection).toBe(true)
    expect(r.off!.ingressFunction).toBe('off')
    expect(r.on!.ingress!.concurrency).toBe(PAREVM_SETTINGS.ingressConcurrency)
    const enough = r.onEnough!
    const best = Math.max(...enough.rows.map((row) => row.txPerSec))
    expect(enough.ingress!.txPerSec).toBeGreaterThanOrEqual(best)
    // One fewer invocation would limit it.
    expect(((enough.ingress!.concurrency - 1) * enough.ingress!.txsPerInvocation * 1000) / enough.ingress!.invocationMs).toBeLessThan(best)
    expect(r.nextWallWithIngress).toContain('NOT IMPLEMENTED')
    expect(() => projectDeployments(base, { ingress: 'on' })).toThrow(/decoded path/)
    expect(projectDeployments(base, { ingress: 'off' }).on).toBeUndefined()
  })

  it('uses the deployment\'s own defaults: the construct\'s batch size', () => {
    const construct = readFileSync(new URL('../../infra/constructs/ingress-function.ts', import.meta.url), 'utf8')
    expect(construct).toContain(`batchSize: props.batchSize ?? ${PAREVM_SETTINGS.ingressBatchSize},`)
  })

  it('times the decoded-queue path on real transactions (every one read back)', () => {
    const d = measureDecodedIntake({ txs: 40, txsPerMessage: 4, rounds: 1 })
    expect(d.parseMsPerTx).toBeGreaterThan(0)
    expect(d.encodeMsPerTx).toBeGreaterThan(0)
    expect(d.judgeIngressMsPerTx).toBeGreaterThan(0)
    // raw (base64), sender, hash, key, intrinsic gas: a few hundred bytes.
    expect(d.bytesPerTx).toBeGreaterThan(200)
    expect(d.bytesPerTx).toBeLessThan(1000)
  })
})
