/**
 * GPU stages against their CPU implementations on the same data, and their end-to-end effect.
 *
 *   npx tsx bench/gpu.ts                                  this machine's backends, small sizes
 *   npx tsx bench/gpu.ts --sizes 4096,8192 --hashes 65536 --batches 4096,65536   (GPU machine)
 *   npx tsx bench/gpu.ts --skip-e2e --json                kernels only, JSON on stdout
 *   npx tsx bench/gpu.ts --skip-stages --e2e-runs 3       end to end only (--e2e-cases ai,mixed,amm-hot)
 *
 * Stages (each kernel's result is checked against its CPU twin before it is timed):
 * - conflict: the pairwise read-after-write bitmap matrix of N transactions (the kernel) vs the
 *   same O(n^2) algorithm in plain TypeScript (its CPU twin), and vs the pipeline's CPU path
 *   (exact last-writer dependencies from key sets, O(keys + N^2/32)), on synthetic predicted
 *   access sets; and the pipeline's GPU path as the planner runs it (bitmaps from key sets,
 *   kernel, matrix) against that same CPU path. Both ratios are in the table, labelled.
 * - keccak: a batch of trie-node-sized messages, kernel vs the CPU hasher (hash-wasm).
 * - ai: batched quantized-MLP inference, kernel vs the int32 CPU reference.
 * End to end (worker threads, --workers; --e2e-runs runs per setting, interleaved): block time
 * of workloads with the GPU path as the backend choice leaves it (auto), forced on (every stage
 * on the chosen backend), and off; and the dependency-DAG split on and off (re-executions,
 * the slowest worker, the coordinator's re-execution time, block time). Block 1 of each run is
 * left out of the medians (no templates learned yet).
 *
 * On the GPU machine (Ubuntu 24.04, glibc >= 2.38, NVIDIA Vulkan ICD; docs/gpu-and-ai.md), the same
 * command picks webgpu automatically; PAREVM_DAWN_FLAGS passes Dawn flags.
 */
import { availableParallelism, cpus } from 'node:os'
import { parseArgs } from 'node:util'

import { evaluateCpu, randomModel, type Model } from '../shared/ai/model.ts'
import { buildGenesis } from '../shared/chain/genesis.ts'
import { EmbeddedCluster, type BlockEvent } from '../shared/cluster/embedded.ts'
import { keccak256, keccakImplementation } from '../shared/crypto/keccak.ts'
import { createAccelerators } from '../shared/gpu/accelerators.ts'
import { openBackend, probeWebGpu, type GpuBackend } from '../shared/gpu/backend.ts'
import { defaultAcceleratorSettings } from '../shared/gpu/defaults.ts'
import { acceleratorSettingsFromEnv } from '../shared/gpu/config.ts'
import { conflictRowsCpu, conflictRowsCpuWords, conflictRowsGpu, piecesToWords } from '../shared/gpu/kernels/conflict.ts'
import { keccakBatchGpu } from '../shared/gpu/kernels/keccak.ts'
import { mlpBatchGpu } from '../shared/gpu/kernels/mlp.ts'
import { accessBitmaps, bitmapDependencies, coversExact, exactDependencies, matrixFromPackedRows, type AccessSets } from '../shared/schedule/dependencies.ts'
import { createRng, generateWorkload, type WorkloadMix } from '../shared/workload/generator.ts'

import type { GpuBackendName } from '../shared/gpu/config.ts'

export interface GpuBenchOptions {
  sizes: number[]
  hashes: number[]
  batches: number[]
  runs: number
  backends: GpuBackendName[] | undefined
  e2e: boolean
  e2eTxs: number
  e2eBlock: number
  e2eRuns: number
  /** Workload mixes to run end to end (default: all). */
  e2eCases?: string[]
  workers: number
  log: (line: string) => void
}

/** What `npx tsx bench/gpu.ts` and `npm run bench`'s gpu section run when not told otherwise. */
export const GPU_BENCH_DEFAULTS = { sizes: [1024, 2048], hashes: [4096], batches: [256, 4096], runs: 3, e2eTxs: 3000, e2eBlock: 1000, e2eRuns: 2 }

