/**
 * Intake threads (shared/intake/pool.ts) take exactly the decisions inline intake takes: the
 * adversarial generator's lines (every invalid class) and hand-made malformed inputs and
 * envelopes, judged by two threads and inline: the same codes, reasons and ids, the same
 * senders, hashes and fields. Then whole runs: `parevm run`'s path and the queue path with
 * intake threads give the chain and the per-input outcomes of inline intake.
 */
import { Capability, type AccessList2930Tx } from '@ethereumjs/tx'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { buildGenesis, parseGenesis } from '../../shared/chain/genesis.ts'
import { EmbeddedCluster } from '../../shared/cluster/embedded.ts'
import { commonFor, sharedTxCommon } from '../../shared/exec/common-for.ts'
import { decodeRawTx, MAX_TX_BYTES, type IntakeResult } from '../../shared/intake/decode.ts'
import { DECODED_MESSAGE_BYTES_MAX, decodedEntryRejectionId, decodedMessageSchema, encodeDecodedMessages, judgeDecodedBody, packDecodedMessages, sendBatchesOf } from '../../shared/intake/decoded-message.ts'
import { envelopeRejectionId } from '../../shared/pipeline/messages.ts'
import { QUEUE_LIMITS } from '../../shared/ports/queue.ts'
import { judgeIngressBody, type MessageJudgement } from '../../shared/intake/ingress.ts'
import { IntakePool, defaultIntakeThreads, type IntakeRunner, type IntakeSpec } from '../../shared/intake/pool.ts'
import { ADVERSARIAL_TIMESTAMP, generateAdversarial } from '../../shared/workload/adversarial.ts'

import type { TxView } from '../../shared/intake/tx-view.ts'
import type { Rejection } from '../../shared/intake/rejection.ts'

const NOW = 1_700_000_000_000
const workload = generateAdversarial({ seed: 4242, lines: 400, invalidShare: 0.4 })
const genesis = buildGenesis(parseGenesis(workload.genesisFile))
const spec: IntakeSpec = { chain: genesis.chain, number: 1n, timestamp: ADVERSARIAL_TIMESTAMP + 12n, blockGasLimit: BigInt(genesis.header.gasLimit) }
const ctx = { common: sharedTxCommon(commonFor(spec.chain, spec.number, spec.timestamp)), blockGasLimit: spec.blockGasLimit, clock: () => NOW }

/** Inputs beyond the generator's: text, odd hex, empty, oversize, truncated and mutated transactions. */
function extraInputs(): string[] {
  const valid = workload.lines.find((l) => !l.kind.startsWith('invalid'))!.raw
  return [
    '',
    '0x',
    'hello',
    '0x123',
    '0xzz',
    `0x${'00'.repeat(MAX_TX_BYTES + 1)}`,
    valid.slice(0, valid.length - 10),
    `${valid}00`,
    `0x03${valid.slice(4)}`,
    `0x04${valid.slice(4)}`,
    `0x7f${valid.slice(4)}`,
    `0x${'c1'.repeat(40)}c0`,
    valid.toUpperCase().replace('0X', '0x'),
    valid,
  ]
}

function expectSameResult(pool: IntakeResult<TxView>, inline: IntakeResult, what: string): void {
  expect(pool.ok, `${what}: accepted by one, rejected by the other`).toBe(inline.ok)
  if (!pool.ok || !inline.ok) {
    expect((pool as { rejection: Rejection }).rejection, what).toEqual((inline as { rejection: Rejection }).rejection)
    return
  }
  const a = pool.tx
  const b = inline.tx
  expect(Buffer.from(a.raw).equals(Buffer.from(b.raw)), what).toBe(true)
  expect(Buffer.from(a.sender).equals(Buffer.from(b.sender)), what).toBe(true)
  expect(Buffer.from(a.senderPubKey).equals(Buffer.from(b.senderPubKey)), what).toBe(true)
  expect(Buffer.from(a.hash).equals(Buffer.from(b.hash)), what).toBe(true)
  expect([a.hashHex, a.senderHex, a.intrinsicGas]).toEqual([b.hashHex, b.senderHex, b.intrinsicGas])
  // The fields prediction and planning read: the view gives what the @ethereumjs/tx object gives.
  const v = a.tx as TxView & { gasPrice?: bigint; maxFeePerGas?: bigint; maxPriorityFeePerGas?: bigint; accessList?: unknown }
  const t = b.tx as unknown as { gasPrice?: bigint; maxFeePerGas?: bigint; maxPriorityFeePerGas?: bigint }
  expect([v.type, v.nonce, v.gasLimit, v.value, v.to?.toString(), Buffer.from(v.data).toString('hex')], what).toEqual([
    b.tx.type,
    b.tx.nonce,
    b.tx.gasLimit,
    b.tx.value,
    b.tx.to?.toString(),
    Buffer.from(b.tx.data).toString('hex'),
  ])
  expect([v.gasPrice, v.maxFeePerGas, v.maxPriorityFeePerGas], what).toEqual([t.gasPrice, t.maxFeePerGas, t.maxPriorityFeePerGas])
  for (const cap of [Capability.EIP155ReplayProtection, Capability.EIP1559FeeMarket, Capability.EIP2718TypedTransaction, Capability.EIP2930AccessLists]) {
    expect(v.supports(cap), `${what}: capability ${cap}`).toBe(b.tx.supports(cap))
  }
  if (b.tx.supports(Capability.EIP2930AccessLists)) expect(v.accessList, what).toEqual((b.tx as AccessList2930Tx).accessList)
}

