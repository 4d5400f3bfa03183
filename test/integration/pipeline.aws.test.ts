/**
 * The whole pipeline through real AWS APIs (DynamoDB Local and local-aws-sqs by default; any
 * endpoint given by AWS_ENDPOINT_URL*): signed transactions pushed into the ingress queue, the
 * sequencer Lambda handler's loop, worker processes running functions/execute-shards.ts, and the
 * coordinator Lambda handler fed by an emulated SQS event source mapping. Every sealed block is
 * re-executed with sequential @ethereumjs/vm. The scenarios continue one chain:
 *   1. plain blocks (and the worker's health check);
 *   2. every message delivered twice: ingress, shard and done messages;
 *   3. workers killed mid-batch (before staging) and between staging and acknowledging;
 *   4. throttled, partially processed and failed DynamoDB writes (a failed block apply is
 *      retried from the redelivered done message);
 *   5. malformed ingress messages: rejection records, then the dead-letter queue.
 * At the end: no transaction lost or applied twice (receipts, nonces in the state table), the
 * shard and done dead-letter queues empty.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'

import { createAwsClients } from '../../shared/adapters/aws/clients.ts'
import { createResources, deleteResources, openBackend, type AwsBackend } from '../../shared/adapters/aws/provision.ts'
import { buildGenesis, type GenesisState } from '../../shared/chain/genesis.ts'
import { FaultyQueue } from '../../shared/cluster/faults.ts'
import { envelopeRejectionId } from '../../shared/pipeline/messages.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { bigintToHex, fromHex, to0x } from '../../shared/hex.ts'
import { createChainCommon } from '../../shared/chain/common.ts'
import { privateKeyToAddress } from '../../shared/crypto/secp256k1.ts'
import { decodeAccount } from '../../shared/state/values.ts'
import { Records } from '../../shared/store/records.ts'
import { StateTable } from '../../shared/store/state-table.ts'
import { SequentialVerifier } from '../../shared/verify/sequential.ts'
import { generateWorkload, signIntent, type Workload } from '../../shared/workload/generator.ts'
import { bootstrapChain } from '../../functions/commons/bootstrap.ts'
import { coordinatorEnvSchema, loadEnv, sequencerEnvSchema } from '../../functions/commons/config.ts'
import { createCoordinatorRuntime, createHandler, type CoordinatorRuntime } from '../../functions/seal-block.ts'
import { createSequencerRuntime, runSequencer, type SequencerRunResult } from '../../functions/sequence-block.ts'
import { EventSourceMapping, WorkerProcess, bundleWorker, injectDynamoFaults } from '../helpers/aws-pipeline.ts'
import { uniquePrefix } from '../helpers/aws.ts'
import { freePort } from '../setup/local-aws.ts'

import type { SealedBlock } from '../../shared/coordinator/coordinator.ts'
import type { Queue } from '../../shared/ports/queue.ts'

// This process hosts the sequencer and coordinator handlers: warnings and errors only, no EMF
// lines in the test output (the worker processes log and emit metrics as in production).
process.env.POWERTOOLS_LOG_LEVEL = 'WARN'
process.env.POWERTOOLS_METRICS_DISABLED = 'true'

const target = inject('awsTarget')
const BLOCK_SIZE = 40
const SHARDS = 2
/** Workers' visibility timeout while executing (heartbeats keep it) and after a crash. */
const WORKER_VISIBILITY_MS = 3000
const SCENARIO_BUDGET_MS = 150_000

const clients = createAwsClients()
const faults = injectDynamoFaults(clients.dynamodb)
const prefix = uniquePrefix('pipe')
let backend: AwsBackend
let genesis: GenesisState
let workload: Workload
let verifier: SequentialVerifier
let coordinator: CoordinatorRuntime
let esm: EventSourceMapping
let workerBundle: { path: string; remove: () => void } | undefined
const workers: WorkerProcess[] = []
const sealed: SealedBlock[] = []
const verified: bigint[] = []
const submitted: string[] = []
const POOR_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i === 31 ? 0x77 : 0x11))
const timings: { scenario: string; txs: number; blocks: number; ms: number }[] = []
let txCursor = 0