export interface StageRow {
  stage: string
  size: number
  implementation: string
  medianMs: number
  /** The CPU twin's time over this one's (> 1: faster): for conflict, the same O(n^2) bitmap algorithm in plain TS. */
  speedup: number
  /**
   * conflict only: the pipeline's own CPU path's time over this one's — the exact last-writer
   * DAG (shared/schedule/dependencies.ts `exactDependencies`, what the planner builds when the
   * kernel does not run). This, not `speedup`, is what the kernel saves the pipeline.
   */
  vsPipeline?: number
  check: string
}

export interface E2eRow {
  workload: string
  setting: string
  /** Blocks 2+ of all runs. */
  blocks: number
  blockMsMedian: number
  /** The slowest worker's execution, and the coordinator's re-executions (medians per block). */
  executeMaxMsMedian: number
  reexecuteMsMedian: number
  /** Re-executed transactions per block (median), groups split per run (mean). */
  reexecuted: number
  groupsSplit: number
  note: string
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN

async function time<T>(runs: number, fn: () => T | Promise<T>): Promise<{ ms: number; result: T }> {
  let result = await fn() // warm-up (compiles kernels), untimed
  const ms: number[] = []
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now()
    result = await fn()
    ms.push(performance.now() - t0)
  }
  return { ms: median(ms), result }
}

/** Predicted access sets shaped like a block: own keys, a few shared pools, some hot keys. */
function syntheticBlock(n: number, seed: number): AccessSets[] {
  const rng = createRng(seed)
  return Array.from({ length: n }, (_, i) => {
    const reads = [`s${i}`, `r${Math.floor(rng() * n)}`]
    const writes = [`s${i}`]
    const pool = rng() < 0.1 ? 'hot' : `p${Math.floor(rng() * 64)}`
    reads.push(pool)
    if (rng() < 0.7) writes.push(pool)
    if (rng() < 0.3) writes.push(reads[1]!)
    return { reads, writes }
  })
}

function trieLikeMessages(m: number, seed: number): Uint8Array[] {
  const rng = createRng(seed)
  return Array.from({ length: m }, () => {
    const r = rng()
    const len = r < 0.55 ? 70 + Math.floor(rng() * 40) : r < 0.85 ? 532 : 100 + Math.floor(rng() * 400)
    return Uint8Array.from({ length: len }, () => Math.floor(rng() * 256))
  })
}