function expectSameJudgement(pool: MessageJudgement<TxView>, inline: MessageJudgement, what: string): void {
  expect(pool.kind, what).toBe(inline.kind)
  if (pool.kind === 'malformed' || inline.kind === 'malformed') {
    expect((pool as { rejection: Rejection }).rejection, what).toEqual((inline as { rejection: Rejection }).rejection)
    return
  }
  expect(pool.results.length, what).toBe(inline.results.length)
  pool.results.forEach((r, i) => expectSameResult(r, inline.results[i]!, `${what}, tx ${i}`))
}

describe('intake threads', () => {
  let pool: IntakeRunner
  beforeAll(() => {
    pool = IntakePool.start(2)
  })
  afterAll(async () => {
    await pool.close()
  })

  it('judge every adversarial line and malformed input as inline intake does', async () => {
    const inputs = [...workload.lines.map((l) => l.raw), ...extraInputs()]
    expect(pool.threads).toBe(2)
    const results = await pool.decodeInputs(inputs, spec, NOW)
    expect(results.length).toBe(inputs.length)
    const codes = new Set<string>()
    inputs.forEach((input, i) => {
      const inline = decodeRawTx(input, ctx)
      if (!inline.ok) codes.add(inline.rejection.code)
      expectSameResult(results[i]!, inline, `input ${i} (${workload.lines[i]?.kind ?? 'extra'})`)
    })
    // The comparison covered accepted lines and many rejection classes.
    expect(results.filter((r) => r.ok).length).toBeGreaterThan(100)
    expect(codes.size).toBeGreaterThanOrEqual(8)
  })

  it('judge ingress message bodies (single, several, malformed envelopes) as inline intake does', async () => {
    const raws = workload.lines.map((l) => l.raw)
    const bodies: string[] = []
    for (let i = 0; i < raws.length; i += 7) bodies.push(i % 2 === 0 ? JSON.stringify({ raw: raws[i] }) : JSON.stringify({ txs: raws.slice(i, i + 7), sentAtMs: 5 }))
    bodies.push('not json', '{}', '{"txs":[]}', '{"raw":1}', '{"raw":"0x00","extra":1}', JSON.stringify({ txs: extraInputs() }), '0', '""')
    const judged = await pool.judgeBodies(bodies, spec, NOW)
    expect(judged.length).toBe(bodies.length)
    bodies.forEach((body, i) => expectSameJudgement(judged[i]!, judgeIngressBody(body, ctx), `body ${i}`))
    expect(judged.filter((j) => j.kind === 'malformed').length).toBe(7)
  })

  it('a closed pool still answers, inline, the same', async () => {
    const other = IntakePool.start(1)
    await other.close()
    const inputs = workload.lines.slice(0, 40).map((l) => l.raw)
    const results = await other.decodeInputs(inputs, spec, NOW)
    inputs.forEach((input, i) => expectSameResult(results[i]!, decodeRawTx(input, ctx), `input ${i}`))
  })

  it('sizes: PAREVM_INTAKE_THREADS, else cores minus the busy ones, at least 1; bad values are refused', () => {
    expect(defaultIntakeThreads(1, { PAREVM_INTAKE_THREADS: '3' })).toBe(3)
    expect(defaultIntakeThreads(1, { PAREVM_INTAKE_THREADS: '0' })).toBe(0)
    expect(defaultIntakeThreads(1000, {})).toBe(1)
    expect(() => defaultIntakeThreads(1, { PAREVM_INTAKE_THREADS: 'two' })).toThrow(/PAREVM_INTAKE_THREADS/)
    expect(() => IntakePool.start(-1)).toThrow(/intake threads/)
  })
})