const sequencerEnv = (overrides: Record<string, string> = {}) =>
  loadEnv(sequencerEnvSchema, 'sequencer', {
    PAREVM_PREFIX: prefix,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    PAREVM_CHAIN_ID: String(workload.options.chainId),
    PAREVM_HARDFORK: workload.options.hardfork,
    PAREVM_COINBASE: genesis.coinbase,
    PAREVM_SHARDS: String(SHARDS),
    PAREVM_BLOCK_SIZE: String(BLOCK_SIZE),
    // Short polls: local-aws-sqs holds a long poll for its full time unless it fills the batch.
    PAREVM_INTAKE_WAIT_MS: '0',
    PAREVM_IDLE_POLLS: '5',
    PAREVM_SEAL_WAIT_MS: '60000',
    ...overrides,
  })

function startWorker(name: string, extra: Record<string, string> = {}): WorkerProcess {
  const worker = new WorkerProcess(name, {
    PAREVM_PREFIX: prefix,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    PAREVM_RECEIVE_WAIT_MS: '1000',
    PAREVM_VISIBILITY_TIMEOUT_MS: String(WORKER_VISIBILITY_MS),
    PAREVM_HEALTH_PORT: '0',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    POWERTOOLS_METRICS_DISABLED: 'false',
    POWERTOOLS_METRICS_NAMESPACE: 'parevm-test',
    ...extra,
  }, workerBundle?.path)
  workers.push(worker)
  return worker
}

/** The next `n` workload transactions, as ingress messages of 1 to 4 transactions. */
function nextTxs(n: number): string[] {
  const txs = workload.rawTxs.slice(txCursor, txCursor + n)
  txCursor += txs.length
  return txs
}

async function submit(ingress: Queue, txs: readonly string[], copies = 1): Promise<void> {
  const bodies: string[] = []
  for (let i = 0, size = 1; i < txs.length; i += size, size = (size % 4) + 1) {
    const chunk = txs.slice(i, i + size)
    bodies.push(JSON.stringify(chunk.length === 1 ? { raw: chunk[0] } : { txs: chunk }))
  }
  const all = Array.from({ length: copies }, () => bodies).flat()
  await ingress.send(all.map((body) => ({ body })))
  submitted.push(...txs)
}

/** Run the sequencer's loop until idle; verify every newly sealed block in order. */
async function runScenario(name: string, txs: number, sequencerBackend: AwsBackend = backend): Promise<SequencerRunResult> {
  const t0 = performance.now()
  const rt = await createSequencerRuntime(sequencerEnv(), { backend: sequencerBackend })
  const result = await runSequencer(rt, { deadlineMs: Date.now() + SCENARIO_BUDGET_MS })
  esm.check()
  expect(result.stoppedBecause).toBe('idle')
  await verifyNewBlocks()
  timings.push({ scenario: name, txs, blocks: result.blocks, ms: performance.now() - t0 })
  return result
}

async function verifyNewBlocks(): Promise<void> {
  const records = new Records(backend.kv)
  const head = await records.getHead()
  // The last seal may still be in the handler's bookkeeping when the head moved.
  for (let i = 0; i < 100 && sealed.length < Number(head!.number); i++) await new Promise((r) => setTimeout(r, 50))
  sealed.sort((a, b) => Number(BigInt(a.record.number) - BigInt(b.record.number)))
  for (const block of sealed) {
    const n = BigInt(block.record.number)
    if (verified.includes(n)) continue
    const result = await verifier.check(block)
    expect(result.ok).toBe(true)
    verified.push(n)
  }
  expect(verified.length).toBe(Number(head!.number))
}

async function drain(queue: Queue, count: number, rounds = 20): Promise<string[]> {
  const bodies: string[] = []
  for (let i = 0; i < rounds && bodies.length < count; i++) {
    const got = await queue.receive({ maxMessages: 10, waitMs: 1000 })
    bodies.push(...got.map((m) => m.body))
    if (got.length > 0) await queue.delete(got.map((m) => m.receiptHandle))
  }
  return bodies
}

