/**
 * The stack's contract with the entry points, checked against what the code does: the three
 * pipeline runtimes (functions/sequence-block.ts, seal-block.ts, execute-shards.ts) run two
 * blocks over one in-process store - in both intake modes: the sequencer on the ingress queue,
 * and (`ingressFunction` on) the ingress function (functions/ingress.ts) on the ingress queue
 * with the sequencer on the decoded queue - then the JSON-RPC function (functions/rpc.ts) answers
 * queries about them and takes a transaction, each role through its own recording view of the store and the queues,
 * with the environment the stack gives it (parsed by the role's own schema) and the metrics
 * objects it creates itself (their Embedded Metric Format lines captured).
 * - Least privilege: every table a role reads or writes and every queue it consumes or sends to
 *   is granted in infra/access.ts (deployedAccess of the mode), and every grant there is used.
 * - Metrics: what the dashboard charts is what the roles emit (namespace, dimensions, names).
 */
import { readFileSync } from 'node:fs'

import { Logger } from '@aws-lambda-powertools/logger'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { deployedAccess, type Role } from '../../infra/access.ts'
import { readDeployConfig } from '../../infra/config.ts'
import { coordinatorEnvironment, ingressEnvironment, metricCatalog, metricsNamespace, rpcEnvironment, sequencerEnvironment, workerEnvironment } from '../../infra/runtime-contract.ts'
import { createMetrics } from '../../functions/commons/observability.ts'
import { bootstrapChain } from '../../functions/commons/bootstrap.ts'
import { coordinatorEnvSchema, ingressEnvSchema, loadEnv, rpcEnvSchema, sequencerEnvSchema, workerEnvSchema } from '../../functions/commons/config.ts'
import { createIngressRuntime, handleIngressBatch, type IngressOutcome } from '../../functions/ingress.ts'
import { createRpcRuntime, handleHttp } from '../../functions/rpc.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { fromHex, to0x } from '../../shared/hex.ts'
import { createCoordinatorRuntime, handleDoneMessage } from '../../functions/seal-block.ts'
import { createSequencerRuntime, runSequencer } from '../../functions/sequence-block.ts'
import { createWorkerRuntime, runShardWorker } from '../../functions/execute-shards.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { Records } from '../../shared/store/records.ts'
import { ALL_QUEUE_ROLES, type QueueRole } from '../../shared/resources.ts'
import { COINBASE, addressOf, signTx, testGenesis } from '../helpers/chain.ts'

import type { AwsBackend } from '../../shared/adapters/aws/provision.ts'
import type { KeyValueStore, TableName } from '../../shared/ports/kv-store.ts'
import type { Queue } from '../../shared/ports/queue.ts'

type Access = { read: Set<TableName>; write: Set<TableName>; consume: Set<QueueRole>; send: Set<QueueRole> }

/** The store as one role sees it, recording which tables it reads and writes. */
function recording(kv: KeyValueStore, access: Access): KeyValueStore {
  return {
    get: (keys) => {
      for (const k of keys) access.read.add(k.table)
      return kv.get(keys)
    },
    query: (table, pk, options) => {
      access.read.add(table)
      return kv.query(table, pk, options)
    },
    transact: (ops) => {
      for (const op of ops) {
        if (op.op === 'put') access.write.add(op.item.table)
        else if (op.op === 'delete') access.write.add(op.key.table)
        else access.read.add(op.key.table)
      }
      return kv.transact(ops)
    },
    write: (ops) => {
      for (const op of ops) access.write.add(op.op === 'put' ? op.item.table : op.key.table)
      return kv.write(ops)
    },
  }
}

/**
 * Grants a two-block run cannot exercise, each with the path that needs it. Leaving them out
 * would turn a rare path into AccessDenied and a block that never seals.
 */
