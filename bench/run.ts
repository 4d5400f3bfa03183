/**
 * `npm run bench`: the engine against two sequential @ethereumjs/vm baselines (default and
 * tuned: bench/baseline.ts) and against the machine's own no-coordination ceiling, measured
 * side by side in one run, interleaved; results written to bench/results/ (JSON + Markdown,
 * with the machine, the command, the commit and the date).
 *
 *   npm run bench                                  workloads at 1,000 transactions, 3 runs; mainnet; gpu
 *   npm run bench -- --sections workloads --cases erc20,transfers --sizes 2000 --runs 5 --workers 1,2
 *   npm run bench -- --sections workloads --cases erc20 --sizes 50000 --block-size 1000
 *   npm run bench -- --sections workloads --cases erc20 --sizes 50000 --block-size 1000 --intake-overlap both
 *   npm run bench -- --sections workloads --cases erc20 --sizes 50000 --block-size 1000 --pipeline both
 *   npm run bench -- --sections workloads --templates cold          only the cold case
 *   npm run bench -- --sections workloads --baselines tuned         only the tuned baseline
 *   npm run bench -- --sections mainnet --workers 1,2 --mainnet-runs 3
 *   npm run bench -- --sections mainnet --workers 1,2 --replay-speculate on      replay with code hashes and speculation
 *   npm run bench -- --sections mainnet --workers 1,2 --tuned-jump-cache         the tuned baseline with the engine's jump-analysis cache
 *   npm run bench -- --sections model                               the scale model (a projection)
 *   npm run bench -- --sections model --model-from bench/results/2-core-vm-10000-two-baselines.json --model-block 1000
 *   npm run bench -- --sections model --model-ingress on --model-ingress-concurrency 32 --model-ingress-batch 10
 *   npm run bench -- --label 16-core-10000 --out bench/results      the result files' name and folder
 *   npm run bench -- --no-write                                     print only
 *
 * Sections: `workloads` (bench/engine-bench.ts: generated workloads), `mainnet` (bench/mainnet.ts:
 * the fixture blocks of test/fixtures/mainnet-blocks, W = the most workers), `gpu`
 * (bench/gpu.ts: each GPU stage against its CPU implementations, and end to end), `model`
 * (bench/model.ts: throughput projected to 1-256 workers on AWS from the measured stage costs:
 * this invocation's workloads, --model-from <result.json>, or a quick erc20 measurement).
 * Default: workloads, mainnet, gpu.
 *
 * Model options: --model-from <result.json>, --model-block <transactions per block> (default:
 * the measured block size), --model-txs-per-message <n> (transactions per ingress message,
 * default 1), --model-ingress on|off|both (without and/or with the ingress function,
 * `-c ingressFunction=true`; default both; `on` times the decoded-queue path on this machine
 * first, a second or two), --model-ingress-concurrency <2..1000> (the event source's maximum
 * concurrency; default: infra/config.ts's ingressConcurrency), --model-ingress-batch <1..10>
 * (messages per invocation; default: the construct's batch size).
 *
 * Every figure is the median of the runs with its range (min-max); ratios are of medians from
 * the same rounds. Every engine block passes the sequential check outside the timed region.
 */
import { existsSync, readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

import { probeWebGpu } from '../shared/gpu/backend.ts'
import { defaultAcceleratorSettings } from '../shared/gpu/defaults.ts'
import { benchEndToEnd, benchStages, e2eTable, GPU_BENCH_DEFAULTS, stageTable } from './gpu.ts'
import { benchMainnet, DEFAULT_FIXTURES, mainnetTable } from './mainnet.ts'
import { benchCase, CASES, defaultWorkerCounts, settingLabel, settingsOf, STAGES, type CaseResult, type EngineResult, type TemplateState } from './engine-bench.ts'
import { BASELINE_KINDS, BASELINE_LABELS, type BaselineKind } from './baseline.ts'
import { costsFrom, measureDecodedIntake, modelMarkdown, PAREVM_SETTINGS, projectDeployments, type IngressModes, type ModelReport } from './model.ts'
import { throughputSvg } from './plot.ts'
import { resultMeta, metaMarkdown, writeResult } from './results.ts'

const { values } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h', default: false },
    cases: { type: 'string' },
    sizes: { type: 'string' },
    'block-size': { type: 'string' },
    runs: { type: 'string', default: '3' },
    workers: { type: 'string' },
    warmup: { type: 'string', default: '200' },
    templates: { type: 'string', default: 'warm,cold' },
    'intake-overlap': { type: 'string', default: 'on' },
    pipeline: { type: 'string', default: 'on' },
    baselines: { type: 'string', default: 'default,tuned' },
    full: { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results' },
    'no-write': { type: 'boolean', default: false },
    label: { type: 'string' },
    sections: { type: 'string', default: 'workloads,mainnet,gpu' },
    'mainnet-runs': { type: 'string', default: '1' },
    'replay-speculate': { type: 'string', default: 'off' },
    'tuned-jump-cache': { type: 'boolean', default: false },
    'mainnet-blocks': { type: 'string' },
    'model-from': { type: 'string' },
    'model-block': { type: 'string' },
    'model-txs-per-message': { type: 'string', default: '1' },
    'model-ingress': { type: 'string', default: 'both' },
    'model-ingress-concurrency': { type: 'string' },
    'model-ingress-batch': { type: 'string' },
  },
})

