/**
 * The ingress function end to end through real AWS APIs (DynamoDB Local and local-aws-sqs by
 * default; any endpoint given by AWS_ENDPOINT_URL*), as the stack wires it with
 * `-c ingressFunction=true`: ingress queue -> the ingress function's Lambda handler
 * (functions/ingress.ts, fed by an emulated SQS event source mapping with partial batch
 * responses) -> decoded queue -> the sequencer's loop with PAREVM_INTAKE_SOURCE=decoded -> a
 * worker process (functions/execute-shards.ts) -> the coordinator's Lambda handler. Inputs:
 * signed transactions in messages of 1 to 4, malformed messages, a transaction of another chain,
 * the same message twice, one transaction in two messages, every message delivered twice, sends
 * to the decoded queue that fail (reported per message, delivered again), resubmissions of
 * included transactions, a raw envelope put straight on the decoded queue, and a decoded message
 * with one forged entry among good ones. The function packs each invocation's transactions into
 * one decoded message; the sequencer receives with several calls in flight.
 * Every input exactly once: each valid transaction included in exactly one sealed block (each
 * block equal to sequential @ethereumjs/vm), each invalid input one rejection record with the
 * code inline intake gives it, reported once; every dead-letter queue empty.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'

import { createAwsClients } from '../../shared/adapters/aws/clients.ts'
import { createResources, deleteResources, openBackend, type AwsBackend } from '../../shared/adapters/aws/provision.ts'
import { buildGenesis, type GenesisState } from '../../shared/chain/genesis.ts'
import { createChainCommon } from '../../shared/chain/common.ts'
import { ForwardingQueue } from '../../shared/cluster/faults.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { commonFor, sharedTxCommon } from '../../shared/exec/common-for.ts'
import { fromHex, to0x } from '../../shared/hex.ts'
import { decodedEntryRejectionId, packDecodedMessages } from '../../shared/intake/decoded-message.ts'
import { judgeIngressBody } from '../../shared/intake/ingress.ts'
import { envelopeRejectionId } from '../../shared/pipeline/messages.ts'
import { decodeAccount } from '../../shared/state/values.ts'
import { Records } from '../../shared/store/records.ts'
import { StateTable } from '../../shared/store/state-table.ts'
import { SequentialVerifier } from '../../shared/verify/sequential.ts'
import { generateWorkload, signIntent, type Workload } from '../../shared/workload/generator.ts'
import { bootstrapChain } from '../../functions/commons/bootstrap.ts'
import { coordinatorEnvSchema, ingressEnvSchema, loadEnv, sequencerEnvSchema } from '../../functions/commons/config.ts'
import { createHandler as createIngressHandler, createIngressRuntime, type IngressOutcome, type IngressRuntime } from '../../functions/ingress.ts'
import { createCoordinatorRuntime, createHandler as createCoordinatorHandler, type CoordinatorRuntime } from '../../functions/seal-block.ts'
import { createSequencerRuntime, runSequencer, type SequencerRunResult } from '../../functions/sequence-block.ts'
import { EventSourceMapping, WorkerProcess, bundleWorker } from '../helpers/aws-pipeline.ts'
import { uniquePrefix } from '../helpers/aws.ts'

import type { SealedBlock } from '../../shared/coordinator/coordinator.ts'
import type { Queue, SendEntry } from '../../shared/ports/queue.ts'

// The injected send failures log errors by design; the test checks their outcome instead.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT'
process.env.POWERTOOLS_METRICS_DISABLED = 'true'

const target = inject('awsTarget')
const BLOCK_SIZE = 25
const SHARDS = 2
const BUDGET_MS = 150_000

const clients = createAwsClients()
const prefix = uniquePrefix('ingr')
let backend: AwsBackend
let genesis: GenesisState
let workload: Workload
let verifier: SequentialVerifier
let coordinator: CoordinatorRuntime
let ingress: IngressRuntime
let doneEsm: EventSourceMapping
let ingressEsm: EventSourceMapping
let workerBundle: { path: string; remove: () => void } | undefined
let worker: WorkerProcess | undefined
const sealed: SealedBlock[] = []
const verified = new Set<bigint>()
const outcomes: IngressOutcome[] = []
/** Valid transactions submitted (0x-hex), each once however often it was sent. */
const valid = new Set<string>()
/** Rejection id -> code, as inline intake judges each invalid input. */
const expectedRejections = new Map<string, string>()
/** Rejections the sequencer itself records (what reached the decoded queue forged). */
const sequencerRejections = new Map<string, string>()
const runs: SequencerRunResult[] = []

