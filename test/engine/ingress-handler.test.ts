/**
 * The ingress function's Lambda handler (functions/ingress.ts `createHandler`) over the in-process
 * store: what Lambda's SQS event source reads back. A failed message is named in
 * `batchItemFailures` (and only it), a batch that cannot be judged at all throws, and an event of
 * any other shape throws a ParevmError before anything is touched. Metrics and logs as the stack
 * expects them (role `ingress`).
 */
import { Logger } from '@aws-lambda-powertools/logger'
import { describe, expect, it } from 'vitest'

import { createHandler, createIngressRuntime, type IngressOutcome } from '../../functions/ingress.ts'
import { ingressEnvSchema, loadEnv } from '../../functions/commons/config.ts'
import { createMetrics } from '../../functions/commons/observability.ts'
import { initializeChain } from '../../shared/cluster/bootstrap.ts'
import { ForwardingQueue } from '../../shared/cluster/faults.ts'
import { ConfigError, MalformedInputError, ParevmError } from '../../shared/errors.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { fromHex, to0x, toHex } from '../../shared/hex.ts'
import { decodedMessageSchema } from '../../shared/intake/decoded-message.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { Sequencer } from '../../shared/sequencer/sequencer.ts'
import { Records } from '../../shared/store/records.ts'
import { signTx, testGenesis } from '../helpers/chain.ts'
import { Rng } from '../fuzz/rng.ts'

import type { AwsBackend } from '../../shared/adapters/aws/provision.ts'
import type { SendEntry } from '../../shared/ports/queue.ts'

class FailingQueue extends ForwardingQueue {
  failBodiesContaining: string | undefined
  override send(entries: readonly SendEntry[]): Promise<void> {
    if (this.failBodiesContaining !== undefined && entries.some((e) => e.body.includes(this.failBodiesContaining!))) return Promise.reject(new Error('injected send failure'))
    return super.send(entries)
  }
}

const env = loadEnv(ingressEnvSchema, 'ingress', { PAREVM_PREFIX: 'px', AWS_REGION: 'us-east-1', PAREVM_CHAIN_ID: '7777', PAREVM_HARDFORK: 'cancun' })

async function setUp(options: { genesis?: boolean } = {}) {
  const kv = new MemoryKeyValueStore()
  const genesis = testGenesis({ accounts: 4 })
  if (options.genesis !== false) await initializeChain(kv, genesis)
  const decoded = new FailingQueue(new MemoryQueue({ name: 'decoded' }))
  const lines: string[] = []
  const metrics = createMetrics('ingress')
  ;(metrics as unknown as { console: { log: (line: string) => void } }).console = { log: (line) => lines.push(line) }
  const logged: { level: string; message: string; [k: string]: unknown }[] = []
  const logger = new Logger({ serviceName: 'test', logLevel: 'INFO' })
  ;(logger as unknown as { console: Record<string, (line: string) => void> }).console = Object.fromEntries(['log', 'info', 'warn', 'error', 'debug', 'trace'].map((m) => [m, (line: string) => logged.push(JSON.parse(line) as never)]))
  const backend = { prefix: 'px', kv, queues: { decoded }, deadLetters: {} } as unknown as AwsBackend
  const rt = await createIngressRuntime(env, { backend, metrics, logger })
  const outcomes: IngressOutcome[] = []
  rt.onOutcome = (o) => outcomes.push(o)
  return { kv, genesis, decoded, rt, handler: createHandler(async () => rt), lines, logged, outcomes }
}

const record = (id: string, body: string, receiveCount = 1) => ({
  messageId: id,
  receiptHandle: `h-${id}`,
  body,
  attributes: { ApproximateReceiveCount: String(receiveCount), SentTimestamp: String(Date.now() - 50) },
  eventSource: 'aws:sqs',
})

