/**
 * Several hosts: worker processes (the bundled functions/execute-shards.ts) each in its own
 * network namespace, reaching DynamoDB Local and local-aws-sqs on the test's side over a veth
 * pair (through TCP forwarders on the host-side veth address). Worker A is cut off (link down)
 * in the middle of a shard - executed, its staging write on the wire - and restored after the
 * shard's visibility timeout, once worker B has executed the redelivered shard and the block is
 * sealed. Then: every transaction is included exactly once (receipts, nonces), every block
 * equals sequential execution, and A's late results are refused (its staging finds the shard
 * staged; its done message finds the block sealed).
 *
 * Needs root and `ip netns`; skipped with a warning where they are missing, a failure in CI.
 */
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'

import { createAwsClients } from '../../shared/adapters/aws/clients.ts'
import { createResources, deleteResources, openBackend, type AwsBackend } from '../../shared/adapters/aws/provision.ts'
import { buildGenesis, type GenesisState } from '../../shared/chain/genesis.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { fromHex, to0x } from '../../shared/hex.ts'
import { decodeAccount } from '../../shared/state/values.ts'
import { Records } from '../../shared/store/records.ts'
import { StateTable } from '../../shared/store/state-table.ts'
import { SequentialVerifier } from '../../shared/verify/sequential.ts'
import { queueName } from '../../shared/resources.ts'
import { generateWorkload, type Workload } from '../../shared/workload/generator.ts'
import { bootstrapChain } from '../../functions/commons/bootstrap.ts'
import { coordinatorEnvSchema, loadEnv, sequencerEnvSchema } from '../../functions/commons/config.ts'
import { createCoordinatorRuntime, createHandler, type CoordinatorRuntime } from '../../functions/seal-block.ts'
import { createSequencerRuntime, runSequencer } from '../../functions/sequence-block.ts'
import { EventSourceMapping, WorkerProcess, bundleWorker } from '../helpers/aws-pipeline.ts'
import { uniquePrefix } from '../helpers/aws.ts'
import { NetnsHost, TcpForwarder, netnsSupport } from '../helpers/netns.ts'

import type { DoneOutcome, SealedBlock } from '../../shared/coordinator/coordinator.ts'

process.env.POWERTOOLS_LOG_LEVEL = 'WARN'
process.env.POWERTOOLS_METRICS_DISABLED = 'true'

const target = inject('awsTarget')
const support = netnsSupport()
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'
if (!support.ok) {
  const line = `netns.aws.test.ts: ${support.reason}`
  if (inCi) console.error(`${line} - in CI this is a failure`)
  else console.warn(`SKIPPED: the several-hosts test (worker processes in network namespaces): ${support.reason}. Run it as root with iproute2.`)
}

const TXS = 80
const BLOCK_SIZE = 40
const SHARDS = 2
const VISIBILITY_MS = 3000

describe.runIf(!support.ok && inCi)('several hosts (network namespaces)', () => {
  it('can create network namespaces (required in CI)', () => {
    throw new Error(`network namespaces are unavailable in CI: ${support.ok ? '' : support.reason}`)
  })
})

/** The forwarders need endpoints to forward to (the globalSetup's servers, LocalStack, ...): not AWS itself. */
const endpointsKnown = /^http:\/\//.test(target.dynamodb) && /^http:\/\//.test(target.sqs)
if (support.ok && !endpointsKnown) console.warn(`SKIPPED: the several-hosts test needs http endpoints to forward to (DynamoDB ${target.dynamodb}, SQS ${target.sqs})`)