/** The decoded queue as the ingress function sees it: the next `failSends` sends fail. */
class FlakyDecodedQueue extends ForwardingQueue {
  failSends = 0
  failed = 0
  override async send(entries: readonly SendEntry[]): Promise<void> {
    if (this.failSends > 0) {
      this.failSends--
      this.failed++
      const error = new Error('injected: SQS SendMessageBatch failed')
      error.name = 'ServiceUnavailable'
      throw error
    }
    return super.send(entries)
  }
}
let flaky: FlakyDecodedQueue

let intakeContext: Parameters<typeof judgeIngressBody>[1]

/** What inline intake decides for a body: its rejections (id -> code) and its valid transactions. */
function judgeLikeIntake(body: string): string[] {
  const j = judgeIngressBody(body, intakeContext)
  if (j.kind === 'malformed') {
    expectedRejections.set(j.rejection.id, j.rejection.code)
    return []
  }
  const ok: string[] = []
  for (const r of j.results) {
    if (r.ok) ok.push(r.tx.hashHex)
    else expectedRejections.set(r.rejection.id, r.rejection.code)
  }
  return ok
}

/** Messages of 1 to 4 transactions. */
function bodiesOf(txs: readonly string[]): string[] {
  const bodies: string[] = []
  for (let i = 0, size = 1; i < txs.length; i += size, size = (size % 4) + 1) {
    const chunk = txs.slice(i, i + size)
    bodies.push(JSON.stringify(chunk.length === 1 ? { raw: chunk[0] } : { txs: chunk }))
  }
  return bodies
}

async function send(queue: Queue, bodies: readonly string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) await queue.send(bodies.slice(i, i + 10).map((body) => ({ body })))
}

