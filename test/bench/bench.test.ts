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
import { AWS_FIGURES, costsFrom, ingressConcurrencyNeeded, measureDecodedIntake, modelMarkdown, PAREVM_SETTINGS, projectDeployments, projectScale, sealSeenAt, type DecodedIntakeCosts, type MeasuredCosts } from '../../bench/model.ts'

import type { CaseResult } from '../../bench/engine-bench.ts'

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
    // 256 workers: 3,000 writes in 30 TransactWriteItems, 8 in flight: 4 rounds (80 ms). In the
    // code before, one after another (600 ms), they outweighed the coordinator's 300 ms of CPU.
    const A = PAREVM_SETTINGS.applyCallsInFlight
    expect(A).toBeGreaterThan(1)
    const apply = `apply: TransactWriteItems, ${A} in flight`
    expect(m.rows.at(-1)!.terms.find(([name]) => name === apply)).toEqual([apply, Math.ceil(30 / A) * AWS_FIGURES.dynamoTransactMs.value])
    const before = projectScale(costs, { txsPerMessage: 100, before: true })
    expect(before.rows.at(-1)!.limit).toBe('largest term: apply: sequential TransactWriteItems')
    expect(before.rows.at(-1)!.terms[0]).toEqual(['apply: sequential TransactWriteItems', 600])
    expect(before.nextWall).toContain('apply: sequential TransactWriteItems')
    expect(m.rows.at(-1)!.txPerSec).toBeGreaterThan(before.rows.at(-1)!.txPerSec)
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
    // BatchGetItem calls in flight), decoding and encoding, and its 1,000 transactions packed in
    // as few decoded messages as fit (400 bytes each: 644 in a message under the margin), one
    // SendMessageBatch call each (two such messages pass a call's 256 KiB), the calls in parallel.
    const ing = on.ingress!
    expect(ing.batchSize).toBe(PAREVM_SETTINGS.ingressBatchSize)
    expect(ing.packing).toBe('invocation')
    expect(ing.txsPerInvocation).toBe(1000)
    const perMessage = Math.floor((PAREVM_SETTINGS.decodedMessageBytes - 100) / decoded.bytesPerTx)
    expect(ing.decodedTxsPerMessage).toBe(perMessage)
    expect(ing.decodedMessagesPerInvocation).toBe(Math.ceil(1000 / perMessage))
    expect(ing.sendCallsPerInvocation).toBe(ing.decodedMessagesPerInvocation)
    expect(ing.invocationMs).toBeCloseTo(ddb + 2 * ddb + 1000 * (base.intakeMsPerTx + decoded.encodeMsPerTx) + sqs, 9)
    expect(ing.txPerSec).toBeCloseTo((1000 * 1000 * 1000) / ing.invocationMs, 6)
    // The code before: one decoded message per ingress message, 10 sends one after another.
    const before = projectScale(base, { txsPerMessage: 100, before: true, ingress: { decoded, concurrency: 1000 } }).ingress!
    expect(before.packing).toBe('per-message')
    expect(before.decodedTxsPerMessage).toBe(100)
    expect(before.invocation.sendMs).toBe(10 * sqs)

    // Too few invocations: where the function's rate is below the block path's, it is the wall, at exactly its rate.
    const few = projectScale(base, { txsPerMessage: 100, ingress: { decoded, concurrency: 2 } })
    const cap = (2 * 1000 * 1000) / few.ingress!.invocationMs
    expect(few.ingress!.txPerSec).toBeCloseTo(cap, 6)
    for (const r of few.rows) {
      expect(r.txPerSec).toBeCloseTo(Math.min(r.latencyTxPerSec, cap), 6)
      if (cap < r.latencyTxPerSec) expect(r.limit).toMatch(/^ingress function: 2 concurrent invocations of 10 messages/)
    }
    expect(few.rows.some((r) => /^ingress function: 2 concurrent/.test(r.limit))).toBe(true)
  })

  it('single-transaction messages: before, the sequencer\'s serial SQS calls were the wall; now receives and deletes overlap and the function packs an invocation', () => {
    const cheap = { ...base, intakeMsPerTx: 0.1 }
    const R = PAREVM_SETTINGS.receiveCallsInFlight
    const D = PAREVM_SETTINGS.deleteCallsInFlight
    expect(R).toBeGreaterThan(1)
    expect(D).toBeGreaterThan(1)
    // Before: 1,000 messages a block, 100 receives and 100 deletes of 20 ms one after another, with or without the function.
    const offBefore = projectScale(cheap, { txsPerMessage: 1, before: true })
    const onBefore = projectScale(cheap, { txsPerMessage: 1, before: true, ingress: { decoded, concurrency: 1000 } })
    for (const m of [offBefore, onBefore]) {
      expect(m.sequencerMessagesPerBlock).toBe(1000)
      expect(m.sequencerSqsMs).toBe(200 * sqs)
      for (const r of m.rows) expect(r.limit).toMatch(/^largest term: sequencer SQS: ReceiveMessage \+ DeleteMessageBatch of 1,000 .*one after another/)
    }
    // Now, without the function: the same 1,000 messages, R receives and D deletes in flight.
    const off = projectScale(cheap, { txsPerMessage: 1 })
    expect(off.sequencerMessagesPerBlock).toBe(1000)
    expect(off.sequencerSqsMs).toBe((Math.ceil(100 / R) + Math.ceil(100 / D)) * sqs)
    for (const [i, r] of off.rows.entries()) {
      expect(r.acknowledgeMs).toBe(Math.ceil(100 / D) * sqs)
      expect(r.txPerSec).toBeGreaterThan(offBefore.rows[i]!.txPerSec)
    }
    // With it: an invocation's 10 transactions in one decoded message, one send; 100 messages a block.
    const on = projectScale(cheap, { txsPerMessage: 1, ingress: { decoded, concurrency: 1000 } })
    expect(on.sequencerMessagesPerBlock).toBe(100)
    expect(on.ingress!.decodedTxsPerMessage).toBe(10)
    expect(on.ingress!.decodedMessagesPerInvocation).toBe(1)
    expect(on.ingress!.sendCallsPerInvocation).toBe(1)
    expect(on.ingress!.invocation.sendMs).toBe(sqs)
    expect(onBefore.ingress!.invocation.sendMs).toBe(10 * sqs)
    for (const [i, r] of on.rows.entries()) {
      expect(r.limit).not.toMatch(/sequencer SQS/)
      expect(r.txPerSec).toBeGreaterThan(onBefore.rows[i]!.txPerSec)
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
    expect(r.nextWallWithIngress).toContain('for comparison, the code before')
    expect(r.onBefore!.before).toBe(true)
    expect(r.onBefore!.ingress!.concurrency).toBe(r.on!.ingress!.concurrency)
    expect(r.offBefore!.before).toBe(true)
    expect(modelMarkdown(r)).toContain('before (3a465ad), with it')
    expect(() => projectDeployments(base, { ingress: 'on' })).toThrow(/decoded path/)
    expect(projectDeployments(base, { ingress: 'off' }).on).toBeUndefined()
  })

  it('the deployment\'s default concurrency does not limit, by the model, on the recorded 10,000-transaction costs', () => {
    const file = JSON.parse(readFileSync(new URL('../../bench/results/2-core-vm-10000-two-baselines.json', import.meta.url), 'utf8')) as { workloads: CaseResult[] }
    const costs = costsFrom(file.workloads.find((w) => w.case === 'erc20')!)
    const measured = measureDecodedIntake({ txs: 100, txsPerMessage: 1, rounds: 1 })
    for (const txsPerMessage of [1, 4]) {
      const needed = ingressConcurrencyNeeded(costs, { blockSize: 1000, txsPerMessage, decoded: measured })
      expect(needed).toBeLessThanOrEqual(PAREVM_SETTINGS.ingressConcurrency)
      const r = projectDeployments(costs, { blockSize: 1000, txsPerMessage, ingress: 'on', decoded: measured })
      for (const row of r.on!.rows) expect(row.limit).not.toMatch(/^ingress function/)
    }
  })

  it('counts the coordinator\'s work before the last shard as coordinator time, and says when a result lacks it', () => {
    const file = JSON.parse(readFileSync(new URL('../../bench/results/2-core-vm-10000-two-baselines.json', import.meta.url), 'utf8')) as { workloads: CaseResult[] }
    const recorded = file.workloads.find((w) => w.case === 'erc20')!
    const without = costsFrom(recorded)
    expect(without.source).toMatch(/understated/)
    const withEarly = structuredClone(recorded)
    for (const e of withEarly.engine) e.medianRun.coordinatorEarlyMs = 2_500
    const costs = costsFrom(withEarly)
    expect(costs.source).not.toMatch(/understated/)
    expect(costs.coordinatorMsPerTx - without.coordinatorMsPerTx).toBeCloseTo(2_500 / recorded.size, 9)
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
