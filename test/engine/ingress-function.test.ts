/**
 * The ingress function's core (functions/ingress.ts) over the in-process ports: it records the
 * rejections inline intake would record (once, also when a batch comes twice), forwards the
 * accepted transactions to the decoded queue, and a sequencer reading that queue
 * (`source: 'decoded'`) plans them without recovering senders.
 */
import { describe, expect, it } from 'vitest'

import { handleIngressMessages } from '../../functions/ingress.ts'
import { buildGenesis, parseGenesis } from '../../shared/chain/genesis.ts'
import { initializeChain } from '../../shared/cluster/bootstrap.ts'
import { commonFor, sharedTxCommon } from '../../shared/exec/common-for.ts'
import { decodedEntryRejectionId } from '../../shared/intake/decoded-message.ts'
import { judgeIngressBody } from '../../shared/intake/ingress.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { Sequencer } from '../../shared/sequencer/sequencer.ts'
import { Records } from '../../shared/store/records.ts'
import { generateAdversarial } from '../../shared/workload/adversarial.ts'

import type { QueueMessage } from '../../shared/ports/queue.ts'

describe('the ingress function', () => {
  it('records intake rejections once, forwards the rest, and the sequencer plans them from the decoded queue', async () => {
    const workload = generateAdversarial({ seed: 99, lines: 120, invalidShare: 0.4 })
    const genesis = buildGenesis(parseGenesis(workload.genesisFile))
    const kv = new MemoryKeyValueStore()
    const head = await initializeChain(kv, genesis)
    const decoded = new MemoryQueue({ name: 'decoded' })
    const raws = workload.lines.map((l) => l.raw)
    const bodies: string[] = []
    for (let i = 0; i < raws.length; i += 4) bodies.push(JSON.stringify({ txs: raws.slice(i, i + 4) }))
    bodies.push('not an envelope', bodies[0]!)
    const messages: QueueMessage[] = bodies.map((body, i) => ({ id: `m${i}`, body, receiptHandle: `h${i}`, receiveCount: 1, sentAtMs: 1 }))

    // What inline intake decides for the same bodies.
    const common = commonFor(genesis.chain, 1n, BigInt(head.timestamp) + 12n)
    const ctx = { common: sharedTxCommon(common), blockGasLimit: BigInt(head.gasLimit), clock: () => 5 }
    const expectedRejections = new Map<string, string>()
    const expectedTxs = new Set<string>()
    for (const body of bodies) {
      const j = judgeIngressBody(body, ctx)
      if (j.kind === 'malformed') expectedRejections.set(j.rejection.id, `${j.rejection.code}:${j.rejection.reason}`)
      else for (const r of j.results) r.ok ? expectedTxs.add(r.tx.hashHex) : expectedRejections.set(r.rejection.id, `${r.rejection.code}:${r.rejection.reason}`)
    }
    expect(expectedRejections.size).toBeGreaterThan(20)

    const deps = { kv, decoded, chain: genesis.chain, blockTimeSec: 12, clock: () => 5 }
    const first = await handleIngressMessages(deps, messages)
    expect(first.failed).toEqual([])
    // The batch's transactions, from 32 ingress messages, in one decoded message and one send.
    expect(first).toMatchObject({ decodedMessages: 1, sendCalls: 1 })
    expect((await decoded.depth()).visible).toBe(1)
    expect(new Map(first.rejected.map((r) => [r.id, `${r.code}:${r.reason}`]))).toEqual(expectedRejections)
    expect(first.forwarded).toBe(expectedTxs.size)
    const records = new Records(kv)
    const stored = await records.getReceipts([...expectedRejections.keys()])
    expect(stored.every((r) => r?.kind === 'rejection')).toBe(true)

    // The same batch again (a redelivery): nothing recorded twice; the transactions go again
    // (no receipt yet), and the sequencer drops the copies.
    const again = await handleIngressMessages(deps, messages)
    expect(again.rejected).toEqual([])
    expect(again.failed).toEqual([])
    expect(again.forwarded).toBe(expectedTxs.size)

    // The sequencer takes the decoded queue: every forwarded transaction once (the redelivered
    // copies are dropped), no rejection of its own.
    const sequencer = new Sequencer({
      kv,
      ingress: decoded,
      shardQueue: new MemoryQueue({ name: 'shards' }),
      templates: new TemplateRegistry(),
      source: 'decoded',
      config: { chain: genesis.chain, shardCount: 2, blockSizeMax: 1000, blockTimeSec: 12, coinbase: genesis.coinbase, intakeWaitMs: 0, receiveRoundsMax: 50, nonceGapHoldMs: 0 },
    })
    const plan = await sequencer.planNext()
    expect(plan?.rejected).toEqual([])
    expect((plan?.txCount ?? 0) + (plan?.carried ?? 0)).toBe(expectedTxs.size)
    expect(plan?.duplicates).toBe(expectedTxs.size)
  }, 60_000)

  it('a decoded message with one entry that does not check out: that entry is rejected, the others are planned', async () => {
    const workload = generateAdversarial({ seed: 8, lines: 40, invalidShare: 0 })
    const genesis = buildGenesis(parseGenesis(workload.genesisFile))
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const staging = new MemoryQueue({ name: 'staging' })
    const deps = { kv, decoded: staging, chain: genesis.chain, blockTimeSec: 12, clock: () => 5 }
    const messages: QueueMessage[] = workload.lines.map((l, i) => ({ id: `m${i}`, body: JSON.stringify({ raw: l.raw }), receiptHandle: `h${i}`, receiveCount: 1, sentAtMs: 1 }))
    const out = await handleIngressMessages(deps, messages)
    expect(out.decodedMessages).toBe(1)
    const [sent] = await staging.receive({ maxMessages: 1, waitMs: 0 })
    const message = JSON.parse(sent!.body) as { txs: { sender: string }[] }
    const forgedAt = 3
    message.txs[forgedAt]!.sender = message.txs.find((t) => t.sender !== message.txs[forgedAt]!.sender)!.sender
    const decoded = new MemoryQueue({ name: 'decoded' })
    await decoded.send([{ body: JSON.stringify(message) }])
    const sequencer = new Sequencer({
      kv,
      ingress: decoded,
      shardQueue: new MemoryQueue({ name: 'shards' }),
      templates: new TemplateRegistry(),
      source: 'decoded',
      config: { chain: genesis.chain, shardCount: 2, blockSizeMax: 1000, blockTimeSec: 12, coinbase: genesis.coinbase, intakeWaitMs: 0, receiveRoundsMax: 5, nonceGapHoldMs: 0 },
    })
    const plan = await sequencer.planNext()
    expect(plan?.rejected).toHaveLength(1)
    expect(plan?.rejected[0]).toMatchObject({ code: 'malformed-envelope', id: decodedEntryRejectionId(message.txs[forgedAt]) })
    expect(plan?.rejected[0]!.reason).toMatch(/entry 3 .*sender/)
    expect((plan?.txCount ?? 0) + (plan?.carried ?? 0)).toBe(out.forwarded - 1)
    expect((await new Records(kv).getReceipts([plan!.rejected[0]!.id]))[0]).toMatchObject({ kind: 'rejection', code: 'malformed-envelope' })
  })

  it('a malformed message on the decoded queue is one malformed-envelope rejection there', async () => {
    const workload = generateAdversarial({ seed: 7, lines: 10 })
    const genesis = buildGenesis(parseGenesis(workload.genesisFile))
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const decoded = new MemoryQueue({ name: 'decoded' })
    // A raw ingress envelope is not a decoded message: the sequencer never trusts it.
    await decoded.send([{ body: JSON.stringify({ raw: workload.lines[0]!.raw }) }])
    const sequencer = new Sequencer({
      kv,
      ingress: decoded,
      shardQueue: new MemoryQueue({ name: 'shards' }),
      templates: new TemplateRegistry(),
      source: 'decoded',
      config: { chain: genesis.chain, shardCount: 1, blockSizeMax: 10, blockTimeSec: 12, coinbase: genesis.coinbase, intakeWaitMs: 0, receiveRoundsMax: 5 },
    })
    const plan = await sequencer.planNext()
    expect(plan?.txCount).toBe(0)
    expect(plan?.rejected.map((r) => r.code)).toEqual(['malformed-envelope'])
  })
})
