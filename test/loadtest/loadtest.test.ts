/**
 * The load test against the embedded cluster: short runs (a couple of seconds of injection)
 * through `parevm loadtest` and through runLoadTest, checking the report's accounting - every
 * sent transaction included or rejected with a reason - never its timings. Plus the pieces:
 * schedule, tracker (receipts, execution and intake rejections), init code, chart.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { bigIntToUnpaddedBytes, generateAddress } from '@ethereumjs/util'
import { describe, expect, it } from 'vitest'

import { loadtestCommand } from '../../functions/cli/loadtest.ts'
import { buildGenesis } from '../../shared/chain/genesis.ts'
import { initializeChain } from '../../shared/cluster/bootstrap.ts'
import { ConfigError } from '../../shared/errors.ts'
import { fromHex, to0x } from '../../shared/hex.ts'
import { chartSvg, niceTicks } from '../../shared/loadtest/chart.ts'
import { runInjection } from '../../shared/loadtest/inject.ts'
import { senderAddresses } from '../../shared/loadtest/intents.ts'
import { startPipeline } from '../../shared/loadtest/pipeline.ts'
import { StopController, runLoadTest } from '../../shared/loadtest/run.ts'
import { buildSchedule, parseRamp } from '../../shared/loadtest/schedule.ts'
import { bootstrapStore, createAddress, genesisSetup, initCodeWithStorage } from '../../shared/loadtest/setup.ts'
import { memoryBackends, parseStackOutputs } from '../../shared/loadtest/targets.ts'
import { InclusionTracker, TX_INCLUDED, TX_PENDING, TX_REJECTED } from '../../shared/loadtest/tracker.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { Records, type ReceiptRecord, type SealedBlockRecord } from '../../shared/store/records.ts'
import { addressOf, key, testGenesisFile } from '../helpers/chain.ts'
import { expectAccounted } from './expect-report.ts'

import type { LoadTestReport } from '../../shared/loadtest/report.ts'

/** The load-testing page, whose embedded-cluster examples run here (test/cli/cli.test.ts leaves them to this file). */
const PAGE = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'load-testing.md'), 'utf8')

/** Small sizes appended to every command (later options win). */
const SMALL = ['--accounts', '40', '--pools', '3', '--rate', '60', '--duration', '1.5', '--workers', '2', '--inline', '--warmup', '5', '--drain', '60', '--quiet']

async function cli(args: string[]): Promise<{ status: number; report: LoadTestReport; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'parevm-loadtest-'))
  const status = await loadtestCommand([...args, '--out', dir])
  return { status, report: JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as LoadTestReport, dir }
}