const NOT_EXERCISED: Partial<Record<Role, { read?: Partial<Record<TableName, string>> }>> = {
  coordinator: {
    read: {
      code: 're-execution adds the code the worker loaded (staged access.codes) to its view; a re-executed call that takes another branch into a contract the worker never reached loads it through StateLoader.loadCode',
    },
  },
}

/** A queue as one role uses it: receiving, deleting, extending visibility = consuming. */
function recordingQueue(queue: Queue, role: QueueRole, access: Access): Queue {
  return {
    name: queue.name,
    send: (entries) => {
      access.send.add(role)
      return queue.send(entries)
    },
    receive: (options) => {
      access.consume.add(role)
      return queue.receive(options)
    },
    delete: (handles) => {
      access.consume.add(role)
      return queue.delete(handles)
    },
    extendVisibility: (handle, ms) => {
      access.consume.add(role)
      return queue.extendVisibility(handle, ms)
    },
    depth: () => queue.depth(),
  }
}

const quietLogger = () => new Logger({ serviceName: 'test', logLevel: 'SILENT' })

interface EmfLine {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] }
  [field: string]: unknown
}

/** The role's own metrics object (functions/commons/observability.ts), its EMF output captured. */
function capturedMetrics(role: Role, lines: EmfLine[]) {
  const metrics = createMetrics(role)
  // Powertools writes EMF through its `console` (stdout in Lambda and ECS); keep the lines instead.
  ;(metrics as unknown as { console: { log: (line: string) => void } }).console = { log: (line) => lines.push(JSON.parse(line) as EmfLine) }
  return metrics
}

// SSTORE(0, CALLDATALOAD(0)) - a storage write; the init code below deploys it (CREATE).
const STORE_CODE = '0x60003560005500'
const INIT_CODE = '0x6007600c60003960076000f360003560005500'

interface Run {
  ingressFunction: boolean
  /** What the ingress function decided (on-mode only). */
  ingressOutcomes: IngressOutcome[]
  seen: Record<Role, Access>
  emf: Record<Role, EmfLine[]>
  result: Awaited<ReturnType<typeof runSequencer>>
  head: string | undefined
  rpcAnswers: { id: number; result?: unknown; error?: { message: string } }[]
}

const PREFIX = 'px'
const savedNamespace = process.env.POWERTOOLS_METRICS_NAMESPACE
const runs: Record<'direct' | 'ingressFunction', Run> = {} as never