describe.runIf(support.ok && endpointsKnown)(`several hosts: workers in network namespaces (DynamoDB ${target.dynamodb}, SQS ${target.sqs})`, () => {
  const clients = createAwsClients()
  const prefix = uniquePrefix('netns')
  const hosts = [new NetnsHost(0), new NetnsHost(1)]
  const forwarders: TcpForwarder[] = []
  const workers: WorkerProcess[] = []
  const sealed: SealedBlock[] = []
  const outcomes: { at: number; outcome: DoneOutcome }[] = []
  let backend: AwsBackend | undefined
  let genesis: GenesisState
  let workload: Workload
  let coordinator: CoordinatorRuntime
  let esm: EventSourceMapping | undefined
  let bundle: { path: string; remove: () => void } | undefined

  /** Forwarders for DynamoDB and SQS on this host's veth address; the worker's endpoints. */
  async function bridge(host: NetnsHost): Promise<{ env: Record<string, string>; dynamodb: TcpForwarder }> {
    const upstream = (url: string): { host: string; port: number } => {
      const u = new URL(url)
      return { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) }
    }
    const dynamodb = new TcpForwarder(host.hostIp, upstream(target.dynamodb))
    const sqs = new TcpForwarder(host.hostIp, upstream(target.sqs))
    await dynamodb.listen()
    await sqs.listen()
    forwarders.push(dynamodb, sqs)
    // The SDK sends SQS calls to the queue URL's host, which the server made 127.0.0.1:port:
    // the worker gets the URLs with the forwarder's address instead.
    const sqsOrigin = `http://${host.hostIp}:${sqs.port}`
    const queueUrl = async (role: 'shards' | 'done'): Promise<string> => {
      const url = new URL((await clients.sqs.send(new GetQueueUrlCommand({ QueueName: queueName(prefix, role) }))).QueueUrl!)
      return `${sqsOrigin}${url.pathname}`
    }
    return {
      env: {
        AWS_ENDPOINT_URL_DYNAMODB: `http://${host.hostIp}:${dynamodb.port}`,
        AWS_ENDPOINT_URL_SQS: sqsOrigin,
        PAREVM_SHARDS_QUEUE_URL: await queueUrl('shards'),
        PAREVM_DONE_QUEUE_URL: await queueUrl('done'),
      },
      dynamodb,
    }
  }

  function startWorker(name: string, host: NetnsHost, endpoints: Record<string, string>): WorkerProcess {
    const worker = new WorkerProcess(
      name,
      {
      ...endpoints,
      AWS_ENDPOINT_URL: '',
      PAREVM_PREFIX: prefix,
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      PAREVM_RECEIVE_WAIT_MS: '1000',
      PAREVM_VISIBILITY_TIMEOUT_MS: String(VISIBILITY_MS),
      PAREVM_HEALTH_PORT: '0',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_DISABLED: 'true',
      },
      bundle!.path,
      { netns: host.ns },
    )
    workers.push(worker)
    return worker
  }

  beforeAll(async () => {
    bundle = await bundleWorker()
    workload = generateWorkload({ txs: TXS, mix: 'mixed', accounts: 50, hotShare: 0.1, pools: 4, seed: 17 })
    genesis = buildGenesis(workload.genesis)
    await createResources(clients, prefix, {
      shards: { visibilityTimeoutSec: VISIBILITY_MS / 1000, maxReceiveCount: 50 },
      done: { visibilityTimeoutSec: 3 },
      ingress: { visibilityTimeoutSec: 5, maxReceiveCount: 3 },
    })
    backend = await openBackend(clients, prefix)
    await bootstrapChain(backend.kv, genesis)
    coordinator = await createCoordinatorRuntime(loadEnv(coordinatorEnvSchema, 'coordinator', { PAREVM_PREFIX: prefix, AWS_REGION: 'us-east-1' }), { backend })
    const handleDone = coordinator.coordinator.handleDone.bind(coordinator.coordinator)
    coordinator.coordinator.handleDone = async (message) => {
      const outcome = await handleDone(message)
      outcomes.push({ at: Date.now(), outcome })
      if (outcome.kind === 'sealed') sealed.push(outcome.sealed)
      return outcome
    }
    esm = new EventSourceMapping(backend.queues.done, createHandler(async () => coordinator))
    for (const host of hosts) await host.create()
  })

  afterAll(async () => {
    // Links up first, so draining workers can finish; then processes, forwarders, namespaces.
    for (const host of hosts) await host.restore().catch(() => {})
    await esm?.stop().catch(() => {})
    await Promise.all(workers.map((w) => w.stop(5_000)))
    await Promise.all(forwarders.map((f) => f.close()))
    for (const host of hosts) await host.destroy()
    if (backend !== undefined) await deleteResources(clients, prefix).catch(() => {})
    bundle?.remove()
  })

  it('a worker cut off mid-shard: its shard is redelivered and applied once, its late staging and done are ignored (already sealed)', async () => {
    const [hostA, hostB] = hosts as [NetnsHost, NetnsHost]
    const a = await bridge(hostA)
    const b = await bridge(hostB)
    // Worker A's first staging write (TransactWriteItems on the staged table) cuts its link:
    // the bytes stay in the forwarder until the link is restored, then arrive late.
    let cutAt = 0
    let cutDone: Promise<void> | undefined
    a.dynamodb.inspect = (text) => {
      if (cutDone !== undefined || !text.includes('TransactWriteItems')) return 'forward'
      cutAt = Date.now()
      cutDone = hostA.cut()
      return 'hold'
    }
    const workerA = startWorker('A', hostA, a.env)
    await workerA.waitFor((l) => l.message === 'worker started', 60_000, 'start-up')

    const txs = workload.rawTxs.slice(0, TXS)
    const bodies = []
    for (let i = 0; i < txs.length; i += 4) bodies.push({ body: JSON.stringify({ txs: txs.slice(i, i + 4) }) })
    await backend!.queues.ingress.send(bodies)
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
        PAREVM_SEAL_WAIT_MS: '60000',
      }),
      { backend: backend! },
    )
    const sequencing = runSequencer(rt, { deadlineMs: Date.now() + 150_000 })
    sequencing.catch(() => {})

    // A takes a shard, executes it, and is cut off while staging it.
    const deadline = Date.now() + 60_000
    while (cutDone === undefined && Date.now() < deadline && workerA.running()) await new Promise((r) => setTimeout(r, 50))
    expect(cutDone, `worker A never staged a shard; its last lines: ${JSON.stringify(workerA.lines.slice(-5))}`).toBeDefined()
    await cutDone
    const held = [...workerA.lines].reverse().find((l) => l.message === 'shard received')!
    const block = BigInt(held.block!)
    const shard = held.shard!
    expect(workerA.lines.some((l) => l.message === 'shard executed')).toBe(false)

    // B (its own namespace) gets the other shard now, and A's after its visibility timeout.
    const workerB = startWorker('B', hostB, b.env)
    const redelivered = await workerB.waitFor((l) => l.message === 'shard received' && l.block === held.block && l.shard === shard, 60_000, `the redelivered shard ${block}/${shard}`)
    expect(redelivered.receiveCount).toBeGreaterThan(1)
    const records = new Records(backend!.kv)
    for (let i = 0; i < 600; i++) {
      const head = await records.getHead()
      if (head !== undefined && BigInt(head.number) >= block) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(BigInt((await records.getHead())!.number)).toBeGreaterThanOrEqual(block)
    expect(workerB.lines.some((l) => l.message === 'shard executed' && l.block === held.block && l.shard === shard)).toBe(true)

    // Restore A's link: its staging write arrives late and is refused (the shard is staged),
    // and its done message finds the block sealed.
    const restoredAt = Date.now()
    await hostA.restore()
    a.dynamodb.release()
    // Its staging arrives late: refused if the shard's results are still staged, else written
    // as orphans of a sealed block (the coordinator dropped the block's staged results when it
    // sealed it; they expire by TTL). Either way its done message finds the block sealed.
    for (let i = 0; i < 100 && !sealed.some((s) => BigInt(s.record.number) === block); i++) await new Promise((r) => setTimeout(r, 50))
    const sealedRecord = sealed.find((s) => BigInt(s.record.number) === block)!.record
    const late = await workerA.waitFor(
      (l) => (l.message === 'shard already staged (redelivery); reported done again' || l.message === 'shard executed') && l.block === held.block && l.shard === shard,
      60_000,
      `A's late outcome of ${block}/${shard}`,
    )
    for (let i = 0; i < 300 && !outcomes.some((o) => o.at >= restoredAt && o.outcome.kind === 'already-sealed' && o.outcome.block === block); i++) {
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(outcomes.some((o) => o.at >= restoredAt && o.outcome.kind === 'already-sealed' && o.outcome.block === block)).toBe(true)
    expect(outcomes.filter((o) => o.outcome.kind === 'sealed' && o.outcome.sealed.record.number === sealedRecord.number)).toHaveLength(1)
    expect((await records.getBlock(block))?.hash).toBe(sealedRecord.hash)

    // A's other connections still back off from the packets lost while cut (TCP retransmission
    // doubles up to minutes): rather than wait on them, A leaves (a shard in its hands comes
    // back to B after the visibility timeout).
    await workerA.stop(2_000)
    const result = await sequencing
    esm!.check()
    expect(result.stoppedBecause).toBe('idle')
    expect(result.txs).toBe(TXS)

    // Every transaction included exactly once; each sender's nonce counts its inclusions.
    const hashes = txs.map((raw) => to0x(keccak256(fromHex(raw))))
    const receipts = await records.getReceipts(hashes)
    expect(receipts.filter((r) => r?.kind === 'receipt')).toHaveLength(TXS)
    const head = await records.getHead()
    for (let i = 0; i < 100 && sealed.length < Number(head!.number); i++) await new Promise((r) => setTimeout(r, 50))
    expect(sealed).toHaveLength(Number(head!.number))
    expect(new Set(sealed.map((s) => s.record.number)).size).toBe(sealed.length)
    const included = sealed.flatMap((s) => s.receipts.map((r) => r.txHash.toLowerCase()))
    expect(included).toHaveLength(TXS)
    expect(new Set(included)).toEqual(new Set(hashes.map((h) => h.toLowerCase())))
    const perSender = new Map<string, number>()
    for (const r of receipts) if (r?.kind === 'receipt') perSender.set(r.from.toLowerCase(), (perSender.get(r.from.toLowerCase()) ?? 0) + 1)
    const senders = [...perSender.keys()]
    const state = await new StateTable(backend!.kv).load(senders.map((s) => s.slice(2)))
    senders.forEach((s, i) => expect(decodeAccount(state[i]!.value)?.nonce).toBe(BigInt(perSender.get(s)!)))

    // Each block equals sequential execution.
    const verifier = await SequentialVerifier.fromGenesis(genesis)
    sealed.sort((x, y) => Number(BigInt(x.record.number) - BigInt(y.record.number)))
    for (const s of sealed) expect((await verifier.check(s)).ok).toBe(true)
    console.log(
      `several hosts: ${sealed.length} blocks, ${TXS} txs; A cut off at block ${block} shard ${shard} for ${restoredAt - cutAt} ms; ` +
        `B took the shard on receive ${redelivered.receiveCount}; A's late staging: ${late.message}; done outcomes: ${outcomes.map((o) => o.outcome.kind).join(',')}`,
    )
  })
})
