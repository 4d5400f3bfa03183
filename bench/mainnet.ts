/**
 * Mainnet benchmark: for each fixture block (test/fixtures/mainnet-blocks), the time of
 * sequential @ethereumjs/vm with its default settings (MerkleStateManager, runBlock: the
 * baseline) against the engine with 1 worker and with W worker threads (W = cores), in the same
 * process, on the same block, interleaved block by block; and the geometric mean of the
 * speedups over all blocks.
 *
 *   npx tsx bench/mainnet.ts                      all blocks, W = cores, 1 run each
 *   npx tsx bench/mainnet.ts --workers 4 --runs 3 --blocks 13287210,19932703
 *   npx tsx bench/mainnet.ts --json               the result as JSON on stdout
 *
 * What is timed: the baseline's runBlock (loading the pre-state into the Merkle state manager
 * is setup, excluded); the engine's plan -> shards -> workers -> coordinator -> seal (seeding the
 * store is setup, excluded). Every engine run must match the block's header (checked outside
 * the timed region). Each engine run starts from empty templates (no learning carried from
 * other blocks or earlier runs), so each block is measured cold and order does not matter.
 * A warm-up pass (one block per hardfork, untimed) loads code and creates each hardfork's VM.
 */
import { existsSync, readdirSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'

import { TemplateRegistry } from '../shared/predict/templates.ts'
import { ReplayCluster, type ReplayRun } from '../shared/replay/cluster.ts'
import { isFixtureDir, loadFixture, type ReplayFixture } from '../shared/replay/fixture.ts'
import { runReference } from '../shared/replay/reference.ts'

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
  log?: (line: string) => void
}

/** Where an engine run's wall time went (ms). */
export interface TimeSplit {
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
  /** Template learning from mispredicted calls (coordinator, after sealing). */
  learn: number
  /** The rest: queue hops, staging results, waiting. */
  other: number
}

export interface EngineMeasure {
  ms: number
  reexecuted: number
  shards: number
  /** Keys of executed transactions that were predicted, over all (%). */
  keysPredictedPct: number
  split: TimeSplit
}

export interface BlockBench {
  block: string
  hardfork: string
  txs: number
  gasUsed: bigint
  baselineMs: number
  one: EngineMeasure
  many: EngineMeasure
  speedupOne: number
  speedupMany: number
}