describe('decoded messages (the ingress function to the sequencer)', () => {
  const accepted = workload.lines.map((l) => decodeRawTx(l.raw, ctx)).flatMap((r) => (r.ok ? [r.tx] : []))

  it('carry each transaction with its sender, hash and key; the sequencer reads back what intake decoded', () => {
    const bodies = encodeDecodedMessages(accepted, 77)
    expect(bodies.length).toBe(1)
    const judged = judgeDecodedBody(bodies[0]!, NOW)
    expect(judged.kind).toBe('txs')
    if (judged.kind !== 'txs') return
    judged.results.forEach((r, i) => expectSameResult(r, { ok: true, tx: accepted[i]! }, `tx ${i}`))
  })

  it('are cut to fit the size limit, never splitting a transaction', () => {
    const bodies = encodeDecodedMessages(accepted, undefined, 4096)
    expect(bodies.length).toBeGreaterThan(5)
    let n = 0
    for (const body of bodies) {
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(4096)
      n += decodedMessageSchema.parse(JSON.parse(body)).txs.length
    }
    expect(n).toBe(accepted.length)
  })

  it('refuse a forged sender, a wrong hash or an undecodable entry as that entry alone; the message\'s other transactions go on', () => {
    const body = encodeDecodedMessages(accepted.slice(0, 3))[0]!
    const message = JSON.parse(body) as { txs: { sender: string; hash: string; raw: string }[] }
    const forge = (change: (m: typeof message) => void): string => {
      const copy = JSON.parse(body) as typeof message
      change(copy)
      return JSON.stringify(copy)
    }
    const other = accepted.find((t) => t.senderHex !== message.txs[1]!.sender)!
    for (const [bad, entry, why] of [
      [forge((m) => void (m.txs[1]!.sender = other.senderHex)), 1, /entry 1 .*sender/],
      [forge((m) => void (m.txs[2]!.hash = 'ab'.repeat(32))), 2, /entry 2 .*hash/],
      [forge((m) => void (m.txs[0]!.raw = 'AAAA')), 0, /entry 0 .*(hash|decode)/],
      [forge((m) => void (m.txs[1]!.raw = 'not base64!')), 1, /entry 1 .*raw/],
    ] as const) {
      const judged = judgeDecodedBody(bad, NOW)
      expect(judged.kind).toBe('txs')
      if (judged.kind !== 'txs') continue
      judged.results.forEach((r, i) => {
        if (i !== entry) return expectSameResult(r, { ok: true, tx: accepted[i]! }, `entry ${i}`)
        expect(r.ok).toBe(false)
        if (r.ok) return
        expect(r.rejection.code).toBe('malformed-envelope')
        expect(r.rejection.reason).toMatch(why)
        // The same entry again (a copy of the message) is the same input: one record.
        expect(r.rejection.id).toBe(decodedEntryRejectionId(JSON.parse(bad).txs[entry]))
        expect(r.rejection.id).not.toBe(accepted[i]!.hashHex)
      })
    }
  })

  it('refuse a broken envelope or another version as one malformed-envelope rejection with a clear reason', () => {
    const body = encodeDecodedMessages(accepted.slice(0, 2))[0]!
    for (const [bad, why] of [
      ['{"v":1,"kind":"decoded","txs":[]}', /txs/],
      [body.slice(0, 50), /not a decoded envelope/],
      [body.replace('"v":1', '"v":2'), /version 2 is not one this sequencer reads \(it reads version 1\)/],
      [JSON.stringify({ raw: '0x00' }), /not a decoded envelope/],
    ] as const) {
      const judged = judgeDecodedBody(bad, NOW)
      expect(judged.kind).toBe('malformed')
      if (judged.kind === 'malformed') {
        expect(judged.rejection.code).toBe('malformed-envelope')
        expect(judged.rejection.reason).toMatch(why)
        expect(judged.rejection.id).toBe(envelopeRejectionId(bad))
      }
    }
  })

  it('pack as many transactions as fit in a message, and messages into as few SendMessageBatch calls as fit', () => {
    const packed = packDecodedMessages(accepted, 5)
    expect(packed).toHaveLength(1)
    expect(packed[0]!.txs).toBe(accepted.length)
    // Small limits: several messages, each full up to the next transaction, none over.
    const limit = 2000
    const small = packDecodedMessages(accepted, 5, limit)
    expect(small.length).toBeGreaterThan(3)
    expect(small.reduce((n, m) => n + m.txs, 0)).toBe(accepted.length)
    let offset = 0
    for (const [i, m] of small.entries()) {
      expect(Buffer.byteLength(m.body)).toBeLessThanOrEqual(limit)
      const parsed = decodedMessageSchema.parse(JSON.parse(m.body))
      expect(parsed.txs.map((t) => `0x${t.hash}`)).toEqual(accepted.slice(offset, offset + m.txs).map((t) => t.hashHex))
      if (i < small.length - 1) expect(packDecodedMessages(accepted.slice(offset, offset + m.txs + 1), 5, limit)).toHaveLength(2)
      offset += m.txs
    }
    // The default limit keeps a margin under the queue's.
    expect(DECODED_MESSAGE_BYTES_MAX).toBeLessThan(QUEUE_LIMITS.messageBytes)
    // Batches: 10 entries at most, the queue's message size at most in all.
    const bodies = Array.from({ length: 23 }, (_, i) => 'x'.repeat(i === 4 ? 200_000 : 10_000))
    const batches = sendBatchesOf(bodies)
    expect(batches.flat()).toEqual(bodies.map((_, i) => i))
    for (const b of batches) {
      expect(b.length).toBeLessThanOrEqual(10)
      expect(b.reduce((n, i) => n + bodies[i]!.length, 0)).toBeLessThanOrEqual(QUEUE_LIMITS.messageBytes)
    }
    // Each batch is full: the next body would not have fitted in it.
    for (let i = 0; i + 1 < batches.length; i++) {
      const b = batches[i]!
      const next = bodies[batches[i + 1]![0]!]!
      expect(b.length === 10 || b.reduce((n, j) => n + bodies[j]!.length, 0) + next.length > QUEUE_LIMITS.messageBytes).toBe(true)
    }
    expect(batches.length).toBeLessThan(bodies.length / 3)
  })
})