async function runPipeline(ingressFunction: boolean): Promise<Run> {
  const store = new MemoryKeyValueStore()
  const contract = `0x${'5e'.repeat(20)}`
  const genesis = testGenesis({ accounts: 8, extraAlloc: { [contract]: { balance: '0x0', code: STORE_CODE } } })
  await bootstrapChain(store, genesis)

  const deadLetters = {} as Record<QueueRole, MemoryQueue>
  const queues = {} as Record<QueueRole, MemoryQueue>
  for (const role of ALL_QUEUE_ROLES) {
    deadLetters[role] = new MemoryQueue({ name: `${role}-dlq` })
    queues[role] = new MemoryQueue({ name: role, visibilityTimeoutMs: 5_000, maxReceiveCount: 5, deadLetter: deadLetters[role] })
  }
  const access = (): Access => ({ read: new Set(), write: new Set(), consume: new Set(), send: new Set() })
  const seen: Record<Role, Access> = { sequencer: access(), worker: access(), coordinator: access(), rpc: access(), ingress: access() }
  const emf: Record<Role, EmfLine[]> = { sequencer: [], worker: [], coordinator: [], rpc: [], ingress: [] }
  const queuesOf = (role: Role) => Object.fromEntries(ALL_QUEUE_ROLES.map((q) => [q, recordingQueue(queues[q], q, seen[role])])) as Record<QueueRole, Queue>
  const backend = (role: Role) => ({ prefix: PREFIX, kv: recording(store, seen[role]), queues: queuesOf(role), deadLetters }) as unknown as AwsBackend

  // The environment the stack gives each role, parsed by the role's own schema (Lambda sets AWS_REGION itself).
  const config = readDeployConfig((key) => ({ prefix: PREFIX, shards: 3, blockSize: 6, coinbase: COINBASE, ingressFunction: String(ingressFunction) })[key as 'shards'])
  const queueUrl = (name: string) => `https://sqs.us-east-1.amazonaws.com/123456789012/${PREFIX}-${name}`
  const resources = { config, region: 'us-east-1', queueUrls: { ingress: queueUrl('ingress'), decoded: queueUrl('decoded'), shards: queueUrl('shards'), done: queueUrl('done') } }
  const lambdaRegion = { AWS_REGION: 'us-east-1' }
  // Faster polling than deployed: an in-process run of two blocks.
  const sequencerEnv = loadEnv(sequencerEnvSchema, 'sequencer', { ...sequencerEnvironment(resources), ...lambdaRegion, PAREVM_INTAKE_WAIT_MS: '0', PAREVM_IDLE_POLLS: '2' })
  const coordinatorEnv = loadEnv(coordinatorEnvSchema, 'coordinator', { ...coordinatorEnvironment(resources), ...lambdaRegion })
  const workerEnv = loadEnv(workerEnvSchema, 'worker', { ...workerEnvironment(resources), PAREVM_RECEIVE_WAIT_MS: '20', PAREVM_HEALTH_PORT: '0' })
  expect(sequencerEnv).toMatchObject({ PAREVM_PREFIX: PREFIX, PAREVM_SHARDS: 3, PAREVM_BLOCK_SIZE: 6, PAREVM_COINBASE: COINBASE, PAREVM_INGRESS_QUEUE_URL: queueUrl('ingress'), PAREVM_DECODED_QUEUE_URL: queueUrl('decoded') })
  expect(sequencerEnv.PAREVM_INTAKE_SOURCE).toBe(ingressFunction ? 'decoded' : 'ingress')

  // The namespace the stack sets is what createMetrics reads.
  process.env.POWERTOOLS_METRICS_NAMESPACE = sequencerEnvironment(resources).POWERTOOLS_METRICS_NAMESPACE
  const options = (role: Role) => ({ backend: backend(role), logger: quietLogger(), metrics: capturedMetrics(role, emf[role]) })
  const sequencer = await createSequencerRuntime(sequencerEnv, options('sequencer'))
  const coordinator = await createCoordinatorRuntime(coordinatorEnv, options('coordinator'))
  const worker = await createWorkerRuntime(workerEnv, options('worker'))
  const ingressRt = ingressFunction ? await createIngressRuntime(loadEnv(ingressEnvSchema, 'ingress', { ...ingressEnvironment(resources), ...lambdaRegion }), options('ingress')) : undefined

  const txs = [
    signTx({ from: 0, nonce: 0, to: addressOf(20), value: 1n }),
    signTx({ from: 1, nonce: 0, to: contract, data: `0x${'00'.repeat(31)}07`, gasLimit: 60_000n }),
    // A contract creation.
    signTx({ from: 2, nonce: 0, data: INIT_CODE, gasLimit: 120_000n }),
    // Another chain: rejected at intake.
    signTx({ from: 3, nonce: 0, to: addressOf(21), value: 2n, chainId: 1n }),
    // Two writes of one slot from different senders: different shards, a stale read, a re-execution.
    signTx({ from: 4, nonce: 0, to: contract, data: `0x${'00'.repeat(31)}08`, gasLimit: 60_000n }),
    signTx({ from: 5, nonce: 0, to: contract, data: `0x${'00'.repeat(31)}09`, gasLimit: 60_000n }),
    signTx({ from: 6, nonce: 0, to: addressOf(24), value: 5n }),
    signTx({ from: 7, nonce: 0, to: addressOf(25), value: 6n }),
    signTx({ from: 0, nonce: 1, to: addressOf(26), value: 7n }),
  ]
  const ingress: Queue = queues.ingress
  const bodies = [...txs, txs[0]!].map((raw) => ({ body: JSON.stringify({ raw }) }))
  for (let i = 0; i < bodies.length; i += 10) await ingress.send(bodies.slice(i, i + 10))
  // With the ingress function, what only the sequencer judges still gets a rejection record
  // from it: here a message on the decoded queue that is not a decoded message (put there
  // directly, as no role would).
  if (ingressFunction) await queues.decoded.send([{ body: JSON.stringify({ raw: txs[6] }) }])

  const signal = { stopped: false }
  // The coordinator's event source mapping consumes the done queue with the function's role.
  const doneForCoordinator = queuesOf('coordinator').done
  const workerDone = runShardWorker(worker, signal)
  let resubmitted = false
  // The ingress function's event source mapping consumes the ingress queue with the function's role.
  const ingressOutcomes: IngressOutcome[] = []
  const ingressDone = (async () => {
    if (ingressRt === undefined) return
    const ingressForFunction = queuesOf('ingress').ingress
    while (!signal.stopped) {
      const messages = await ingressForFunction.receive({ maxMessages: 10, waitMs: 20 })
      if (messages.length === 0) continue
      const outcome = await handleIngressBatch(ingressRt, messages)
      ingressOutcomes.push(outcome)
      const failed = new Set(outcome.failed)
      const done = messages.filter((m) => !failed.has(m.id))
      if (done.length > 0) await ingressForFunction.delete(done.map((m) => m.receiptHandle))
    }
  })()
  const coordinatorDone = (async () => {
    // Bounded by the signal (set when the sequencer returns) and the hook timeout.
    while (!signal.stopped) {
      for (const message of await doneForCoordinator.receive({ maxMessages: 10, waitMs: 20 })) {
        const outcome = await handleDoneMessage(coordinator, message)
        await doneForCoordinator.delete([message.receiptHandle])
        if (outcome.kind === 'sealed' && !resubmitted) {
          // A transaction of the sealed block arrives again: the sequencer looks up its receipt.
          resubmitted = true
          await ingress.send([{ body: JSON.stringify({ raw: txs[0] }) }])
        }
      }
    }
  })()
  let result
  try {
    result = await runSequencer(sequencer, { deadlineMs: Date.now() + 60_000, maxBlocks: 2 })
  } finally {
    signal.stopped = true
    await Promise.all([workerDone, coordinatorDone, ingressDone])
  }
  // The JSON-RPC function over the sealed chain: the head, blocks with their transactions,
  // receipts, logs, state and code, and a transaction put on the ingress queue.
  const rpcEnv = loadEnv(rpcEnvSchema, 'rpc', { ...rpcEnvironment(resources), ...lambdaRegion, PAREVM_CHAIN_ID: '7777' })
  const rpc = await createRpcRuntime(rpcEnv, options('rpc'))
  const call = (id: number, method: string, params: unknown[]) => ({ jsonrpc: '2.0', id, method, params })
  const answered = await handleHttp(rpc, {
    requestContext: { http: { method: 'POST' } },
    body: JSON.stringify([
      call(1, 'eth_blockNumber', []),
      call(2, 'eth_getBlockByNumber', ['latest', true]),
      call(3, 'eth_getTransactionReceipt', [to0x(keccak256(fromHex(txs[0]!)))]),
      call(4, 'eth_getLogs', [{ fromBlock: '0x0' }]),
      call(5, 'eth_getBalance', [addressOf(0), 'latest']),
      call(6, 'eth_getCode', [contract, 'latest']),
      call(7, 'eth_call', [{ to: contract, data: `0x${'00'.repeat(31)}01` }]),
      call(8, 'eth_sendRawTransaction', [signTx({ from: 6, nonce: 1, to: addressOf(27), value: 1n })]),
    ]),
  })
  return { ingressFunction, ingressOutcomes, seen, emf, result, head: (await new Records(store).getHead())?.number, rpcAnswers: JSON.parse(answered.body) as Run['rpcAnswers'] }
}