/** Until the ingress queue is empty (nothing visible, in flight or delayed) and has stayed so for a moment. */
async function ingressDrained(): Promise<void> {
  const deadline = Date.now() + 60_000
  let quiet = 0
  // Bounded by the deadline; one look every 200 ms.
  while (quiet < 3) {
    if (Date.now() > deadline) throw new Error(`the ingress function did not drain the ingress queue: ${JSON.stringify(await backend.queues.ingress.depth())}`)
    ingressEsm.check()
    const d = await backend.queues.ingress.depth()
    quiet = d.visible + d.inFlight + d.delayed === 0 ? quiet + 1 : 0
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** The sequencer on the decoded queue until idle; every new block verified. */
async function sequence(): Promise<SequencerRunResult> {
  await ingressDrained()
  const rt = await createSequencerRuntime(
    loadEnv(sequencerEnvSchema, 'sequencer', {
      PAREVM_PREFIX: prefix,
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      PAREVM_CHAIN_ID: String(workload.options.chainId),
      PAREVM_HARDFORK: workload.options.hardfork,
      PAREVM_COINBASE: genesis.coinbase,
      PAREVM_SHARDS: String(SHARDS),
      PAREVM_BLOCK_SIZE: String(BLOCK_SIZE),
      PAREVM_INTAKE_WAIT_MS: '0',
      PAREVM_IDLE_POLLS: '5',
      PAREVM_INTAKE_SOURCE: 'decoded',
    }),
    { backend },
  )
  const result = await runSequencer(rt, { deadlineMs: Date.now() + BUDGET_MS })
  doneEsm.check()
  expect(result.stoppedBecause).toBe('idle')
  runs.push(result)
  const head = await new Records(backend.kv).getHead()
  for (let i = 0; i < 100 && sealed.length < Number(head!.number); i++) await new Promise((r) => setTimeout(r, 50))
  sealed.sort((a, b) => Number(BigInt(a.record.number) - BigInt(b.record.number)))
  for (const block of sealed) {
    const n = BigInt(block.record.number)
    if (verified.has(n)) continue
    expect((await verifier.check(block)).ok).toBe(true)
    verified.add(n)
  }
  expect(verified.size).toBe(Number(head!.number))
  return result
}

async function drain(queue: Queue): Promise<string[]> {
  const got = await queue.receive({ maxMessages: 10, waitMs: 500 })
  if (got.length > 0) await queue.delete(got.map((m) => m.receiptHandle))
  return got.map((m) => m.body)
}

describe(`ingress function -> decoded queue -> sequencer on AWS APIs (DynamoDB ${target.dynamodb}, SQS ${target.sqs})`, () => {
  beforeAll(async () => {
    workerBundle = await bundleWorker()
    workload = generateWorkload({ txs: 96, mix: 'mixed', accounts: 40, hotShare: 0.1, pools: 3, seed: 16 })
    genesis = buildGenesis(workload.genesis)
    await createResources(clients, prefix, {
      // Short visibility timeouts: a failed ingress message comes back within the test.
      ingress: { visibilityTimeoutSec: 3, maxReceiveCount: 5 },
      decoded: { visibilityTimeoutSec: 5 },
      shards: { visibilityTimeoutSec: 3, maxReceiveCount: 50 },
      done: { visibilityTimeoutSec: 3 },
    })
    backend = await openBackend(clients, prefix)
    await bootstrapChain(backend.kv, genesis)
    verifier = await SequentialVerifier.fromGenesis(genesis)
    coordinator = await createCoordinatorRuntime(loadEnv(coordinatorEnvSchema, 'coordinator', { PAREVM_PREFIX: prefix, AWS_REGION: 'us-east-1' }), { backend })
    const handleDone = coordinator.coordinator.handleDone.bind(coordinator.coordinator)
    coordinator.coordinator.handleDone = async (message) => {
      const outcome = await handleDone(message)
      if (outcome.kind === 'sealed') sealed.push(outcome.sealed)
      return outcome
    }
    doneEsm = new EventSourceMapping(backend.queues.done, createCoordinatorHandler(async () => coordinator))

    // The ingress function with the environment the stack gives it.
    const env = loadEnv(ingressEnvSchema, 'ingress', { PAREVM_PREFIX: prefix, AWS_REGION: 'us-east-1', PAREVM_CHAIN_ID: String(workload.options.chainId), PAREVM_HARDFORK: workload.options.hardfork })
    flaky = new FlakyDecodedQueue(backend.queues.decoded)
    ingress = await createIngressRuntime(env, { backend: { ...backend, queues: { ...backend.queues, decoded: flaky as never } } })
    ingress.onOutcome = (outcome) => outcomes.push(outcome)
    ingressEsm = new EventSourceMapping(backend.queues.ingress, createIngressHandler(async () => ingress))
    const head = (await new Records(backend.kv).getHead())!
    intakeContext = { common: sharedTxCommon(commonFor(genesis.chain, BigInt(head.number) + 1n, BigInt(head.timestamp) + 2n)), blockGasLimit: BigInt(head.gasLimit), clock: () => 1 }
    worker = new WorkerProcess('w1', {
      PAREVM_PREFIX: prefix,
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      PAREVM_RECEIVE_WAIT_MS: '1000',
      PAREVM_VISIBILITY_TIMEOUT_MS: '3000',
      PAREVM_HEALTH_PORT: '0',
      POWERTOOLS_LOG_LEVEL: 'WARN',
    }, workerBundle.path)
  }, 120_000)

  afterAll(async () => {
    await ingressEsm?.stop().catch(() => {})
    await doneEsm?.stop().catch(() => {})
    await worker?.stop(10_000)
    if (backend !== undefined) await deleteResources(clients, prefix)
    workerBundle?.remove()
  })

  const hashOf = (raw: string) => to0x(keccak256(fromHex(raw)))

  it('valid, malformed, other-chain and duplicated inputs; failed forwards come back; blocks equal sequential execution', async () => {
    const txs = workload.rawTxs.slice(0, 60)
    for (const raw of txs) valid.add(raw)
    const bodies = bodiesOf(txs)
    // Not envelopes, an empty batch, bytes that are no transaction, a transaction of another chain.
    const otherChain = to0x(signIntent(createChainCommon(workload.options.chainId + 1n, workload.options.hardfork), workload.senders[0]!.privateKey, 0n, { to: workload.senders[1]!.address, value: 1n, data: '0x', gasLimit: 21_000n }, 2, workload.options.chainId + 1n).serialize())
    const invalid = ['this is not json', '{"foo":1}', '{"txs":[]}', JSON.stringify({ raw: '0xdeadbeef' }), JSON.stringify({ raw: otherChain }), JSON.stringify({ txs: [txs[0], '0x01'] })]
    for (const body of [...bodies, ...invalid]) judgeLikeIntake(body)
    expect(expectedRejections.size).toBe(invalid.length)
    expect([...expectedRejections.values()].filter((c) => c === 'malformed-envelope')).toHaveLength(3)
    // The first sends to the decoded queue fail: those messages are reported, come back, and are forwarded then.
    flaky.failSends = 2
    // The same message twice, and one transaction in a second message.
    await send(backend.queues.ingress, [...bodies.slice(0, 12), ...invalid, ...bodies.slice(12), bodies[3]!, JSON.stringify({ raw: txs[5] })])
    const result = await sequence()
    expect(flaky.failed).toBe(2)
    expect(ingressEsm.stats.failures).toBeGreaterThanOrEqual(1)
    expect(ingressEsm.stats.redelivered).toBeGreaterThanOrEqual(1)
    expect(result.txs).toBe(60)
    expect(result.rejected).toBe(0)
    // Each invocation's transactions went in one decoded message, one call: fewer messages than
    // ingress messages carried transactions. An invocation whose call failed forwarded nothing,
    // and named every message that held a transaction (and only those: one of rejections only
    // was not named).
    const forwarding = outcomes.filter((o) => o.forwarded > 0)
    expect(forwarding.every((o) => o.decodedMessages === 1 && o.sendCalls === 1)).toBe(true)
    expect(forwarding.some((o) => o.forwarded > 1)).toBe(true)
    const failedCalls = outcomes.filter((o) => o.failed.length > 0)
    expect(failedCalls).toHaveLength(2)
    for (const o of failedCalls) expect(o).toMatchObject({ forwarded: 0, sendCalls: 1 })
  }, 240_000)

  it('every message delivered twice, resubmissions of included transactions, a raw envelope and a decoded message with one forged entry on the decoded queue', async () => {
    const txs = workload.rawTxs.slice(60, 90)
    for (const raw of txs) valid.add(raw)
    const bodies = bodiesOf(txs)
    for (const body of bodies) judgeLikeIntake(body)
    ingressEsm.duplicateEachOnce = true
    const resubmitted = workload.rawTxs.slice(0, 6).map((raw) => JSON.stringify({ raw }))
    await send(backend.queues.ingress, [...bodies, ...resubmitted])
    // The decoded queue never trusts a raw envelope: one malformed-envelope rejection, by the sequencer.
    const forged = JSON.stringify({ raw: workload.rawTxs[70] })
    await send(backend.queues.decoded, [forged])
    sequencerRejections.set(envelopeRejectionId(forged), 'malformed-envelope')
    // A decoded message of six new transactions whose last entry is forged (another sender): that
    // entry is rejected alone, the five others are included.
    const packedTxs = workload.rawTxs.slice(90, 96)
    const judged = judgeIngressBody(JSON.stringify({ txs: packedTxs }), intakeContext)
    if (judged.kind !== 'txs') throw new Error('expected transactions')
    const decodedTxs = judged.results.map((r) => {
      if (!r.ok) throw new Error(`expected a valid transaction: ${r.rejection.reason}`)
      return r.tx
    })
    const packed = JSON.parse(packDecodedMessages(decodedTxs)[0]!.body) as { txs: { sender: string }[] }
    const last = packed.txs[5]!
    last.sender = packed.txs.find((t) => t.sender !== last.sender)!.sender
    for (const raw of packedTxs.slice(0, 5)) valid.add(raw)
    sequencerRejections.set(decodedEntryRejectionId(last), 'malformed-envelope')
    await send(backend.queues.decoded, [JSON.stringify(packed)])
    const result = await sequence()
    ingressEsm.duplicateEachOnce = false
    expect(ingressEsm.stats.injectedDuplicates).toBeGreaterThanOrEqual(bodies.length)
    expect(result.txs).toBe(35)
    expect(result.rejected).toBe(2)
  }, 240_000)

  it('every input exactly once: included once or rejected once with the code inline intake gives it; no dead letters', async () => {
    const records = new Records(backend.kv)
    // Included once: each valid transaction in exactly one sealed block, with a receipt.
    const included = sealed.flatMap((b) => b.raws.map((raw) => to0x(keccak256(raw))))
    expect(included.length).toBe(new Set(included).size)
    expect(new Set(included)).toEqual(new Set([...valid].map(hashOf)))
    const receipts = await records.getReceipts([...valid].map(hashOf))
    expect(receipts.filter((r) => r?.kind === 'receipt')).toHaveLength(valid.size)
    // Rejected once: a record with its code, reported once by whoever judged it.
    const all = new Map([...expectedRejections, ...sequencerRejections])
    const stored = await records.getReceipts([...all.keys()])
    expect(Object.fromEntries(stored.map((r, i) => [[...all.keys()][i], r?.kind === 'rejection' ? r.code : r?.kind]))).toEqual(Object.fromEntries(all))
    const reported = outcomes.flatMap((o) => o.rejected.map((r) => r.id))
    expect(reported.sort()).toEqual([...expectedRejections.keys()].sort())
    expect(outcomes.reduce((n, o) => n + o.duplicates, 0)).toBeGreaterThan(0)
    // Each sender's nonce in the state table is its number of included transactions.
    const perSender = new Map<string, number>()
    for (const r of receipts) if (r?.kind === 'receipt') perSender.set(r.from.toLowerCase(), (perSender.get(r.from.toLowerCase()) ?? 0) + 1)
    const senders = [...perSender.keys()]
    const state = await new StateTable(backend.kv).load(senders.map((s) => s.slice(2)))
    senders.forEach((s, i) => expect(decodeAccount(state[i]!.value)?.nonce).toBe(BigInt(perSender.get(s)!)))
    // Nothing left anywhere: the queues are drained and no dead-letter queue holds a message.
    for (const role of ['ingress', 'decoded', 'shards', 'done'] as const) expect({ role, deadLetters: await drain(backend.deadLetters[role]) }).toEqual({ role, deadLetters: [] })
    expect({ decoded: await drain(backend.queues.decoded) }).toEqual({ decoded: [] })
  })
})