if (values.help) {
  // The usage is this file's own header comment, so the two cannot disagree.
  const header = readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!
  console.log(header.replace(/^\/\*\*\n?/, '').split('\n').map((l) => l.replace(/^ \* ?/, '')).join('\n').trim())
  process.exit(0)
}

const SECTIONS = ['workloads', 'mainnet', 'gpu', 'model']
const sections = values.sections.split(',')
for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--sections: unknown section ${s} (known: ${SECTIONS.join(', ')})`)

const sizes = (values.sizes ?? (values.full ? '1000,10000' : '1000')).split(',').map(Number)
const blockSize = values['block-size'] === undefined ? undefined : Number(values['block-size'])
const runs = Number(values.runs)
const mainnetRuns = Number(values['mainnet-runs'])
const workerCounts = values.workers === undefined ? defaultWorkerCounts() : values.workers.split(',').map(Number)
const templates = values.templates.split(',') as TemplateState[]
for (const t of templates) if (t !== 'warm' && t !== 'cold') throw new Error(`--templates: warm and/or cold (got ${t})`)
const overlapChoices: Record<string, boolean[]> = { on: [true], off: [false], both: [true, false] }
const intakeOverlaps = overlapChoices[values['intake-overlap']]
if (intakeOverlaps === undefined) throw new Error(`--intake-overlap: on, off or both (got ${values['intake-overlap']})`)
const pipelines = overlapChoices[values.pipeline]
if (pipelines === undefined) throw new Error(`--pipeline: on, off or both (got ${values.pipeline})`)
const baselineKinds = values.baselines.split(',') as BaselineKind[]
for (const b of baselineKinds) if (!BASELINE_KINDS.includes(b)) throw new Error(`--baselines: default and/or tuned (got ${b})`)
const cases = values.cases === undefined ? CASES : CASES.filter((c) => values.cases!.split(',').includes(c.name))
if (cases.length === 0) throw new Error(`--cases: none of ${values.cases} (known: ${CASES.map((c) => c.name).join(', ')})`)
const modelBlock = values['model-block'] === undefined ? undefined : Number(values['model-block'])
const txsPerMessage = Number(values['model-txs-per-message'])
const modelIngress = values['model-ingress'] as IngressModes
if (!['on', 'off', 'both'].includes(modelIngress)) throw new Error(`--model-ingress: on, off or both (got ${modelIngress})`)
const ingressConcurrency = Number(values['model-ingress-concurrency'] ?? PAREVM_SETTINGS.ingressConcurrency)
if (!Number.isInteger(ingressConcurrency) || ingressConcurrency < 2 || ingressConcurrency > 1000) throw new Error(`--model-ingress-concurrency: an integer 2..1000 (got ${values['model-ingress-concurrency']})`)
const ingressBatch = Number(values['model-ingress-batch'] ?? PAREVM_SETTINGS.ingressBatchSize)
if (!Number.isInteger(ingressBatch) || ingressBatch < 1 || ingressBatch > 10) throw new Error(`--model-ingress-batch: an integer 1..10 (got ${values['model-ingress-batch']})`)
for (const n of [...sizes, runs, mainnetRuns, ...workerCounts, Number(values.warmup), txsPerMessage, ...(blockSize !== undefined ? [blockSize] : []), ...(modelBlock !== undefined ? [modelBlock] : [])]) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench options must be positive integers (got ${n})`)
}