export async function benchStages(o: GpuBenchOptions): Promise<StageRow[]> {
  const names = o.backends ?? ['cpu', 'webasm', ...((await probeWebGpu(defaultAcceleratorSettings().gpu.dawnFlags)).ok ? (['webgpu'] as const) : [])]
  const backends: GpuBackend[] = []
  for (const name of names) backends.push(await openBackend(name, 'bench'))
  const rows: StageRow[] = []

  for (const n of o.sizes) {
    const txs = syntheticBlock(n, n)
    const { W, R } = accessBitmaps(txs)
    o.log(`conflict matrix, ${n} transactions`)
    const cpuRuns = Math.max(1, Math.min(o.runs, n >= 4096 ? 1 : o.runs))
    const W32 = piecesToWords(W)
    const R32 = piecesToWords(R)
    const reference = await time(cpuRuns, () => conflictRowsCpuWords(W32, R32, n))
    if (n <= 2048 && !conflictRowsCpu(W, R, n).every((v, i) => v === reference.result[i])) throw new Error('conflict: CPU word implementation differs from the reference')
    const exact = await time(o.runs, () => exactDependencies(txs))
    rows.push({ stage: 'conflict', size: n, implementation: 'CPU twin: same O(n^2) bitmap algorithm, 32-bit words (plain TS)', medianMs: reference.ms, speedup: 1, vsPipeline: exact.ms / reference.ms, check: 'reference' })
    rows.push({ stage: 'conflict', size: n, implementation: 'CPU: exact last-writer DAG (the pipeline\'s CPU path)', medianMs: exact.ms, speedup: reference.ms / exact.ms, vsPipeline: 1, check: 'source of truth' })
    for (const b of backends) {
      const k = await time(o.runs, () => conflictRowsGpu(b, W, R, n))
      const same = k.result.every((v, i) => v === reference.result[i])
      const covers = coversExact(matrixFromPackedRows(k.result, n), exact.result)
      rows.push({ stage: 'conflict', size: n, implementation: `kernel alone on ${b.name} (bitmaps given)`, medianMs: k.ms, speedup: reference.ms / k.ms, vsPipeline: exact.ms / k.ms, check: `${same ? 'bit-exact' : 'DIFFERS'}; ${covers ? 'covers exact DAG' : 'MISSES EDGES'}` })
      // What the planner runs instead of exactDependencies: key sets -> bitmaps -> kernel -> matrix.
      const path = await time(o.runs, () => bitmapDependencies(b, txs))
      const pathCovers = coversExact(path.result, exact.result)
      rows.push({ stage: 'conflict', size: n, implementation: `pipeline GPU path on ${b.name} (bitmapDependencies: bitmaps + kernel + matrix)`, medianMs: path.ms, speedup: reference.ms / path.ms, vsPipeline: exact.ms / path.ms, check: pathCovers ? 'covers exact DAG' : 'MISSES EDGES' })
    }
  }

  for (const m of o.hashes) {
    const messages = trieLikeMessages(m, m)
    o.log(`keccak, ${m} messages`)
    const cpu = await time(o.runs, () => messages.map((x) => keccak256(x)))
    rows.push({ stage: 'keccak', size: m, implementation: `CPU: ${keccakImplementation}`, medianMs: cpu.ms, speedup: 1, check: 'reference' })
    for (const b of backends) {
      const k = await time(o.runs, () => keccakBatchGpu(b, messages))
      const same = k.result.every((h, i) => Buffer.compare(h, cpu.result[i]!) === 0)
      rows.push({ stage: 'keccak', size: m, implementation: `kernel on ${b.name}`, medianMs: k.ms, speedup: cpu.ms / k.ms, check: same ? 'bit-exact' : 'DIFFERS' })
    }
  }

  const models: [string, Model][] = [
    ['16-32-4', randomModel(createRng(1), [16, 32, 4])],
    ['128-96-16', randomModel(createRng(2), [128, 96, 16])],
  ]
  for (const [label, model] of models) {
    for (const batch of o.batches) {
      const rng = createRng(batch)
      const inputs = Array.from({ length: batch }, () => Int8Array.from({ length: model.inputDim }, () => Math.floor(rng() * 256) - 128))
      o.log(`ai inference, model ${label}, ${batch} calls`)
      const cpu = await time(o.runs, () => inputs.map((x) => evaluateCpu(model, x)))
      rows.push({ stage: `ai ${label}`, size: batch, implementation: 'CPU: int32 reference', medianMs: cpu.ms, speedup: 1, check: 'reference' })
      for (const b of backends) {
        const k = await time(o.runs, () => mlpBatchGpu(b, model, inputs))
        const same = k.result.every((v, i) => v.every((y, j) => y === cpu.result[i]![j]))
        rows.push({ stage: `ai ${label}`, size: batch, implementation: `kernel on ${b.name}`, medianMs: k.ms, speedup: cpu.ms / k.ms, check: same ? 'bit-exact' : 'DIFFERS' })
      }
    }
  }
  return rows
}

interface E2eCase {
  workload: string
  mix: WorkloadMix
  hotShare: number
  accounts: number
  pools: number
  settings: { name: string; env: Record<string, string> }[]
}

interface E2eRun {
  events: BlockEvent[]
  groupsSplit: number
  predictedReexecutions: number
  aiCacheHits: number
  gpu: string
}

async function runWorkload(c: E2eCase, env: Record<string, string>, o: GpuBenchOptions): Promise<E2eRun> {
  // Each setting gets instances of its own (nothing shared with another setting or run); worker
  // threads make theirs from the same settings.
  // The setting's variables over the process's (PAREVM_DAWN_FLAGS and the like stay).
  const accelerators = createAccelerators(acceleratorSettingsFromEnv({ ...process.env, PAREVM_GPU_BACKEND: undefined, PAREVM_GPU_STAGES: undefined, PAREVM_DAG_SPLIT: undefined, ...env }))
  const workload = generateWorkload({ txs: o.e2eTxs, mix: c.mix, accounts: c.accounts, hotShare: c.hotShare, pools: c.pools, seed: 7 })
  const cluster = await EmbeddedCluster.start({ genesis: buildGenesis(workload.genesis), workers: o.workers, threads: true, blockSize: o.e2eBlock, verify: false, accelerators })
  const events: BlockEvent[] = []
  try {
    await cluster.submit(workload.rawTxs)
    await cluster.runUntilIdle((e) => {
      events.push(e)
    })
  } finally {
    await cluster.stop()
  }
  const totals = accelerators.planner.totals
  return { events, groupsSplit: totals.groupsSplit, predictedReexecutions: totals.predictedReexecutions, aiCacheHits: accelerators.inference.stats.cacheHits, gpu: accelerators.gpu.statusLine() }
}