describe(`pipeline on AWS APIs (DynamoDB ${target.dynamodb}, SQS ${target.sqs})`, () => {
  beforeAll(async () => {
    workerBundle = await bundleWorker()
    workload = generateWorkload({ txs: 200, mix: 'mixed', accounts: 60, hotShare: 0.1, pools: 4, seed: 5 })
    // A sender with little money, for the refused-then-valid scenario.
    workload.genesis.alloc[to0x(privateKeyToAddress(POOR_KEY))] = { balance: bigintToHex(10n ** 16n) }
    genesis = buildGenesis(workload.genesis)
    await createResources(clients, prefix, {
      // Short timeouts so redeliveries happen within the test; many receives, because
      // local-aws-sqs counts every ChangeMessageVisibility (the workers' heartbeats) as a receive.
      shards: { visibilityTimeoutSec: 3, maxReceiveCount: 50 },
      done: { visibilityTimeoutSec: 3 },
      ingress: { visibilityTimeoutSec: 5, maxReceiveCount: 3 },
    })
    backend = await openBackend(clients, prefix)
    const boot = await bootstrapChain(backend.kv, genesis)
    expect(boot.trieNodes).toBeGreaterThan(0)
    verifier = await SequentialVerifier.fromGenesis(genesis)
    coordinator = await createCoordinatorRuntime(loadEnv(coordinatorEnvSchema, 'coordinator', { PAREVM_PREFIX: prefix, AWS_REGION: 'us-east-1' }), { backend })
    const handleDone = coordinator.coordinator.handleDone.bind(coordinator.coordinator)
    coordinator.coordinator.handleDone = async (message) => {
      const outcome = await handleDone(message)
      if (outcome.kind === 'sealed') sealed.push(outcome.sealed)
      return outcome
    }
    esm = new EventSourceMapping(backend.queues.done, createHandler(async () => coordinator))
    startWorker('w1')
    startWorker('w2')
  })

  afterAll(async () => {
    await esm?.stop().catch(() => {})
    await Promise.all(workers.map((w) => w.stop(10_000)))
    const kv = backend?.kv.stats
    if (kv !== undefined) {
      const fmt = (o: Record<string, Record<string, number>>) =>
        Object.entries(o)
          .map(([op, s]) => `${op}: ${Object.entries(s).map(([k, v]) => `${k}=${Math.round(v)}`).join(' ')}`)
          .join('; ')
      console.log(
        [
          `AWS pipeline (${target.dynamodb}, ${target.sqs}), blocks of ${BLOCK_SIZE}, ${SHARDS} shards, 2 worker processes:`,
          ...timings.map((t) => `  ${t.scenario}: ${t.txs} txs, ${t.blocks} blocks, ${Math.round(t.ms)} ms (${((t.txs / t.ms) * 1000).toFixed(1)} tx/s)`),
          `  sequencer+coordinator DynamoDB calls: ${fmt(kv as never)}`,
          ...Object.entries(backend.queues).map(([role, q]) => `  ${role} queue (this process): ${fmt(q.stats as never)}`),
          `  trie: ${JSON.stringify(coordinator.trie.lazyStats)}`,
          ...sealed.map((b) => `  block ${b.record.number}: ${b.report.included} txs, ms per stage ${JSON.stringify(Object.fromEntries(Object.entries(b.report.timings).map(([k, v]) => [k, Math.round(v)])))}`),
        ].join('\n'),
      )
    }
    if (backend !== undefined) await deleteResources(clients, prefix)
    workerBundle?.remove()
  })

  it('seals blocks of signed transactions; each equals sequential execution; the worker answers its health check', async () => {
    const port = await freePort()
    const probe = startWorker('health', { PAREVM_HEALTH_PORT: String(port) })
    const txs = nextTxs(80)
    await submit(backend.queues.ingress, txs)
    const result = await runScenario('plain', txs.length)
    expect(result.txs).toBe(80)
    expect(result.blocks).toBeGreaterThanOrEqual(2)
    await probe.waitFor((l) => l.message === 'worker started', 30_000)
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { status: string }
    expect(health.status).toBe('ok')
    const stopped = await probe.stop()
    expect(stopped.code).toBe(0)
    expect(probe.lines.some((l) => l.message === 'worker stopped')).toBe(true)
    // Structured logs carry block and shard; metrics went out as CloudWatch EMF lines.
    const executed = workers.flatMap((w) => w.lines).filter((l) => l.message === 'shard executed')
    expect(executed.length).toBeGreaterThan(0)
    expect(executed.every((l) => typeof l.block === 'string' && typeof l.shard === 'number' && l.role === 'worker')).toBe(true)
    expect(workers.reduce((n, w) => n + w.metricLines, 0)).toBeGreaterThan(0)
  })

  it('every message delivered twice (ingress, shard, done): duplicates are dropped, nothing is applied twice', async () => {
    const txs = nextTxs(30)
    await submit(backend.queues.ingress, txs, 2)
    const duplicatingShards = new FaultyQueue(backend.queues.shards, { seed: 3, duplicate: 1, delay: 0, delayMsMax: 0, workerCrash: 0 }, 1)
    esm.duplicateEachOnce = true
    const before = esm.stats.injectedDuplicates
    const result = await runScenario('duplicates', txs.length, { ...backend, queues: { ...backend.queues, shards: duplicatingShards as never } })
    esm.duplicateEachOnce = false
    expect(result.txs).toBe(30)
    // Each second copy is dropped as a duplicate, or (arriving after its block's seal and before
    // its receipt is written) refused as nonce-too-low; the receipt then wins (checked at the end).
    expect(result.duplicates + result.rejected).toBeGreaterThanOrEqual(30)
    expect(duplicatingShards.stats.duplicated).toBeGreaterThan(0)
    expect(esm.stats.injectedDuplicates).toBeGreaterThan(before)
    // A duplicate shard message finds its results staged (or its block sealed) and writes nothing.
    await new Promise((r) => setTimeout(r, 2000))
    const dupOutcomes = workers.flatMap((w) => w.lines).filter((l) => l.message === 'shard already staged (redelivery); reported done again' || l.message === 'shard of a sealed block dropped')
    expect(dupOutcomes.length).toBeGreaterThan(0)
  })

  it('a worker killed mid-batch, another between staging and acknowledging: the shards come back after the visibility timeout and are applied once', async () => {
    // Drain the running workers gracefully (SIGTERM): they finish what they hold and exit 0.
    for (const w of workers.filter((w) => w.running())) {
      const exit = await w.stop()
      expect(exit.code).toBe(0)
    }
    const txs = nextTxs(30)
    await submit(backend.queues.ingress, txs)
    const killers = [startWorker('kill-before-stage', { PAREVM_FAULT_KILL: 'before-stage' })]
    const run = runScenario('worker killed', txs.length)
    run.catch(() => {})
    // Each next process starts once the previous one holds a shard, so start-ups overlap.
    await killers[0]!.waitFor((l) => l.message === 'shard received', 60_000)
    killers.push(startWorker('kill-after-stage', { PAREVM_FAULT_KILL: 'after-stage' }))
    const first = await killers[0]!.exited
    expect(first.signal).toBe('SIGKILL')
    await killers[1]!.waitFor((l) => l.message === 'shard received', 60_000)
    const w3 = startWorker('w3')
    const w4 = startWorker('w4')
    const second = await killers[1]!.exited
    expect(second.signal).toBe('SIGKILL')
    for (const k of killers) expect(k.lines.some((l) => l.message === 'fault injection: killing this worker')).toBe(true)
    const result = await run
    expect(result.txs).toBe(30)
    const lines = [...w3.lines, ...w4.lines, ...killers[1]!.lines]
    // The shard the first worker held came back (receive count > 1)...
    expect(lines.some((l) => l.message === 'shard received' && (l.receiveCount ?? 0) > 1)).toBe(true)
    // ...and the one the second staged was found staged: reported, not written again.
    expect(lines.some((l) => l.message === 'shard already staged (redelivery); reported done again')).toBe(true)
  })

  it('throttled and partially processed DynamoDB calls are retried; a failed block apply is retried from its redelivered message', async () => {
    const txs = nextTxs(30)
    await submit(backend.queues.ingress, txs)
    const retriesBefore = backend.kv.stats.transact.retries + backend.kv.stats.batchWrite.retries + backend.kv.stats.batchGet.retries
    const redeliveredBefore = esm.stats.redelivered
    Object.assign(faults.plan, { throttleTransactEvery: 3, unprocessedWrites: 6, unprocessedGets: 6, failNextApply: true })
    faults.enabled.on = true
    try {
      const result = await runScenario('throttled writes', txs.length)
      expect(result.txs).toBe(30)
    } finally {
      faults.enabled.on = false
    }
    expect(faults.counts.throttledTransacts).toBeGreaterThan(0)
    expect(faults.counts.unprocessedWrites).toBeGreaterThan(0)
    expect(faults.counts.unprocessedGets).toBeGreaterThan(0)
    expect(faults.counts.failedApplies).toBe(1)
    expect(backend.kv.stats.transact.retries + backend.kv.stats.batchWrite.retries + backend.kv.stats.batchGet.retries).toBeGreaterThan(retriesBefore)
    // The done message whose apply failed was delivered again, and sealed the block then.
    expect(esm.stats.redelivered).toBeGreaterThan(redeliveredBefore)
  })

  it('a transaction refused at execution consumes nothing: the same sender’s next one reuses its nonce, and its later ones are included', async () => {
    const common = createChainCommon(genesis.chainId, genesis.hardfork)
    const sign = (nonce: number, value: bigint): string =>
      to0x(signIntent(common, POOR_KEY, BigInt(nonce), { to: workload.senders[0]!.address, value, data: '0x', gasLimit: 21_000n }, 2, genesis.chainId).serialize())
    const cannotPay = sign(0, 10n ** 18n)
    const valid = [sign(0, 1n), sign(1, 2n), sign(2, 3n), sign(3, 4n)]
    // One message: the refused transaction arrives first, as in the reported run.
    await backend.queues.ingress.send([{ body: JSON.stringify({ txs: [cannotPay, ...valid] }) }])
    submitted.push(...valid)
    const result = await runScenario('refused, then valid', 4)
    expect(result.txs).toBe(5)
    const records = new Records(backend.kv)
    const outcomes = await records.getReceipts([cannotPay, ...valid].map((raw) => to0x(keccak256(fromHex(raw)))))
    expect(outcomes[0]).toMatchObject({ kind: 'rejection', code: 'insufficient-balance' })
    expect(outcomes.slice(1).map((o) => o?.kind)).toEqual(['receipt', 'receipt', 'receipt', 'receipt'])
  })

  it('malformed ingress messages get one rejection record each and are deleted; the rest of the block proceeds', async () => {
    // (`{"raw":"0xzz"}` is an envelope of one bad transaction: its own malformed-hex rejection.)
    const malformed = ['this is not json', '{"foo":1}', '{"raw":5}', '{"txs":[]}']
    await backend.queues.ingress.send(malformed.map((body) => ({ body })))
    await backend.queues.ingress.send([{ body: JSON.stringify({ raw: '0xdeadbeef' }) }])
    const txs = nextTxs(30)
    await submit(backend.queues.ingress, txs)
    const result = await runScenario('malformed input', txs.length)
    expect(result.txs).toBe(30)
    const records = new Records(backend.kv)
    const ids = malformed.map(envelopeRejectionId)
    const rejections = await records.getReceipts([...ids, to0x(keccak256(Uint8Array.from([0xde, 0xad, 0xbe, 0xef])))])
    for (const r of rejections.slice(0, 4)) expect(r).toMatchObject({ kind: 'rejection', code: 'malformed-envelope' })
    expect(rejections[4]).toMatchObject({ kind: 'rejection' })
    // The record is the outcome: the message is deleted, not redelivered into the dead-letter queue.
    expect(await drain(backend.deadLetters.ingress, 1, 2)).toEqual([])
  })

  it('no transaction is lost or applied twice; the shard and done dead-letter queues are empty', async () => {
    const records = new Records(backend.kv)
    const hashes = submitted.map((raw) => to0x(keccak256(Buffer.from(raw.slice(2), 'hex'))))
    const receipts = await records.getReceipts(hashes)
    expect(receipts.filter((r) => r?.kind === 'receipt')).toHaveLength(submitted.length)
    const included = sealed.reduce((n, b) => n + b.receipts.length, 0)
    expect(included).toBe(submitted.length)
    // Each sender's nonce in the state table is its number of included transactions.
    const perSender = new Map<string, number>()
    for (const r of receipts) if (r?.kind === 'receipt') perSender.set(r.from.toLowerCase(), (perSender.get(r.from.toLowerCase()) ?? 0) + 1)
    const senders = [...perSender.keys()]
    const state = await new StateTable(backend.kv).load(senders.map((s) => s.slice(2)))
    senders.forEach((s, i) => expect(decodeAccount(state[i]!.value)?.nonce).toBe(BigInt(perSender.get(s)!)))
    // The coordinator shared what it learned with the sequencer (meta / templates).
    const [templates] = await backend.kv.get([{ table: 'meta', pk: 'templates', sk: '-' }])
    expect(templates?.version).toBeGreaterThanOrEqual(1)
    expect(await drain(backend.deadLetters.shards, 1, 1)).toEqual([])
    expect(await drain(backend.deadLetters.done, 1, 1)).toEqual([])
  })
})