describe('parevm loadtest on the embedded cluster', () => {
  const examples = [...PAGE.matchAll(/^npx parevm loadtest(.*?)(?:\s+#.*)?$/gm)].map((m) => m[1]!.trim()).filter((e) => !e.includes('--target aws'))

  it('docs/load-testing.md has embedded-cluster examples', () => {
    expect(examples.length).toBeGreaterThan(0)
  })

  for (const example of examples) {
    it(`docs/load-testing.md: npx parevm loadtest ${example}`, async () => {
      const args = example === '' ? [] : example.split(/\s+/)
      const { status, report, dir } = await cli([...args, ...SMALL, ...(args.includes('--ramp') ? ['--ramp', '30,60', '--duration', '1'] : []), '--verify'])
      expect(status).toBe(0)
      expectAccounted(report)
      expect(report.stoppedBy).toBe('schedule')
      expect(report.injection.notSent).toBe(0)
      expect(report.injection.planned).toBe(report.steps.reduce((s, step) => s + step.offered, 0))
      expect(report.setup.mode).toBe('genesis')
      expect(report.target).toMatchObject({ kind: 'embedded', pipeline: 'in-process' })
      expect(readFileSync(join(dir, 'chart.svg'), 'utf8')).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
      expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('<svg ')
      // The per-transaction log: one line per scheduled transaction, outcomes as in the report.
      const lines = readFileSync(join(dir, 'transactions.csv'), 'utf8').trim().split('\n')
      expect(lines.length).toBe(report.injection.planned + 1)
      const outcomes = lines.slice(1).map((l) => l.split(',')[6])
      expect(outcomes.filter((o) => o === 'included').length).toBe(report.results.included)
      expect(outcomes.filter((o) => o === 'rejected').length).toBe(report.results.rejected)
      expect(lines.slice(1).every((l) => /^\d+,0x[0-9a-f]{64},0x[0-9a-f]{40},0x[0-9a-f]+,\d+,\d+,/.test(l))).toBe(true)
    })
  }

  it('sets up a running chain by transactions from a funded key: tokens, pools and approvals work (no swap reverts)', async () => {
    const funder = key(900)
    const genesisPath = join(mkdtempSync(join(tmpdir(), 'parevm-loadtest-')), 'genesis.json')
    writeFileSync(genesisPath, JSON.stringify(testGenesisFile({ accounts: 0, extraAlloc: { [addressOf(900)]: { balance: '0x33b2e3c9fd0803ce8000000' } } })))
    const { status, report } = await cli([
      '--genesis', genesisPath, '--funder-key', to0x(funder), '--mix', 'amm', '--hot', '0.3', ...SMALL, '--accounts', '16', '--rate', '40', '--verify',
    ])
    expect(status).toBe(0)
    expectAccounted(report)
    expect(report.setup.mode).toBe('funding')
    // 2 tokens + 3 pools deployed, 16 senders given ETH and both tokens, the pools their reserves, approvals.
    expect(report.setup.txs).toBeGreaterThan(2 + 3 + 16 * 3)
    expect(report.results.rejected).toBe(0)
    expect(report.results.reverted).toBe(0)
  })

  it('stops on request (Ctrl-C), drains, and still reports every sent transaction', async () => {
    const backends = memoryBackends()
    const stop = new StopController()
    const report = await runLoadTest(
      {
        kind: 'embedded',
        description: 'embedded (test)',
        kv: backends.kv,
        ingress: backends.ingress,
        injector: { kind: 'queue', queue: backends.ingress },
        startPipeline: (genesis) => startPipeline({ genesis, workers: 1, threads: false, blockSize: 200, verify: true, backends }),
      },
      {
        workload: { mix: 'transfers', accounts: 30, hotShare: 0.5, pools: 2, seed: 3 },
        chain: { chainId: 7777n, hardfork: 'cancun' },
        steps: [{ rate: 40, durationSec: 30 }],
        perMessage: 3,
        maxInFlight: 8,
        tickMs: 10,
        signThreads: 2,
        drainTimeoutMs: 60_000,
        setupTimeoutMs: 60_000,
        warmupTxs: 0,
        stop,
        onProgress: (line) => {
          const sent = /\| sent (\d+)\//.exec(line)
          if (sent !== null && Number(sent[1]) >= 20 && stop.requests === 0) stop.request()
        },
      },
    )
    expect(report.stoppedBy).toBe('interrupt')
    expect(report.injection.notSent).toBeGreaterThan(0)
    expect(report.injection.sent + report.injection.notSent).toBe(report.injection.planned)
    expectAccounted(report)
  })

  it('counts and lists every transaction never included (nothing consumes the queue)', async () => {
    const backends = memoryBackends()
    const report = await runLoadTest(
      { kind: 'aws', description: 'a queue nobody consumes', kv: backends.kv, ingress: backends.ingress, injector: { kind: 'queue', queue: backends.ingress } },
      {
        workload: { mix: 'erc20', accounts: 5, hotShare: 0, pools: 1, seed: 4 },
        chain: { chainId: 7777n, hardfork: 'cancun' },
        steps: [{ rate: 20, durationSec: 0.5 }],
        perMessage: 1,
        maxInFlight: 4,
        tickMs: 10,
        signThreads: 1,
        drainTimeoutMs: 300,
        setupTimeoutMs: 10_000,
        warmupTxs: 0,
      },
    )
    expect(report.target.pipeline).toBe('external')
    expect(report.setup.mode).toBe('genesis')
    expect(report.injection.sent).toBe(10)
    expect(report.results).toMatchObject({ included: 0, rejected: 0, unaccounted: 10, accountedFor: false })
    expect(report.unaccountedTxs.map((u) => u.index)).toEqual([...Array(10).keys()])
    expect(report.unaccountedTxs[7]).toMatchObject({ sender: senderAddresses(4, 5)[2], nonce: '0x1', sendFailed: false })
    expect((await backends.ingress.depth()).visible).toBe(10)
  })

  it('refuses bad options with a clear error', async () => {
    await expect(loadtestCommand(['--rate', '0'])).rejects.toThrow(/--rate: must be positive/)
    await expect(loadtestCommand(['--ramp', '100,fast'])).rejects.toThrow(ConfigError)
    await expect(loadtestCommand(['--prefix', 'x'])).rejects.toThrow(/--prefix needs --target aws/)
    await expect(loadtestCommand(['--target', 'aws', '--outputs', '/nonexistent/outputs.json'])).rejects.toThrow(/cannot read CDK outputs file/)
  })
})

describe('load-test pieces', () => {
  it('schedules each step evenly and in order', () => {
    const s = buildSchedule(parseRamp('10,20', 2))
    expect(s.offsetsMs.length).toBe(60)
    expect(s.stepStarts).toEqual([0, 20, 60])
    expect(s.stepStartMs).toEqual([0, 2000, 4000])
    expect(s.offsetsMs[1]).toBeCloseTo(100)
    expect(s.offsetsMs[21]! - s.offsetsMs[20]!).toBeCloseTo(50)
    for (let i = 1; i < s.offsetsMs.length; i++) expect(s.offsetsMs[i]!).toBeGreaterThanOrEqual(s.offsetsMs[i - 1]!)
    expect(() => buildSchedule([{ rate: 0, durationSec: 1 }])).toThrow(/rate must be/)
    expect(() => parseRamp('1,,2', 1)).toThrow(/is not a rate/)
  })

  it('injects every due transaction in batches of at most 10 messages, records send times, and counts failed calls', async () => {
    const raws = Array.from({ length: 45 }, (_, i) => `0x${(i + 1).toString(16).padStart(2, '0')}`)
    const offsets = new Float64Array(45) // all due at once
    const sentAt = new Float64Array(45)
    const calls: string[][] = []
    let clock = 1000
    const result = await runInjection({
      raws,
      offsetsMs: offsets,
      startMs: 1000,
      perMessage: 2,
      maxInFlight: 2,
      tickMs: 1,
      sentAtMs: sentAt,
      send: async (entries) => {
        calls.push(entries.map((e) => e.body))
        if (calls.length === 2) throw new Error('throttled')
      },
      stopped: () => false,
      now: () => clock++,
    })
    expect(result).toMatchObject({ issued: 45, calls: 3, failed: 20, stoppedEarly: false })
    expect(calls.map((c) => c.length)).toEqual([10, 10, 3])
    expect(JSON.parse(calls[0]![0]!)).toEqual({ txs: ['0x01', '0x02'], sentAtMs: 1000 })
    expect(JSON.parse(calls[2]![2]!)).toEqual({ raw: '0x2d', sentAtMs: 1000 })
    expect([...sentAt].every((t) => t >= 1000)).toBe(true)
  })

  it('tracks receipts through sealed blocks, execution rejections listed in blocks, and intake rejections by sweeping', async () => {
    const kv = new MemoryKeyValueStore()
    const genesis = buildGenesis(testGenesisFile({ accounts: 1 }))
    await initializeChain(kv, genesis)
    const records = new Records(kv)
    const hashes = ['0x' + 'a1'.repeat(32), '0x' + 'a2'.repeat(32), '0x' + 'a3'.repeat(32), '0x' + 'a4'.repeat(32)]
    const tracker = new InclusionTracker(kv, hashes, { afterBlock: 0n })
    const block: SealedBlockRecord = { number: '1', hash: '0x' + 'bb'.repeat(32), header: {}, txHashes: [hashes[0]!, '0x' + 'ff'.repeat(32)], txParts: 1, rejected: [hashes[1]!], stats: { reexecuted: 1, shards: 2 }, sealedAtMs: 5000 }
    const head = { ...(await records.getHead())!, number: '1', hash: block.hash }
    await kv.write([
      { op: 'put', item: { table: 'blocks', pk: '1', sk: 'header', value: new TextEncoder().encode(JSON.stringify(block)), version: 0 } },
      { op: 'put', item: { table: 'meta', pk: 'head', sk: '-', value: new TextEncoder().encode(JSON.stringify(head)), version: 1 } },
    ])
    // Receipts are written after the seal: until then the block is read again later.
    expect(await tracker.pollBlocks()).toBe(0)
    const receipt = { kind: 'receipt', txHash: hashes[0]!, block: '1', blockHash: block.hash, index: 0, from: '0x', to: null, contractAddress: null, status: 0, cumulativeGasUsed: '0x0', gasUsed: '0x0', effectiveGasPrice: '0x0', logsBloom: '0x', logs: [], type: 2, includedAtMs: 4990 } satisfies ReceiptRecord
    await records.putReceipts([receipt])
    await records.putRejection({ id: hashes[1]!, code: 'insufficient-balance', reason: 'sender cannot pay', block: '1', atMs: 4995 })
    await records.putRejection({ id: hashes[2]!, code: 'nonce-gap', reason: 'nonce 5 leaves a gap', atMs: 3000 })
    expect(await tracker.pollBlocks()).toBe(1)
    expect([...tracker.status]).toEqual([TX_INCLUDED, TX_REJECTED, TX_PENDING, TX_PENDING])
    expect(tracker.doneAtMs[0]).toBe(5000)
    expect(tracker.reverted[0]).toBe(1)
    expect(tracker.blocks).toEqual([{ number: 1, sealedAtMs: 5000, txs: 2, ours: 1, rejected: 1, reexecuted: 1, shards: 2 }])
    // The intake rejection belongs to no block: the sweep finds it; the never-sent one stays pending.
    const sentAt = Float64Array.from([1, 1, 1, 0])
    expect(await tracker.sweep(4, sentAt, 10)).toBe(1)
    expect(tracker.rejections.get(2)).toEqual({ code: 'nonce-gap', reason: 'nonce 5 leaves a gap' })
    expect([...tracker.status]).toEqual([TX_INCLUDED, TX_REJECTED, TX_REJECTED, TX_PENDING])
    expect(tracker.resolved).toBe(3)
  })

  it('builds init code that stores the given slots and returns the runtime, and predicts CREATE addresses', () => {
    const runtime = Uint8Array.of(0x60, 0x00, 0x60, 0x00, 0xf3)
    const code = initCodeWithStorage(runtime, [[Uint8Array.of(1), 5n]])
    expect(code.length).toBe(67 + 15 + runtime.length)
    expect([...code.subarray(code.length - runtime.length)]).toEqual([...runtime])
    expect(code[66]).toBe(0x55)
    // A well-known CREATE address: the first contract of 0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0.
    expect(createAddress('0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0', 0n)).toBe('0xcd234a471b72ba2f1ccf0a70fcaba648a5eecd8d')
    const from = addressOf(3)
    for (const nonce of [0n, 1n, 127n, 128n, 300n, 70_000n]) {
      expect(createAddress(from, nonce)).toBe(to0x(generateAddress(fromHex(from), bigIntToUnpaddedBytes(nonce))))
    }
  })

  it('reads queue URL and table prefix from CDK outputs', () => {
    const outputs = { ParevmCluster: { ingressQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/p-ingress', stateTableName: 'p-state', receiptsTableName: 'p-receipts' }, Other: { x: 1 } }
    expect(parseStackOutputs(outputs)).toEqual({ stack: 'ParevmCluster', prefix: 'p', ingressQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/p-ingress', ingressDeadLetterQueueUrl: undefined })
    expect(() => parseStackOutputs({ ...outputs, Two: outputs.ParevmCluster })).toThrow(/holds 2 parevm stacks \(ParevmCluster, Two\)/)
    expect(() => parseStackOutputs({ S: { ...outputs.ParevmCluster, receiptsTableName: 'q-receipts' } })).toThrow(/does not follow the prefix/)
  })

  it('writes the workload genesis into an empty store once, and refuses a store with another chain', async () => {
    const kv = new MemoryKeyValueStore()
    const shape = { mix: 'erc20' as const, accounts: 3, hotShare: 0, pools: 1, seed: 5 }
    const { file } = genesisSetup(shape, senderAddresses(5, 3), { chainId: 7777n, hardfork: 'cancun' })
    expect(await bootstrapStore(kv, buildGenesis(file))).toBe('created')
    expect(await bootstrapStore(kv, buildGenesis(file))).toBe('existing')
    expect((await new Records(kv).getHead())?.number).toBe('0')
    const other = genesisSetup({ ...shape, seed: 6 }, senderAddresses(6, 3), { chainId: 7777n, hardfork: 'cancun' })
    await expect(bootstrapStore(kv, buildGenesis(other.file))).rejects.toThrow(/already runs another chain/)
  })

  it('the genesis set-up funds every sender', () => {
    const senders = senderAddresses(1, 4)
    const { file } = genesisSetup({ mix: 'mixed', accounts: 4, hotShare: 0, pools: 2, seed: 1 }, senders, { chainId: 7777n, hardfork: 'cancun' })
    for (const s of senders) expect(BigInt(file.alloc[s]!.balance)).toBeGreaterThan(0n)
    expect(niceTicks(95)).toEqual([0, 20, 40, 60, 80, 100])
  })

  it('draws a chart with every panel', () => {
    const svg = chartSvg({
      target: { kind: 'embedded', description: 'x', pipeline: 'in-process' },
      workload: { mix: 'transfers', accounts: 1, hotShare: 0, pools: 1, seed: 1, chainId: '1', hardfork: 'cancun' },
      load: { steps: [{ rate: 1, durationSec: 1 }, { rate: 2, durationSec: 1 }], perMessage: 1, maxInFlight: 1, tickMs: 10, drainTimeoutSec: 1 },
      throughput: { offeredTps: 1, sentTps: 1, achievedTps: 1, sustainedTps: 1 },
      latencyMs: { count: 1, p50: 5, p90: 5, p99: 5, p999: 5, max: 5, mean: 5 },
      results: { included: 1, reverted: 0, rejected: 0, rejectedByReason: {}, unaccounted: 0, accountedFor: true, receiptsMissing: 0 },
      timeline: { bucketSec: 1, points: [{ t: 0, offeredTps: 1, sentTps: 1, includedTps: 0, rejectedTps: 0 }, { t: 1, offeredTps: 2, sentTps: 2, includedTps: 1, rejectedTps: 0, latencyP50Ms: 5, latencyP99Ms: 5 }] },
      queueDepth: [{ t: 0.5, visible: 3, inFlight: 1, delayed: 0 }],
    } as unknown as LoadTestReport)
    for (const title of ['Throughput', 'Inclusion latency by send time', 'Ingress queue depth', 'ramp steps']) expect(svg).toContain(title)
  })
})