describe('runs with intake threads', () => {
  const lines = workload.lines.map((l) => l.raw)

  async function run(o: { intakeThreads: number; queue: boolean }): Promise<{ head: string; outcomes: string[]; intake: string[]; included: number; rejected: number; duplicates: number }> {
    const cluster = await EmbeddedCluster.start({ genesis: buildGenesis(parseGenesis(workload.genesisFile)), workers: 2, threads: false, intakeThreads: o.intakeThreads, blockSize: 60, verify: true, sealTimeoutMs: 60_000 })
    const outcomes: string[] = []
    const intake: string[] = []
    try {
      const summary = o.queue
        ? await (async () => {
            await cluster.submit(lines, 3)
            return cluster.runUntilIdle(
              (e) => void outcomes.push(...e.sealed.rejections.map((r) => `${r.id}:${r.code}`)),
              undefined,
              (rs) => void intake.push(...rs.map((r) => `${r.id}:${r.code}:${r.reason}`)),
            )
          })()
        : await cluster.runOrdered(lines, (e) => void outcomes.push(...e.sealed.rejections.map((r) => `${r.line}:${r.code}`)), {
            onRejections: (rs) => void outcomes.push(...rs.map((r) => `${r.line}:${r.code}:${r.reason}`)),
          })
      expect(summary.verifiedBlocks).toBe(summary.blocks)
      return { head: summary.head.hash, outcomes: outcomes.sort(), intake: intake.sort(), included: summary.included, rejected: summary.rejected, duplicates: summary.duplicatesDropped }
    } finally {
      await cluster.stop()
    }
  }

  it('parevm run: the same chain and the same rejections (lines, codes, reasons) with 2 intake threads as inline', async () => {
    const inline = await run({ intakeThreads: 0, queue: false })
    const threaded = await run({ intakeThreads: 2, queue: false })
    expect(threaded).toEqual(inline)
    expect(inline.included + inline.rejected).toBe(lines.length)
  }, 120_000)

  // On the queue, what execution decides depends on arrival and the nonce-gap hold (wall time),
  // so only intake's decisions are compared; every block passed the sequential check.
  it('the queue path: every input included once or rejected once, the same intake rejections (ids, codes, reasons) as inline', async () => {
    const inline = await run({ intakeThreads: 0, queue: true })
    const threaded = await run({ intakeThreads: 2, queue: true })
    expect(threaded.intake).toEqual(inline.intake)
    expect(threaded.intake.length).toBeGreaterThan(50)
    for (const r of [inline, threaded]) expect(r.included + r.rejected + r.duplicates).toBe(lines.length)
  }, 120_000)
})