const meta = resultMeta(values.label)
const fmt = (n: number, d = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-')
const log = (line: string): void => {
  process.stderr.write(`${line}\n`)
}
log(`parevm bench on ${meta.machine.cpu} (${meta.machine.cores} cores), ${meta.machine.node}; sections ${sections.join(', ')}; sizes ${sizes.join(', ')}${blockSize !== undefined ? ` in blocks of ${blockSize}` : ''}, ${runs} runs, workers ${workerCounts.join(', ')}, templates ${templates.join(', ')}, intake overlap ${values['intake-overlap']}, pipelined ${values.pipeline}`)

const results: CaseResult[] = []
for (const size of sections.includes('workloads') ? sizes : []) {
  for (const spec of cases) {
    log(`${spec.name}, ${size} transactions${blockSize !== undefined && blockSize < size ? ` in blocks of ${blockSize}` : ''}`)
    results.push(await benchCase(spec, { size, ...(blockSize !== undefined ? { blockSize } : {}), runs, workerCounts, warmup: Number(values.warmup), templates, intakeOverlap: intakeOverlaps, pipeline: pipelines, baselines: baselineKinds, log }))
  }
}

const range = (s: { median: number; min: number; max: number }): string => `${fmt(s.median)} (${fmt(s.min)}-${fmt(s.max)})`
const sizeCell = (r: CaseResult): string => `${fmt(r.size)}${r.blocks > 1 ? ` (${r.blocks} blocks of ${fmt(r.blockSize)})` : ''}`
const engineOf = (r: CaseResult, w: number, setting: string): EngineResult | undefined => r.engine.find((e) => e.workers === w && e.setting === setting)
/** The engine settings measured (templates x intake overlap), as the tables name them. */
const settingLabels = settingsOf(templates, intakeOverlaps, pipelines).map(settingLabel)
const markdownTable = (head: string[], rows: string[][]): string => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')

function throughputTable(list: CaseResult[]): string {
  const maxW = Math.max(...workerCounts)
  const head = [
    'workload',
    'templates',
    'txs',
    'default baseline tx/s',
    'tuned baseline tx/s',
    ...workerCounts.map((w) => `engine ${w}w tx/s (x default, x tuned)`),
    ...(maxW > 1 && workerCounts.includes(1) ? [`scaling ${maxW}w / 1w`, `ceiling ${maxW}w / 1w`, 'of ceiling'] : []),
    `re-executed (${maxW}w)`,
    `fully predicted (${maxW}w)`,
  ]
  const rows: string[][] = []
  for (const r of list) {
    for (const t of settingLabels) {
      const eMax = engineOf(r, maxW, t)!
      const e1 = engineOf(r, 1, t)
      const scaling = e1 === undefined ? NaN : eMax.txPerSec.median / e1.txPerSec.median
      const ceiling = (r.ceiling[maxW]?.median ?? NaN) / (r.ceiling[1]?.median ?? NaN)
      rows.push([
        r.case,
        t,
        sizeCell(r),
        r.baselines.default === undefined ? '-' : range(r.baselines.default.txPerSec),
        r.baselines.tuned === undefined ? '-' : range(r.baselines.tuned.txPerSec),
        ...workerCounts.map((w) => {
          const e = engineOf(r, w, t)!
          return `${range(e.txPerSec)} **${fmt(e.vs.default ?? NaN, 1)}x**, **${fmt(e.vs.tuned ?? NaN, 2)}x**`
        }),
        ...(maxW > 1 && workerCounts.includes(1) ? [`${fmt(scaling, 2)}x`, `${fmt(ceiling, 2)}x`, `${fmt((100 * scaling) / ceiling)}%`] : []),
        fmt(eMax.reexecuted.median),
        `${fmt(eMax.fullyPredicted.median)}/${fmt(r.size)}`,
      ])
    }
  }
  return markdownTable(head, rows)
}

function stageTableOf(list: CaseResult[]): string {
  const head = ['workload', 'templates', 'workers', ...STAGES.map(([label]) => `${label} ms`), 'other ms', 'block wall ms']
  const rows: string[][] = []
  for (const r of list) {
    for (const t of settingLabels) {
      for (const w of workerCounts) {
        const s = engineOf(r, w, t)!.medianRun.stages
        rows.push([r.case, t, String(w), ...STAGES.map(([, k]) => fmt(s[k] ?? 0)), fmt(s.otherMs ?? 0), fmt(s.wallMs ?? 0)])
      }
    }
  }
  return markdownTable(head, rows)
}

function criticalPathTable(list: CaseResult[]): string {
  const head = ['workload', 'templates', 'workers', 'wall ms', 'parallel ms as it ran (slowest worker + busiest intake thread)', 'serial ms (wall - parallel)', 'serial fraction', 'Amdahl bound 16w', 'Amdahl bound 64w']
  const rows: string[][] = []
  for (const r of list) {
    for (const t of settingLabels) {
      for (const w of workerCounts) {
        const p = engineOf(r, w, t)!.medianRun.criticalPath
        rows.push([r.case, t, String(w), fmt(p.wallMs), fmt(p.slowestWorkerMs), fmt(p.serialMs), `${fmt(100 * p.serialFraction, 1)}%`, `${fmt(p.amdahl16, 1)}x`, `${fmt(p.amdahl64, 1)}x`])
      }
    }
  }
  return markdownTable(head, rows)
}

const parts: string[] = []
if (results.length > 0) {
  const verified = results.reduce((s, r) => ({ checked: s.checked + r.verified.checked, identical: s.identical + r.verified.identical }), { checked: 0, identical: 0 })
  parts.push(
    '## Workloads',
    '',
    `- default baseline: ${BASELINE_LABELS.default}`,
    `- tuned baseline: ${BASELINE_LABELS.tuned}`,
    `- engine: embedded cluster, worker threads; an untimed warm-up block of ${values.warmup} transactions from other senders on the same contracts, then the measured transactions (in blocks of --block-size, default one block). **warm**: the measured blocks run with the templates the warm-up block trained (so "fully predicted" is the warm case); **cold**: the templates are emptied after the warm-up block (the JIT stays warm): the first measured block is predicted as a fresh cluster's first block (with the sequencer's speculative pre-execution; later measured blocks of the run learn as usual). With **intake overlap** (the default, as \`npm start\`) the sequencer takes in block N+1's transactions while block N executes and seals; **pipelined** (the default, as \`npm start\`; shared/cluster/pipeline.ts) block N+1 is planned and executed once block N is settled, while N's state root, receipts, header, journal, apply and seal finish, and a pipelined block's wall time runs from its parent's seal to its own. "no intake overlap": each block's intake starts after the previous seal; "not pipelined": each block is planned after the previous seal.`,
    `- baselines run the engine's own sealed blocks (same transactions, order and header fields) from the same genesis, after the same warm-up block; the state root after every measured block is the same for the engine and both baselines (checked). Timed for all: decoding and sender recovery, execution, state root; tx/s = measured transactions / summed block times.`,
    `- ceiling: the same number of threads each executing its own share of the measured transactions on its own state copy, senders recovered ahead, no coordination.`,
    `- ${runs} round(s); in each round every configuration runs once, the order rotating; figures are medians with (min-max); ratios are engine median over baseline median.`,
    '',
    throughputTable(results),
    '',
    'Where the time goes: the engine\'s stages (its block report), summed over the measured blocks, of the run with the median wall time; `other` is the wall time minus the stages (storing the plan and dispatching, queue hops, workers reporting done, waiting for the last shard, template learning after the seal; load and validation before the last shard ran beside the workers and are not in these columns; negative where stages overlap, e.g. the next block\'s intake during this one): the columns add up to the wall time.',
    '',
    stageTableOf(results),
    '',
    'Critical path (shared/cluster/critical-path.ts, of the same median runs): the parallel part is the workers\' shard handling (plan reading, prefetch, execution, staging; a worker\'s shards added up) and the intake threads\' work (decoding, sender recovery, hashing: more threads or ingress functions shorten it); serial ms = wall minus the slowest worker and the busiest intake thread; serial fraction = serial / (serial + all workers\' and intake threads\' work); Amdahl\'s bound on the speedup over one worker.',
    '',
    criticalPathTable(results),
    '',
    `${verified.checked} engine blocks passed the sequential check (outside the timed region); ${verified.identical} more had the same chain of block hashes as a checked run (identical blocks, not checked twice).`,
  )
}

let mainnetResult: unknown
if (sections.includes('mainnet')) {
  if (!existsSync(DEFAULT_FIXTURES)) {
    parts.push('', `## Mainnet blocks: skipped (${DEFAULT_FIXTURES} is absent)`)
  } else {
    const W = Math.max(...workerCounts)
    const replaySpeculate = values['replay-speculate']
    if (replaySpeculate !== 'on' && replaySpeculate !== 'off') throw new Error(`--replay-speculate: on or off (got ${replaySpeculate})`)
    const tunedJumpCache = values['tuned-jump-cache'] === true
    log(`mainnet blocks (bench/mainnet.ts, ${mainnetRuns} run(s), W = ${W}, replay speculation ${replaySpeculate}${tunedJumpCache ? ', the tuned baseline with the engine\'s jump-analysis cache' : ''})`)
    const mainnet = await benchMainnet({ workers: W, runs: mainnetRuns, speculate: replaySpeculate === 'on', tunedJumpCache, ...(values['mainnet-blocks'] !== undefined ? { blocks: values['mainnet-blocks'].split(',') } : {}), log })
    mainnetResult = mainnet
    parts.push('', `## Mainnet blocks (${mainnet.rows.length} fixture blocks; default and tuned baselines on runBlock${tunedJumpCache ? ', the tuned one with the engine\'s jump-analysis cache' : ''}; engine 1 and ${W} workers)`, '', mainnetTable(mainnet))
  }
}

let gpuResult: unknown
if (sections.includes('gpu')) {
  log('GPU stages (bench/gpu.ts defaults)')
  const probe = await probeWebGpu(defaultAcceleratorSettings().gpu.dawnFlags)
  const gpuOptions = { ...GPU_BENCH_DEFAULTS, backends: undefined, e2e: true, workers: Math.max(2, ...workerCounts), log }
  const stages = await benchStages(gpuOptions)
  const e2e = await benchEndToEnd(gpuOptions)
  gpuResult = { webgpu: probe, stages, e2e }
  parts.push('', `## GPU stages (webgpu: ${probe.ok ? probe.device : `unavailable: ${probe.reason}`})`, '', stageTable(stages), '', e2eTable(e2e))
}

let modelResult: ModelReport | undefined
if (sections.includes('model')) {
  let source: CaseResult | undefined = results.find((r) => r.case === 'erc20') ?? results[0]
  if (source === undefined && values['model-from'] !== undefined) {
    const file = JSON.parse(readFileSync(values['model-from'], 'utf8')) as { workloads?: CaseResult[] }
    source = file.workloads?.find((r) => r.case === 'erc20') ?? file.workloads?.[0]
    if (source === undefined) throw new Error(`--model-from ${values['model-from']}: no workloads in it`)
  }
  if (source === undefined) {
    const size = sizes[0]!
    log(`scale model: a quick measurement (erc20, ${size} transactions, 1 worker, warm, 1 run, no baselines)`)
    source = await benchCase(CASES.find((c) => c.name === 'erc20')!, { size, runs: 1, workerCounts: [1], warmup: Number(values.warmup), templates: ['warm'], baselines: [], ceiling: false, log })
  }
  let decoded
  if (modelIngress !== 'off') {
    log(`scale model: timing the decoded-queue path on this machine (erc20, ${txsPerMessage} per ingress message)`)
    decoded = measureDecodedIntake({ txsPerMessage })
  }
  modelResult = projectDeployments(costsFrom(source), {
    ...(modelBlock !== undefined ? { blockSize: modelBlock } : {}),
    txsPerMessage,
    ingress: modelIngress,
    ...(decoded !== undefined ? { decoded } : {}),
    concurrency: ingressConcurrency,
    batchSize: ingressBatch,
  })
  parts.push('', '## Scale model (projection)', '', modelMarkdown(modelResult))
}

const output = parts.join('\n')
process.stdout.write(`\n${metaMarkdown(meta)}\n\n${output}\n`)

if (!values['no-write']) {
  const data = {
    options: { sections, sizes, blockSize, runs, workerCounts, warmup: Number(values.warmup), templates, intakeOverlap: values['intake-overlap'], pipeline: values.pipeline, baselines: baselineKinds, mainnetRuns, replaySpeculate: values['replay-speculate'], tunedJumpCache: values['tuned-jump-cache'] },
    workloads: results,
    mainnet: mainnetResult,
    gpu: gpuResult,
    model: modelResult,
  }
  const extra = results.length > 0 ? { '-throughput.svg': throughputSvg(results, workerCounts, meta.label) } : {}
  const paths = writeResult(values.out, meta, data, output, extra)
  log(`wrote ${paths.join(', ')}`)
}
