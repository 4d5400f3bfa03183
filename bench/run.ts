/**
 * `npm run bench`: throughput of the engine against sequential @ethereumjs/vm (the baseline)
 * and against the machine's own no-coordination ceiling, measured side by side in one run.
 *
 *   npm run bench                         workloads at 1,000 transactions, 3 runs each
 *   npm run bench -- --full               1,000 and 10,000 transactions
 *   npm run bench -- --cases erc20,transfers --sizes 2000 --runs 5 --workers 1,2
 *   npm run bench -- --out bench/results  write <machine>.json and a plot (throughput.svg)
 *   npm run bench -- --sections mainnet   only some sections (workloads, mainnet, gpu; default all)
 *
 * Sections: `workloads` (the generated workloads above), `mainnet` (the fixture blocks of
 * test/fixtures/mainnet-blocks against runBlock: bench/mainnet.ts, one run, W = the most workers), `gpu`
 * (each GPU stage against its CPU implementation and the end-to-end effect: bench/gpu.ts with
 * its defaults). `npx tsx bench/mainnet.ts` and `npx tsx bench/gpu.ts` take more options.
 *
 * Every figure is the median of the runs with its range; ratios are of medians from the same
 * run. Every engine block passes the sequential check outside the timed region.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, hostname, totalmem } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

import { existsSync } from 'node:fs'

import { probeWebGpu } from '../shared/gpu/backend.ts'
import { keccakImplementation } from '../shared/crypto/keccak.ts'
import { nativeSecp256k1Loaded } from '../shared/crypto/secp256k1.ts'
import { benchEndToEnd, benchStages, e2eTable, GPU_BENCH_DEFAULTS, stageTable } from './gpu.ts'
import { benchMainnet, DEFAULT_FIXTURES, mainnetTable } from './mainnet.ts'
import { benchCase, CASES, defaultWorkerCounts, type CaseResult } from './engine-bench.ts'
import { throughputSvg } from './plot.ts'

const { values } = parseArgs({
  options: {
    cases: { type: 'string' },
    sizes: { type: 'string' },
    runs: { type: 'string', default: '3' },
    workers: { type: 'string' },
    warmup: { type: 'string', default: '200' },
    full: { type: 'boolean', default: false },
    out: { type: 'string' },
    label: { type: 'string' },
    sections: { type: 'string', default: 'workloads,mainnet,gpu' },
  },
})

const SECTIONS = ['workloads', 'mainnet', 'gpu']
const sections = values.sections.split(',')
for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--sections: unknown section ${s} (known: ${SECTIONS.join(', ')})`)

const sizes = (values.sizes ?? (values.full ? '1000,10000' : '1000')).split(',').map(Number)
const runs = Number(values.runs)
const workerCounts = values.workers === undefined ? defaultWorkerCounts() : values.workers.split(',').map(Number)
const cases = values.cases === undefined ? CASES : CASES.filter((c) => values.cases!.split(',').includes(c.name))
if (cases.length === 0) throw new Error(`--cases: none of ${values.cases} (known: ${CASES.map((c) => c.name).join(', ')})`)
for (const n of [...sizes, runs, ...workerCounts]) if (!Number.isInteger(n) || n < 1) throw new Error(`bench options must be positive integers (got ${n})`)

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
const machine = {
  label: values.label ?? hostname(),
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: availableParallelism(),
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  keccak: keccakImplementation,
  secp256k1: nativeSecp256k1Loaded ? 'native' : 'pure JS',
  date: new Date().toISOString(),
}
const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}
log(`parevm bench on ${machine.cpu} (${machine.cores} cores), ${machine.node}; sizes ${sizes.join(', ')}, ${runs} runs, workers ${workerCounts.join(', ')}`)

const results: CaseResult[] = []
for (const size of sections.includes('workloads') ? sizes : []) {
  for (const spec of cases) {
    log(`${spec.name}, ${size} transactions`)
    results.push(await benchCase(spec, { size, runs, workerCounts, warmup: Number(values.warmup), log }))
  }
}

function table(result: CaseResult[]): string {
  const maxW = Math.max(...workerCounts)
  const head = [
    'workload',
    'txs',
    'baseline tx/s',
    ...workerCounts.map((w) => `engine ${w}w tx/s (x baseline)`),
    ...(maxW > 1 ? [`scaling ${maxW}w / 1w`, `ceiling ${maxW}w / 1w`, 'of ceiling'] : []),
    're-executed',
    'fully predicted',
  ]
  const rows = result.map((r) => {
    const e1 = r.engine[1]?.txPerSec.median ?? NaN
    const eMax = r.engine[maxW]!.txPerSec.median
    const scaling = eMax / e1
    const ceiling = r.ceiling[maxW]!.median / r.ceiling[1]!.median
    return [
      r.case,
      fmt(r.size),
      `${fmt(r.baseline.median)} (${fmt(r.baseline.min)}-${fmt(r.baseline.max)})`,
      ...workerCounts.map((w) => {
        const s = r.engine[w]!.txPerSec
        return `${fmt(s.median)} (${fmt(s.min)}-${fmt(s.max)}) **${fmt(s.median / r.baseline.median, 1)}x**`
      }),
      ...(maxW > 1 ? [`${fmt(scaling, 2)}x`, `${fmt(ceiling, 2)}x`, `${fmt((100 * scaling) / ceiling)}%`] : []),
      `${fmt(r.engine[maxW]!.reexecuted.median)}`,
      `${fmt(r.engine[maxW]!.fullyPredicted.median)}/${fmt(r.size)}`,
    ]
  })
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

function timeSplit(result: CaseResult[]): string {
  const maxW = Math.max(...workerCounts)
  const stages: [string, string][] = [
    ['intake', 'intakeMs'],
    ['prediction', 'predictMs'],
    ['partition', 'partitionMs'],
    ['prefetch (slowest worker)', 'workerPrefetchMsMax'],
    ['execution (slowest worker)', 'workerExecuteMsMax'],
    ['load results', 'loadMs'],
    ['validation + re-execution', 'validateMs'],
    ['state root', 'stateRootMs'],
    ['apply', 'applyMs'],
    ['seal', 'sealMs'],
    ['block wall time', 'wallMs'],
  ]
  const head = ['workload', 'txs', ...stages.map(([name]) => `${name} ms`)]
  const rows = result.map((r) => [r.case, fmt(r.size), ...stages.map(([, key]) => fmt(r.engine[maxW]!.timings[key] ?? 0))])
  return [`Where the time goes (engine, ${maxW} worker(s), medians):`, '', `| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

const verified = results.reduce((s, r) => s + r.verifiedBlocks, 0)
const parts = [
  `parevm bench — ${machine.label}: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, keccak ${machine.keccak}, secp256k1 ${machine.secp256k1}, ${machine.date}`,
]
if (results.length > 0) {
  parts.push(
    `baseline: sequential @ethereumjs/vm 10.1.3, default settings (MerkleStateManager, runTx per transaction, pure-JS sender recovery, state root at the end)`,
    `engine: embedded cluster, worker threads, one block of all measured transactions after a warm-up block; ceiling: the same threads executing their own share on their own state copy, no coordination`,
    '',
    table(results),
    '',
    timeSplit(results),
    '',
    `${verified} engine blocks passed the sequential check (outside the timed region).`,
  )
}
let mainnetResult: unknown
if (sections.includes('mainnet')) {
  if (!existsSync(DEFAULT_FIXTURES)) {
    parts.push('', `## Mainnet blocks: skipped (${DEFAULT_FIXTURES} is absent)`)
  } else {
    log('mainnet blocks (bench/mainnet.ts, 1 run, W = the most workers)')
    const mainnet = await benchMainnet({ workers: Math.max(...workerCounts), runs: 1, log })
    mainnetResult = mainnet
    parts.push('', `## Mainnet blocks (${mainnet.rows.length} fixture blocks, runBlock baseline, 1 run)`, '', mainnetTable(mainnet))
  }
}
let gpuResult: unknown
if (sections.includes('gpu')) {
  log('GPU stages (bench/gpu.ts defaults)')
  const probe = await probeWebGpu()
  const gpuOptions = { ...GPU_BENCH_DEFAULTS, backends: undefined, e2e: true, workers: Math.max(2, ...workerCounts), log }
  const stages = await benchStages(gpuOptions)
  const e2e = await benchEndToEnd(gpuOptions)
  gpuResult = { webgpu: probe, stages, e2e }
  parts.push('', `## GPU stages (webgpu: ${probe.ok ? probe.device : `unavailable: ${probe.reason}`})`, '', stageTable(stages), '', e2eTable(e2e))
}
const output = parts.join('\n')
process.stdout.write(`\n${output}\n`)

if (values.out !== undefined) {
  mkdirSync(values.out, { recursive: true })
  const name = machine.label.replace(/[^a-zA-Z0-9._-]/g, '_')
  writeFileSync(join(values.out, `${name}.json`), `${JSON.stringify({ machine, sizes, runs, workerCounts, results, mainnet: mainnetResult, gpu: gpuResult }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`)
  writeFileSync(join(values.out, `${name}.md`), `${output}\n`)
  if (results.length > 0) writeFileSync(join(values.out, `${name}-throughput.svg`), throughputSvg(results, workerCounts, machine.label))
  log(`wrote ${values.out}/${name}.json, .md${results.length > 0 ? ' and -throughput.svg' : ''}`)
}