beforeAll(async () => {
  runs.direct = await runPipeline(false)
  runs.ingressFunction = await runPipeline(true)
})

afterAll(() => {
  if (savedNamespace === undefined) delete process.env.POWERTOOLS_METRICS_NAMESPACE
  else process.env.POWERTOOLS_METRICS_NAMESPACE = savedNamespace
})

const MODES = [
  { name: 'direct', title: 'the sequencer on the ingress queue' },
  { name: 'ingressFunction', title: 'the ingress function on the ingress queue, the sequencer on the decoded queue' },
] as const

const rolesOf = (run: Run): Role[] => (run.ingressFunction ? ['sequencer', 'worker', 'coordinator', 'rpc', 'ingress'] : ['sequencer', 'worker', 'coordinator', 'rpc'])

for (const mode of MODES) {
  describe(`${mode.title}: the entry points under the environment the stack sets`, () => {
    it('seal two blocks with a rejection, a resubmitted duplicate and a contract creation', () => {
      const run = runs[mode.name]
      expect(run.result.blocks).toBe(2)
      expect(run.head).toBe('2')
      // With the ingress function, intake rejections and duplicates are decided there.
      const atIngress = run.ingressOutcomes.reduce((n, o) => ({ rejected: n.rejected + o.rejected.length, duplicates: n.duplicates + o.duplicates, failed: n.failed + o.failed.length }), { rejected: 0, duplicates: 0, failed: 0 })
      expect(atIngress.failed).toBe(0)
      expect(run.result.rejected + atIngress.rejected).toBeGreaterThanOrEqual(1)
      expect(run.result.duplicates + atIngress.duplicates).toBeGreaterThanOrEqual(1)
      if (run.ingressFunction) expect({ sequencerRejected: run.result.rejected, ingressRejected: atIngress.rejected }).toEqual({ sequencerRejected: 1, ingressRejected: 1 })
      else expect(run.ingressOutcomes).toEqual([])
    })

    it('the JSON-RPC function answers from the tables and sends to the ingress queue', () => {
      const run = runs[mode.name]
      expect(run.rpcAnswers.filter((a) => a.error !== undefined)).toEqual([])
      const byId = new Map(run.rpcAnswers.map((a) => [a.id, a.result]))
      expect(byId.get(1)).toBe('0x2')
      expect((byId.get(3) as { status: string }).status).toBe('0x1')
      expect(byId.get(6)).toBe(STORE_CODE)
      expect(byId.get(8)).toMatch(/^0x[0-9a-f]{64}$/)
    })
  })

  describe(`${mode.title}: IAM grants match what the entry points do`, () => {
    const access = deployedAccess({ ingressFunction: mode.name === 'ingressFunction' })
    it('the deployed roles are exactly those that ran; one of them consumes the ingress queue', () => {
      const run = runs[mode.name]
      expect(Object.keys(access).sort()).toEqual([...rolesOf(run)].sort())
      const consumers = (run: Run, queue: QueueRole) => rolesOf(run).filter((r) => run.seen[r].consume.has(queue))
      expect(consumers(run, 'ingress')).toEqual([run.ingressFunction ? 'ingress' : 'sequencer'])
      expect(consumers(run, 'decoded')).toEqual(run.ingressFunction ? ['sequencer'] : [])
    })
    for (const role of ['sequencer', 'worker', 'coordinator', 'rpc', 'ingress'] as const) {
      if (access[role] === undefined) continue
      it(`${role}: every table and queue it touches is granted, every grant is used`, () => {
        const run = runs[mode.name]
        const granted = access[role]!
        const seen = run.seen[role]
        const unexercised = Object.keys(NOT_EXERCISED[role]?.read ?? {})
        // Everything the role did is granted ...
        expect([...seen.read].filter((t) => !granted.read.includes(t))).toEqual([])
        expect([...seen.write].filter((t) => !granted.write.includes(t))).toEqual([])
        // ... and every grant was used, or is listed above with the path that needs it.
        expect(granted.read.filter((t) => !seen.read.has(t) && !unexercised.includes(t))).toEqual([])
        expect(granted.write.filter((t) => !seen.write.has(t))).toEqual([])
        for (const t of unexercised) expect(seen.read.has(t as TableName)).toBe(false)
        expect({ consume: [...seen.consume].sort(), send: [...seen.send].sort() }).toEqual({ consume: [...granted.consume].sort(), send: [...granted.send].sort() })
      })
    }
  })

  describe(`${mode.title}: the dashboard charts what the entry points emit`, () => {
    const catalog = metricCatalog({ prefix: PREFIX, ingressFunction: mode.name === 'ingressFunction' })
    const charted = [...catalog.throughput, ...catalog.latency, ...catalog.conflicts, ...catalog.errors]
    const SOURCES: Record<Role, string> = { sequencer: 'functions/sequence-block.ts', coordinator: 'functions/seal-block.ts', worker: 'functions/execute-shards.ts', rpc: 'functions/rpc.ts', ingress: 'functions/ingress.ts' }

    it('every role emits into the namespace the stack sets, with the dimensions the dashboard uses', () => {
      const run = runs[mode.name]
      expect(catalog.namespace).toBe(metricsNamespace({ prefix: PREFIX }))
      for (const role of rolesOf(run)) {
        expect(run.emf[role].length).toBeGreaterThan(0)
        for (const line of run.emf[role]) {
          for (const directive of line._aws.CloudWatchMetrics) {
            expect(directive.Namespace).toBe(catalog.namespace)
            expect(directive.Dimensions).toEqual([['service', 'role']])
          }
          expect({ service: line.service, role: line.role }).toEqual({ service: 'parevm', role })
        }
      }
      for (const metric of charted) expect(Object.keys(metric.dimensions ?? {}).sort()).toEqual(['role', 'service'])
      // The ingress function's metrics are charted only where it is deployed.
      expect(charted.some((m) => m.dimensions?.role === 'ingress')).toBe(run.ingressFunction)
    })

    it("every charted metric is emitted by its role's entry point", () => {
      const run = runs[mode.name]
      const emittedInRun = (role: Role) => new Set(run.emf[role].flatMap((l) => l._aws.CloudWatchMetrics.flatMap((d) => d.Metrics.map((m) => m.Name))))
      for (const metric of charted) {
        const role = metric.dimensions!.role as Role
        const source = readFileSync(SOURCES[role], 'utf8')
        // In the source (some only on rare paths: redeliveries, shards before their parent) ...
        expect({ metric: metric.metricName, inSource: source.includes(`addMetric('${metric.metricName}'`) }).toEqual({ metric: metric.metricName, inSource: true })
      }
      // ... and the main ones seen in this run.
      const main: (readonly [Role, string])[] = [['coordinator', 'BlockTxs'], ['coordinator', 'BlocksSealed'], ['coordinator', 'SealMs'], ['coordinator', 'Reexecuted'], ['coordinator', 'TxPerSecond'], ['coordinator', 'StoreRetries'], ['sequencer', 'PlannedTxs'], ['sequencer', 'Rejected'], ['worker', 'ShardsExecuted'], ['worker', 'ShardQueueWaitMs'], ['rpc', 'RpcRequests'], ['rpc', 'RpcLatencyMs']]
      if (run.ingressFunction) main.push(['ingress', 'ForwardedTxs'], ['ingress', 'IngressRejected'], ['ingress', 'IngressQueueWaitMs'], ['ingress', 'IngressBatchMs'], ['ingress', 'FailedMessages'], ['ingress', 'StoreRetries'])
      for (const [role, name] of main) {
        expect({ role, name, emitted: emittedInRun(role).has(name) }).toEqual({ role, name, emitted: true })
      }
    })
  })
}