export interface MainnetBenchResult {
  machine: { cpu: string; cores: number; node: string }
  workers: number
  runs: number
  rows: BlockBench[]
  geomeanSpeedupOne: number
  geomeanSpeedupMany: number
  /**
   * The same with template learning left out of the engine's time: it runs after the block is
   * sealed (the head is written), but before the coordinator returns to take the next block.
   */
  geomeanSpeedupOneSealed: number
  geomeanSpeedupManySealed: number
  totals: { baselineMs: number; oneMs: number; manyMs: number; splitMany: TimeSplit }
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

function splitOf(run: ReplayRun, learnMs: number): TimeSplit {
  const t = run.timings
  const plan = t.planMs ?? 0
  const workers = (t.workerPrefetchMsMax ?? 0) + (t.workerExecuteMsMax ?? 0)
  const validate = (t.loadMs ?? 0) + (t.validateMs ?? 0)
  const stateRoot = t.stateRootMs ?? 0
  const applySeal = (t.applyMs ?? 0) + (t.sealMs ?? 0)
  const known = plan + workers + validate + stateRoot + applySeal + learnMs
  return { plan, workers, validate, reexecute: t.reexecuteMs ?? 0, stateRoot, applySeal, learn: learnMs, other: Math.max(0, run.wallMs - known) }
}

async function measureEngine(cluster: ReplayCluster, fixture: ReplayFixture, runs: number): Promise<EngineMeasure> {
  const samples: EngineMeasure[] = []
  for (let i = 0; i < runs; i++) {
    const templates = new TimedTemplates()
    const run = await cluster.replay(fixture, { templates })
    if (!run.comparison.ok || run.rejected > 0) {
      throw new Error(`block ${fixture.number} does not match its header with ${cluster.workers} worker(s): the benchmark stops (run parevm replay on it)`)
    }
    const p = run.prediction
    samples.push({
      ms: run.wallMs,
      reexecuted: run.reexecuted,
      shards: run.shards,
      keysPredictedPct: p.keysActual === 0 ? 100 : (100 * p.keysPredicted) / p.keysActual,
      split: splitOf(run, templates.learnMs),
    })
  }
  const ms = median(samples.map((s) => s.ms))
  return samples.find((s) => s.ms === ms) ?? samples[0]!
}

export function fixtureBlocks(dir: string): string[] {
  if (!existsSync(dir)) throw new Error(`no fixtures at ${dir}`)
  return readdirSync(dir)
    .filter((d) => isFixtureDir(join(dir, d)))
    .sort((a, b) => Number(a) - Number(b))
}

export async function benchMainnet(options: MainnetBenchOptions = {}): Promise<MainnetBenchResult> {
  const dir = options.fixturesDir ?? DEFAULT_FIXTURES
  const names = options.blocks ?? fixtureBlocks(dir)
  const workers = options.workers ?? availableParallelism()
  const runs = options.runs ?? 1
  const log = options.log ?? (() => {})
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new Error(`workers must be 1..256 (got ${workers})`)
  if (!Number.isInteger(runs) || runs < 1 || runs > 100) throw new Error(`runs must be 1..100 (got ${runs})`)

  const one = await ReplayCluster.start({ workers: 1 })
  const many = await ReplayCluster.start({ workers })
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
        await runReference(f)
        await one.replay(f, { templates: new TemplateRegistry() })
        await many.replay(f, { templates: new TemplateRegistry() })
      }
    }
    const rows: BlockBench[] = []
    for (const name of names) {
      const fixture = await loadFixture(join(dir, name))
      const baseline: number[] = []
      for (let i = 0; i < runs; i++) baseline.push((await runReference(fixture)).runMs)
      const baselineMs = median(baseline)
      const m1 = await measureEngine(one, fixture, runs)
      const mW = await measureEngine(many, fixture, runs)
      const row: BlockBench = {
        block: name,
        hardfork: fixture.hardfork,
        txs: fixture.txs.length,
        gasUsed: fixture.expected.gasUsed,
        baselineMs,
        one: m1,
        many: mW,
        speedupOne: baselineMs / m1.ms,
        speedupMany: baselineMs / mW.ms,
      }
      rows.push(row)
      log(
        `${name.padStart(9)} ${fixture.hardfork.padEnd(13)} ${String(row.txs).padStart(5)} txs  baseline ${fmt(baselineMs)} ms  1 worker ${fmt(m1.ms)} ms (x${row.speedupOne.toFixed(2)})  ${workers} workers ${fmt(mW.ms)} ms (x${row.speedupMany.toFixed(2)})`,
      )
    }
    const sum = (f: (r: BlockBench) => number): number => rows.reduce((s, r) => s + f(r), 0)
    const splitKeys: (keyof TimeSplit)[] = ['plan', 'workers', 'validate', 'reexecute', 'stateRoot', 'applySeal', 'learn', 'other']
    const splitMany = Object.fromEntries(splitKeys.map((k) => [k, sum((r) => r.many.split[k])])) as unknown as TimeSplit
    return {
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), node: process.version },
      workers,
      runs,
      rows,
      geomeanSpeedupOne: geomean(rows.map((r) => r.speedupOne)),
      geomeanSpeedupMany: geomean(rows.map((r) => r.speedupMany)),
      geomeanSpeedupOneSealed: geomean(rows.map((r) => r.baselineMs / Math.max(1, r.one.ms - r.one.split.learn))),
      geomeanSpeedupManySealed: geomean(rows.map((r) => r.baselineMs / Math.max(1, r.many.ms - r.many.split.learn))),
      totals: { baselineMs: sum((r) => r.baselineMs), oneMs: sum((r) => r.one.ms), manyMs: sum((r) => r.many.ms), splitMany },
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
  const lines = [
    `| block | fork | txs | baseline ms | 1 worker ms | ${W} workers ms | speedup 1 | speedup ${W} | shards | re-executed (${W}) | keys predicted (${W}) |`,
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map(
      (b) =>
        `| ${b.block} | ${b.hardfork} | ${fmt(b.txs)} | ${fmt(b.baselineMs)} | ${fmt(b.one.ms)} | ${fmt(b.many.ms)} | ${b.speedupOne.toFixed(2)} | ${b.speedupMany.toFixed(2)} | ${b.many.shards} | ${fmt(b.many.reexecuted)} | ${fmt(b.many.keysPredictedPct)}% |`,
    ),
    `| **all ${r.rows.length}** | | ${fmt(r.rows.reduce((s, b) => s + b.txs, 0))} | ${fmt(r.totals.baselineMs)} | ${fmt(r.totals.oneMs)} | ${fmt(r.totals.manyMs)} | **${r.geomeanSpeedupOne.toFixed(2)}** (geomean) | **${r.geomeanSpeedupMany.toFixed(2)}** (geomean) | | | |`,
  ]
  lines.push(
    '',
    `Template learning left out (it runs after the seal, before the coordinator takes the next block): geomean speedup ${r.geomeanSpeedupOneSealed.toFixed(2)} with 1 worker, ${r.geomeanSpeedupManySealed.toFixed(2)} with ${W}.`,
  )
  const s = r.totals.splitMany
  const total = r.totals.manyMs
  const pct = (x: number): string => `${fmt(x)} ms (${total === 0 ? 0 : fmt((100 * x) / total, 1)}%)`
  lines.push(
    '',
    `Where the ${W}-worker engine's ${fmt(total)} ms went (sum over blocks):`,
    '',
    '| stage | time |',
    '|---|---:|',
    `| plan (predict, partition, store, dispatch) | ${pct(s.plan)} |`,
    `| workers: slowest shard's prefetch + execution | ${pct(s.workers)} |`,
    `| coordinator: load results, validate in order (incl. re-execution ${fmt(s.reexecute)} ms) | ${pct(s.validate)} |`,
    `| coordinator: state root | ${pct(s.stateRoot)} |`,
    `| coordinator: apply, seal, receipts | ${pct(s.applySeal)} |`,
    `| coordinator: template learning (mispredicted calls) | ${pct(s.learn)} |`,
    `| other: queue hops, staging results, waiting | ${pct(s.other)} |`,
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
  else process.stdout.write(`\nparevm mainnet bench on ${result.machine.cpu} (${result.machine.cores} cores), ${result.machine.node}, ${result.runs} run(s) per configuration\n\n${mainnetTable(result)}\n`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  cli().catch((error: unknown) => {
    process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`)
    process.exitCode = 1
  })
}