describe('the ingress Lambda handler', () => {
  it('sends an invocation\'s transactions in one decoded message; when it fails, exactly the messages holding them are named in batchItemFailures', async () => {
    const t = await setUp()
    const a = signTx({ from: 0, nonce: 0, to: `0x${'22'.repeat(20)}`, value: 1n })
    const b = signTx({ from: 1, nonce: 0, to: `0x${'22'.repeat(20)}`, value: 2n })
    const c = signTx({ from: 2, nonce: 0, to: `0x${'22'.repeat(20)}`, value: 3n })
    // The one decoded message (a, b and c together) fails: the three messages holding them come
    // back; the malformed one is recorded and is not named.
    t.decoded.failBodiesContaining = toHex(keccak256(fromHex(b)))
    const response = await t.handler({ Records: [record('m1', JSON.stringify({ raw: a })), record('m2', JSON.stringify({ raw: b }), 2), record('m3', 'not json'), record('m4', JSON.stringify({ txs: [c, c] }))] })
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }, { itemIdentifier: 'm2' }, { itemIdentifier: 'm4' }] })
    expect((await t.decoded.depth()).visible).toBe(0)
    expect(t.outcomes[0]).toMatchObject({ forwarded: 0, duplicates: 1, failed: ['m1', 'm2', 'm4'], decodedMessages: 1, sendCalls: 1 })
    expect(t.outcomes[0]!.rejected.map((r) => r.code)).toEqual(['malformed-envelope'])
    expect((await new Records(t.kv).getReceipts([t.outcomes[0]!.rejected[0]!.id]))[0]).toMatchObject({ kind: 'rejection', code: 'malformed-envelope' })
    // An ERROR line names each failed message; the rejection is logged with its code.
    expect(t.logged.filter((l) => l.level === 'ERROR').map((l) => l.messageId)).toEqual(['m1', 'm2', 'm4'])
    expect(t.logged.some((l) => l.message === 'transaction rejected' && l.code === 'malformed-envelope')).toBe(true)
    // Metrics in the role's namespace and dimensions.
    const emf = t.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(emf[0]).toMatchObject({ role: 'ingress', service: 'parevm', IngressMessages: 4, ForwardedTxs: 0, IngressRejected: 1, IngressDuplicates: 1, FailedMessages: 3, Redeliveries: 1, DecodedMessages: 1, DecodedSendCalls: 1 })

    // The batch again, now that sending works: one decoded message of the three, nothing recorded twice.
    t.decoded.failBodiesContaining = undefined
    expect(await t.handler({ Records: [record('m1', JSON.stringify({ raw: a }), 2), record('m2', JSON.stringify({ raw: b }), 3), record('m3', 'not json', 2), record('m4', JSON.stringify({ txs: [c, c] }), 2)] })).toEqual({ batchItemFailures: [] })
    expect(t.outcomes[1]).toMatchObject({ forwarded: 3, rejected: [], duplicates: 2, failed: [], decodedMessages: 1, sendCalls: 1 })
    const sent = await t.decoded.receive({ maxMessages: 10, waitMs: 0 })
    expect(sent).toHaveLength(1)
    expect(decodedMessageSchema.parse(JSON.parse(sent[0]!.body)).txs.map((x) => `0x${x.hash}`)).toEqual([a, b, c].map((raw) => to0x(keccak256(fromHex(raw)))))
  })

  it('a failed SendMessageBatch call names exactly the messages whose transactions it carried; redelivered, each transaction is planned once', async () => {
    const t = await setUp()
    // Decoded messages of one transaction each (a small limit), so 12 transactions take two calls (10 + 2).
    t.rt.deps.decodedMessageBytesMax = 700
    const raws = Array.from({ length: 12 }, (_, i) => signTx({ from: i % 4, nonce: Math.floor(i / 4), to: `0x${'33'.repeat(20)}`, value: BigInt(i + 1) }))
    const hashOf = (raw: string): string => to0x(keccak256(fromHex(raw)))
    // r0..r8 hold one each; r9 holds the last three: one in the first call, two in the second.
    const records = [...raws.slice(0, 9).map((raw, i) => record(`r${i}`, JSON.stringify({ raw }))), record('r9', JSON.stringify({ txs: raws.slice(9) }))]
    t.decoded.failBodiesContaining = hashOf(raws[11]!).slice(2)
    expect(await t.handler({ Records: records })).toEqual({ batchItemFailures: [{ itemIdentifier: 'r9' }] })
    expect(t.outcomes[0]).toMatchObject({ decodedMessages: 12, sendCalls: 2, forwarded: 10, failed: ['r9'] })
    expect((await t.decoded.depth()).visible).toBe(10)

    // r9 comes back: its three transactions are sent again (the first a second time).
    t.decoded.failBodiesContaining = undefined
    expect(await t.handler({ Records: [record('r9', JSON.stringify({ txs: raws.slice(9) }), 2)] })).toEqual({ batchItemFailures: [] })
    expect(t.outcomes[1]).toMatchObject({ decodedMessages: 3, sendCalls: 1, forwarded: 3, failed: [] })

    // The sequencer on the decoded queue: every transaction once, the copy dropped, the queue emptied.
    const sequencer = new Sequencer({
      kv: t.kv,
      ingress: t.decoded,
      shardQueue: new MemoryQueue({ name: 'shards' }),
      templates: new TemplateRegistry(),
      source: 'decoded',
      config: { chain: t.genesis.chain, shardCount: 2, blockSizeMax: 100, blockTimeSec: 12, coinbase: t.genesis.coinbase, intakeWaitMs: 0, receiveRoundsMax: 20, nonceGapHoldMs: 0 },
    })
    const plan = await sequencer.planNext()
    expect(plan).toMatchObject({ txCount: 12, duplicates: 1, rejected: [], carried: 0 })
    const depth = await t.decoded.depth()
    expect(depth.visible + depth.inFlight).toBe(0)
  })

  it('a batch that cannot be judged (no chain head) throws: the whole batch comes back, as a function error', async () => {
    const t = await setUp({ genesis: false })
    await expect(t.handler({ Records: [record('m1', '{}')] })).rejects.toThrow(ConfigError)
    expect(t.logged.some((l) => l.level === 'ERROR' && l.message.startsWith('ingress batch failed as a whole'))).toBe(true)
  })

  it('an event of any other shape throws a ParevmError and touches nothing', async () => {
    const t = await setUp()
    await expect(t.handler({ source: 'aws.events' })).rejects.toThrow(MalformedInputError)
    const rng = new Rng(41)
    const values: unknown[] = [null, undefined, 0, '', [], {}, { Records: null }, { Records: [{}] }, { Records: [{ messageId: 'x', receiptHandle: 'y' }] }]
    for (let i = 0; i < 200; i++) values.push({ Records: Array.from({ length: rng.int(3) }, () => ({ messageId: rng.pick(['', 'a']), receiptHandle: rng.pick(['', 'h']), body: rng.pick([undefined, 5, 'x']) })) })
    for (const event of values) {
      const outcome = await t.handler(event).then(
        (r) => ({ ok: r }),
        (e: unknown) => ({ error: e }),
      )
      if ('error' in outcome) expect(outcome.error).toBeInstanceOf(ParevmError)
      else expect(outcome.ok.batchItemFailures).toEqual([])
    }
    expect((await t.decoded.depth()).visible).toBe(0)
  })
})