export async function benchEndToEnd(o: GpuBenchOptions): Promise<E2eRow[]> {
  const forcedBackend = (await probeWebGpu(defaultAcceleratorSettings().gpu.dawnFlags)).ok ? 'webgpu' : 'webasm'
  const gpuSettings = [
    { name: 'auto (default)', env: {} },
    { name: `all stages on (${forcedBackend})`, env: { PAREVM_GPU_BACKEND: forcedBackend, PAREVM_GPU_STAGES: 'all=on', PAREVM_DAG_SPLIT: 'off' } },
    { name: 'GPU off', env: { PAREVM_GPU_BACKEND: 'off', PAREVM_DAG_SPLIT: 'off' } },
  ]
  const splitSettings = [
    { name: 'DAG split off', env: { PAREVM_GPU_BACKEND: 'off', PAREVM_DAG_SPLIT: 'off' } },
    { name: 'DAG split auto', env: { PAREVM_GPU_BACKEND: 'off', PAREVM_DAG_SPLIT: 'auto' } },
  ]
  const accounts = Math.max(50, Math.floor(o.e2eTxs / 6))
  const cases: E2eCase[] = [
    {
      workload: 'ai',
      mix: 'ai',
      hotShare: 0.05,
      accounts,
      pools: 10,
      settings: [...gpuSettings.slice(0, 2), { name: `ai stage only (${forcedBackend})`, env: { PAREVM_GPU_BACKEND: forcedBackend, PAREVM_GPU_STAGES: 'all=off,ai=on' } }, gpuSettings[2]!],
    },
    { workload: 'mixed, hot 0.2', mix: 'mixed', hotShare: 0.2, accounts, pools: 50, settings: [...gpuSettings, ...splitSettings.slice(1)] },
    { workload: 'amm-hot', mix: 'amm-hot', hotShare: 1, accounts, pools: 10, settings: splitSettings },
  ]
  const rows: E2eRow[] = []
  for (const c of cases.filter((k) => o.e2eCases === undefined || o.e2eCases.includes(k.mix))) {
    const runs = new Map<string, E2eRun[]>()
    // Settings interleaved run by run, so that a noisy machine spreads over all of them.
    for (let r = 0; r < o.e2eRuns; r++) {
      for (const s of c.settings) {
        o.log(`end to end: ${c.workload}, ${s.name}, run ${r + 1}/${o.e2eRuns}`)
        const run = await runWorkload(c, s.env, o)
        runs.set(s.name, [...(runs.get(s.name) ?? []), run])
      }
    }
    for (const s of c.settings) {
      const list = runs.get(s.name)!
      // Block 1 runs before any template is learned (poor prediction, nothing to split): the
      // medians are over blocks 2+.
      const later = list.flatMap((run) => (run.events.length > 1 ? run.events.slice(1) : run.events))
      rows.push({
        workload: c.workload,
        setting: s.name,
        blocks: later.length,
        blockMsMedian: median(later.map((e) => e.wallMs)),
        executeMaxMsMedian: median(later.map((e) => e.sealed.report.timings.workerExecuteMsMax ?? NaN)),
        reexecuteMsMedian: median(later.map((e) => e.sealed.report.timings.reexecuteMs ?? NaN)),
        reexecuted: median(later.map((e) => e.sealed.report.reexecuted)),
        groupsSplit: list.reduce((n, run) => n + run.groupsSplit, 0) / list.length,
        note: `predicted re-executions ${list.reduce((n, run) => n + run.predictedReexecutions, 0) / list.length} per run; ai cache hits (main thread) ${list.reduce((n, run) => n + run.aiCacheHits, 0) / list.length} per run; gpu: ${list[0]!.gpu}`,
      })
    }
  }
  return rows
}

const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-')

/**
 * Two ratio columns, both "CPU time over this row's time" (> 1: faster than that CPU code):
 * against the CPU twin (for conflict the O(n^2) bitmap algorithm the kernel mirrors; for keccak
 * and ai the CPU implementation), and, for conflict, against the exact DAG the pipeline builds
 * on the CPU — the figure that says what the kernel saves the pipeline.
 */
export function stageTable(rows: StageRow[]): string {
  return [
    '| stage | size | implementation | median ms | vs CPU twin (same algorithm) | vs pipeline CPU path (exact DAG; conflict only) | check |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.stage} | ${r.size} | ${r.implementation} | ${fmt(r.medianMs)} | ${fmt(r.speedup, 2)}x | ${r.vsPipeline === undefined ? '' : `${fmt(r.vsPipeline, 2)}x`} | ${r.check} |`),
  ].join('\n')
}

export function e2eTable(rows: E2eRow[]): string {
  return [
    '| workload | setting | blocks | block ms | slowest worker ms | re-execution ms | re-executed / block | groups split / run |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.workload} | ${r.setting} | ${r.blocks} | ${fmt(r.blockMsMedian, 0)} | ${fmt(r.executeMaxMsMedian, 0)} | ${fmt(r.reexecuteMsMedian, 0)} | ${fmt(r.reexecuted, 0)} | ${fmt(r.groupsSplit, 1)} |`),
  ].join('\n')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: GPU_BENCH_DEFAULTS.sizes.join(',') },
      hashes: { type: 'string', default: GPU_BENCH_DEFAULTS.hashes.join(',') },
      batches: { type: 'string', default: GPU_BENCH_DEFAULTS.batches.join(',') },
      runs: { type: 'string', default: String(GPU_BENCH_DEFAULTS.runs) },
      backends: { type: 'string' },
      'skip-e2e': { type: 'boolean', default: false },
      'skip-stages': { type: 'boolean', default: false },
      'e2e-txs': { type: 'string', default: String(GPU_BENCH_DEFAULTS.e2eTxs) },
      'e2e-block': { type: 'string', default: String(GPU_BENCH_DEFAULTS.e2eBlock) },
      'e2e-runs': { type: 'string', default: String(GPU_BENCH_DEFAULTS.e2eRuns) },
      'e2e-cases': { type: 'string' },
      workers: { type: 'string', default: String(Math.max(2, availableParallelism())) },
      json: { type: 'boolean', default: false },
    },
  })
  const list = (s: string): number[] => s.split(',').map(Number)
  const o: GpuBenchOptions = {
    sizes: list(values.sizes),
    hashes: list(values.hashes),
    batches: list(values.batches),
    runs: Number(values.runs),
    backends: values.backends === undefined ? undefined : (values.backends.split(',') as GpuBackendName[]),
    e2e: !values['skip-e2e'],
    e2eTxs: Number(values['e2e-txs']),
    e2eBlock: Number(values['e2e-block']),
    e2eRuns: Number(values['e2e-runs']),
    ...(values['e2e-cases'] !== undefined ? { e2eCases: values['e2e-cases'].split(',') } : {}),
    workers: Number(values.workers),
    log: (line) => process.stderr.write(`${line}\n`),
  }
  for (const n of [...o.sizes, ...o.hashes, ...o.batches, o.runs, o.e2eTxs, o.e2eBlock, o.e2eRuns, o.workers]) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`bench/gpu.ts options must be positive integers (got ${n})`)
  }
  const probe = await probeWebGpu(defaultAcceleratorSettings().gpu.dawnFlags)
  o.log(`gpu bench on ${cpus()[0]?.model ?? 'unknown CPU'} (${availableParallelism()} cores), ${process.version}; webgpu: ${probe.ok ? `${probe.device} (${probe.reason})` : probe.reason}`)
  const stages = values['skip-stages'] ? [] : await benchStages(o)
  const e2e = o.e2e ? await benchEndToEnd(o) : []
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ webgpu: probe, stages, e2e }, null, 2)}\n`)
    return
  }
  if (stages.length > 0) process.stdout.write(`\n${stageTable(stages)}\n`)
  if (e2e.length > 0) {
    process.stdout.write(`\n${e2eTable(e2e)}\n\n`)
    for (const r of e2e) process.stdout.write(`- ${r.workload}, ${r.setting}: ${r.note}\n`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
