/**
 * One benchmark case: a generated workload run by the engine (embedded cluster, worker
 * threads) with W workers, with warm and with cold prediction templates, and by the two
 * sequential baselines (bench/baseline.ts: default and tuned @ethereumjs/vm) on the engine's
 * own blocks, and by the no-coordination ceiling. All in one process, interleaved round by round
 * (every configuration once per round, the order rotating), so a noisy machine spreads over all.
 *
 * Blocks: an untimed warm-up block of `warmup` transactions from other senders, on the same
 * contracts (it warms the JIT, and trains the prediction templates), then the measured
 * transactions, in blocks of `blockSize` (default: all of them in one block).
 * - warm: the measured blocks run with the templates the warm-up block trained;
 * - cold: the templates are emptied after the warm-up block (the JIT stays warm), so the first
 *   measured block runs as a fresh cluster's first block would: predicted from senders,
 *   recipients and access lists only.
 *
 * Checked, outside the timed region: every engine run's blocks against sequential execution
 * (SequentialVerifier: receipts, header, state root; a run whose chain of block hashes equals
 * one already checked is identical block for block and is not checked twice), and the state
 * root after every measured block equal for the engine and both baselines.
 */
import { availableParallelism } from 'node:os'

import { buildGenesis } from '../shared/chain/genesis.ts'
import { EmbeddedCluster, type BlockEvent } from '../shared/cluster/embedded.ts'
import { sumCriticalPaths, type CriticalPath } from '../shared/cluster/critical-path.ts'
import { decodeRawTx } from '../shared/intake/decode.ts'
import { sharedTxCommon } from '../shared/exec/common-for.ts'
import { createChainCommon } from '../shared/chain/common.ts'
import { nextBlockEnv } from '../shared/chain/next-block.ts'
import { genesisHead } from '../shared/cluster/bootstrap.ts'
import { SequentialVerifier } from '../shared/verify/sequential.ts'
import { generateWorkload, type WorkloadMix } from '../shared/workload/generator.ts'
import { BASELINE_KINDS, runBaseline, type BaselineBlock, type BaselineKind } from './baseline.ts'
import { measureCeiling, type CeilingTx } from './ceiling.ts'

import type { TemplateRegistry } from '../shared/predict/templates.ts'

export interface CaseSpec {
  name: string
  mix: WorkloadMix
  hotShare: number
  pools: number
}

/** The workloads of issue 8. */
export const CASES: CaseSpec[] = [
  { name: 'transfers', mix: 'transfers', hotShare: 0, pools: 1 },
  { name: 'erc20', mix: 'erc20', hotShare: 0, pools: 1 },
  { name: 'amm-spread', mix: 'amm', hotShare: 0, pools: 0 },
  { name: 'amm-hot-pool', mix: 'amm-hot', hotShare: 1, pools: 4 },
  { name: 'mixed', mix: 'mixed', hotShare: 0.1, pools: 0 },
  { name: 'dependent-chain', mix: 'chain', hotShare: 1, pools: 1 },
]

export type TemplateState = 'warm' | 'cold'

/**
 * One engine setting: templates warm or cold, the next block's intake overlapped with this one
 * or not, the next block planned and executed while this one seals (pipelined) or not.
 */
export interface EngineSetting {
  templates: TemplateState
  intakeOverlap: boolean
  pipeline: boolean
}

/** How tables name a setting: "warm", "cold, no intake overlap", "warm, not pipelined". */
export const settingLabel = (s: EngineSetting): string => `${s.templates}${s.intakeOverlap ? '' : ', no intake overlap'}${s.pipeline ? '' : ', not pipelined'}`

/** Every combination of the templates, intake-overlap and pipelining choices. */
export const settingsOf = (templates: readonly TemplateState[], overlaps: readonly boolean[], pipelines: readonly boolean[] = [true]): EngineSetting[] =>
  templates.flatMap((t) => overlaps.flatMap((o) => pipelines.map((p) => ({ templates: t, intakeOverlap: o, pipeline: p }))))

export interface Stats {
  median: number
  min: number
  max: number
  samples: number[]
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted.at(-1)!, samples }
}

/**
 * The engine's stages as its block report times them (ms, summed over the measured blocks), in
 * the order a block goes through them. `other` is the wall time minus all of them: storing the
 * plan and dispatching shards, queue hops, workers reporting done, the coordinator's wait for
 * the last shard, template learning and clean-up after the seal. Load and validation done
 * before the last shard arrived (`earlyLoadMs`, `earlyValidateMs`), and the state-trie writes
 * staged then (`earlyStateRootMs`), ran beside the workers and are not stages of the wall time.
 */
export const STAGES: readonly (readonly [label: string, key: string])[] = [
  ['intake', 'intakeMs'],
  ['speculation', 'speculateMs'],
  ['prediction', 'predictMs'],
  ['partition', 'partitionMs'],
  ['prefetch (slowest worker)', 'workerPrefetchMsMax'],
  ['execution (slowest worker)', 'workerExecuteMsMax'],
  ['plan reading + staging (slowest worker)', 'workerOtherMsMax'],
  ['load results', 'loadMs'],
  ['validation + re-execution', 'validateMs'],
  ['state root', 'stateRootMs'],
  ['receipts + header', 'assembleMs'],
  ['journal', 'journalMs'],
  ['apply', 'applyMs'],
  ['seal', 'sealMs'],
]

export interface EngineRun {
  /** Wall time of the measured blocks (plan to seal, summed). */
  ms: number
  txPerSec: number
  blocks: number
  reexecuted: number
  fullyPredicted: number
  /** Stage times summed over the measured blocks, `other` and `wallMs` included: they add up. */
  stages: Record<string, number>
  /** Of the measured blocks (shared/cluster/critical-path.ts, summed). */
  criticalPath: CriticalPath
  /** Counts for the scale model: actual keys touched, re-executed, and the apply's write transactions. */
  keysActual: number
  applyTransactions: number
  workerPrefetchMsSum: number
  workerExecuteMsSum: number
  /**
   * The coordinator's work before the last shard arrived (load, validation, staged state-trie
   * writes: earlyLoadMs + earlyValidateMs + earlyStateRootMs), beside the workers: not a stage
   * of the wall time, but coordinator time all the same (the scale model counts it). Absent in
   * results written before it was recorded.
   */
  coordinatorEarlyMs?: number
  stateRoot: string
  hashes: string[]
}

export interface EngineResult {
  workers: number
  templates: TemplateState
  /** The next block's intake ran while this one executed (ClusterOptions.intakeOverlap). */
  intakeOverlap: boolean
  /** The next block was planned and executed while this one sealed (ClusterOptions.pipeline). */
  pipeline: boolean
  /** `settingLabel` of the three. */
  setting: string
  txPerSec: Stats
  ms: Stats
  reexecuted: Stats
  fullyPredicted: Stats
  /** Engine tx/s median over each baseline's tx/s median (same rounds, same blocks). */
  vs: Partial<Record<BaselineKind, number>>
  /** The run with the median wall time (the lower middle one for an even count): its stages add up to its wall time. */
  medianRun: EngineRun
  runs: EngineRun[]
}

export interface CaseResult {
  case: string
  size: number
  blockSize: number
  /** Measured blocks per run. */
  blocks: number
  warmup: number
  baselines: Partial<Record<BaselineKind, { txPerSec: Stats; ms: Stats }>>
  engine: EngineResult[]
  ceiling: Record<number, Stats>
  /** State root after the last measured block: engine and baselines agree on it. */
  stateRoot: string
  verified: { checked: number; identical: number }
}

export interface BenchOptions {
  size: number
  /** Transactions per measured block (default: size, one block). */
  blockSize?: number
  runs: number
  workerCounts: number[]
  warmup: number
  templates: TemplateState[]
  /**
   * Intake overlap on and/or off (default on only): with it, the sequencer takes in the next
   * block's transactions while this block executes (what `npm start` does); only a run of
   * several blocks can show the difference.
   */
  intakeOverlap?: boolean[]
  /** Pipelined blocks on and/or off (default on only, as `npm start`); only a run of several blocks can show the difference. */
  pipeline?: boolean[]
  /** Which baselines (default both); none for the scale model's quick measurement. */
  baselines?: BaselineKind[]
  ceiling?: boolean
  log: (line: string) => void
}

export function defaultWorkerCounts(): number[] {
  const cores = availableParallelism()
  return [1, 2, 4, 8, 16].filter((w) => w <= cores)
}

/** Empty a cluster's learned templates (cold runs). */
function clearTemplates(registry: TemplateRegistry): void {
  registry.clear()
  if (registry.size !== 0) throw new Error('cold runs: the template registry is not empty after clearing it')
}

interface EngineRunRaw {
  run: EngineRun
  warmEvents: BlockEvent[]
  events: BlockEvent[]
}

/** A stage's time from the block report; speculation from the plan's stats while the report lacks it. */
function timingOf(e: BlockEvent, key: string): number {
  const reported = e.sealed.report.timings[key]
  if (reported !== undefined) return reported
  if (key === 'speculateMs') return (e.plan.stats as { speculateMs?: number }).speculateMs ?? 0
  return 0
}

function sumOf(events: readonly BlockEvent[], key: string): number {
  return events.reduce((s, e) => s + timingOf(e, key), 0)
}

export function stagesOf(events: readonly BlockEvent[]): Record<string, number> {
  const wallMs = events.reduce((s, e) => s + e.wallMs, 0)
  const stages: Record<string, number> = {}
  let known = 0
  for (const [, key] of STAGES) {
    stages[key] = sumOf(events, key)
    known += stages[key]
  }
  stages.otherMs = wallMs - known
  stages.wallMs = wallMs
  return stages
}

export async function engineRun(genesisFile: Parameters<typeof buildGenesis>[0], warmTxs: readonly string[], measured: readonly string[], workers: number, setting: EngineSetting, blockSize: number): Promise<EngineRunRaw> {
  const { templates } = setting
  const cluster = await EmbeddedCluster.start({ genesis: buildGenesis(genesisFile), workers, threads: true, blockSize: Math.max(warmTxs.length, blockSize), verify: false, intakeOverlap: setting.intakeOverlap, pipeline: setting.pipeline })
  const warmEvents: BlockEvent[] = []
  const events: BlockEvent[] = []
  try {
    await cluster.submit(warmTxs)
    await cluster.runUntilIdle((e) => {
      warmEvents.push(e)
    })
    if (templates === 'cold') clearTemplates(cluster.templates)
    // The cluster's block size is the larger of the two: cut the measured ones at blockSize.
    await cluster.submit(measured)
    await cluster.runUntilIdle((e) => {
      events.push(e)
    })
  } finally {
    await cluster.stop()
  }
  const included = events.reduce((s, e) => s + e.sealed.report.included, 0)
  if (included !== measured.length) throw new Error(`engine included ${included} of ${measured.length} measured transactions`)
  const ms = events.reduce((s, e) => s + e.wallMs, 0)
  const run: EngineRun = {
    ms,
    txPerSec: (measured.length / ms) * 1000,
    blocks: events.length,
    reexecuted: events.reduce((s, e) => s + e.sealed.report.reexecuted, 0),
    fullyPredicted: events.reduce((s, e) => s + e.sealed.report.prediction.txsFullyPredicted, 0),
    stages: stagesOf(events),
    criticalPath: sumCriticalPaths(events.map((e) => e.criticalPath)),
    keysActual: events.reduce((s, e) => s + e.sealed.report.prediction.keysActual, 0),
    applyTransactions: sumOf(events, 'applyTransactions'),
    workerPrefetchMsSum: sumOf(events, 'workerPrefetchMsSum'),
    coordinatorEarlyMs: sumOf(events, 'earlyLoadMs') + sumOf(events, 'earlyValidateMs') + sumOf(events, 'earlyStateRootMs'),
    workerExecuteMsSum: sumOf(events, 'workerExecuteMsSum'),
    stateRoot: events.at(-1)!.sealed.head.stateRoot,
    hashes: [...warmEvents, ...events].map((e) => e.sealed.record.hash),
  }
  return { run, warmEvents, events }
}

type Config = { kind: 'engine'; workers: number; setting: EngineSetting } | { kind: 'baseline'; baseline: BaselineKind } | { kind: 'ceiling'; workers: number }

const configName = (c: Config): string => (c.kind === 'engine' ? `engine ${c.workers}w ${settingLabel(c.setting)}` : c.kind === 'baseline' ? `baseline ${c.baseline}` : `ceiling ${c.workers} thread(s)`)

/** A case's workload: the untimed warm-up transactions, then the measured ones (seeded: the same in every process). */
export function caseWorkload(spec: CaseSpec, size: number, warmup: number): { workload: ReturnType<typeof generateWorkload>; warmTxs: string[]; measured: string[] } {
  const pools = spec.pools === 0 ? Math.max(4, Math.floor(size / 10)) : spec.pools
  // Warm-up senders and measured senders are disjoint (each sends one transaction), so the
  // measured transactions are valid on the genesis state too (the ceiling runs them there).
  const workload = generateWorkload({ txs: warmup + size, mix: spec.mix, accounts: warmup + size, hotShare: spec.hotShare, pools, seed: 42 })
  return { workload, warmTxs: workload.rawTxs.slice(0, warmup), measured: workload.rawTxs.slice(warmup) }
}

export async function benchCase(spec: CaseSpec, o: BenchOptions): Promise<CaseResult> {
  const size = o.size
  const blockSize = o.blockSize ?? size
  const { workload, warmTxs, measured } = caseWorkload(spec, size, o.warmup)
  const g0 = buildGenesis(workload.genesis)
  const label = `${spec.name} ${size}${blockSize < size ? ` in blocks of ${blockSize}` : ''}`

  const configs: Config[] = []
  // Engine runs first in round 1: the baselines run the blocks the engine sealed.
  const settings = settingsOf(o.templates, o.intakeOverlap ?? [true], o.pipeline ?? [true])
  for (const workers of o.workerCounts) for (const setting of settings) configs.push({ kind: 'engine', workers, setting })
  for (const baseline of o.baselines ?? BASELINE_KINDS) configs.push({ kind: 'baseline', baseline })
  if (o.ceiling !== false) for (const workers of o.workerCounts) configs.push({ kind: 'ceiling', workers })

  // The ceiling: the measured transactions with senders recovered ahead (as workers get them).
  let ceilingInput: { txs: CeilingTx[]; warmup: CeilingTx[] } | undefined
  const ceilingTxs = (): { txs: CeilingTx[]; warmup: CeilingTx[] } => {
    if (ceilingInput !== undefined) return ceilingInput
    const txCommon = sharedTxCommon(createChainCommon(g0.chainId, g0.hardfork))
    const toCeiling = (raw: string): CeilingTx => {
      const d = decodeRawTx(raw, { common: txCommon, blockGasLimit: g0.gasLimit })
      if (!d.ok) throw new Error(d.rejection.reason)
      return { raw: d.tx.raw, pubkey: d.tx.senderPubKey, sender: d.tx.senderHex }
    }
    ceilingInput = { txs: measured.map(toCeiling), warmup: warmTxs.map(toCeiling) }
    return ceilingInput
  }
  const common = createChainCommon(g0.chainId, g0.hardfork)
  const ceilingEnv = { ...nextBlockEnv(genesisHead(g0), common, { coinbase: g0.coinbase, blockTimeSec: 12 }), number: '0x2' }

  let reference: { warm: BaselineBlock[]; measured: BaselineBlock[]; roots: string[] } | undefined
  const engineRuns = new Map<string, EngineRun[]>()
  const baselineRuns = new Map<BaselineKind, { ms: number; txPerSec: number }[]>()
  const ceilingRuns = new Map<number, number[]>()
  const checkedChains = new Set<string>()
  const verified = { checked: 0, identical: 0 }

  for (let round = 0; round < o.runs; round++) {
    const order = configs.map((_, i) => configs[(i + round) % configs.length]!)
    for (const c of order) {
      const tag = `  ${label}: round ${round + 1}/${o.runs}: ${configName(c)}`
      if (c.kind === 'engine') {
        const { run, warmEvents, events } = await engineRun(workload.genesis, warmTxs, measured, c.workers, c.setting, blockSize)
        // Outside the timed region: the sequential check (once per distinct chain of blocks).
        const chain = run.hashes.join(',')
        if (checkedChains.has(chain)) verified.identical += run.hashes.length
        else {
          const t = performance.now()
          const verifier = await SequentialVerifier.fromGenesis(buildGenesis(workload.genesis))
          for (const e of [...warmEvents, ...events]) await verifier.check(e.sealed)
          checkedChains.add(chain)
          verified.checked += run.hashes.length
          o.log(`${tag}: ${run.hashes.length} block(s) passed the sequential check (${Math.round(performance.now() - t)} ms, untimed)`)
        }
        if (reference === undefined) {
          const asBlock = (e: BlockEvent): BaselineBlock => ({ env: e.sealed.env, raws: e.sealed.raws })
          reference = { warm: warmEvents.map(asBlock), measured: events.map(asBlock), roots: events.map((e) => e.sealed.head.stateRoot) }
        } else if (run.stateRoot !== reference.roots.at(-1)) {
          throw new Error(`${label}: ${configName(c)} ends at state root ${run.stateRoot}, the first engine run at ${reference.roots.at(-1)} (the measured transactions were cut into blocks differently)`)
        }
        const key = `${c.workers}:${settingLabel(c.setting)}`
        engineRuns.set(key, [...(engineRuns.get(key) ?? []), run])
        o.log(`${tag}: ${Math.round(run.txPerSec)} tx/s, ${run.blocks} block(s), ${run.reexecuted} re-executed, ${run.fullyPredicted}/${size} fully predicted`)
      } else if (c.kind === 'baseline') {
        if (reference === undefined) throw new Error('internal: a baseline ran before any engine run')
        const r = await runBaseline(c.baseline, buildGenesis(workload.genesis), reference.warm, reference.measured)
        r.stateRoots.forEach((root, i) => {
          if (root !== reference!.roots[i]) throw new Error(`${label}: baseline ${c.baseline} reaches state root ${root} after measured block ${i + 1}, the engine ${reference!.roots[i]}`)
        })
        const txPerSec = (r.txs / r.ms) * 1000
        baselineRuns.set(c.baseline, [...(baselineRuns.get(c.baseline) ?? []), { ms: r.ms, txPerSec }])
        o.log(`${tag}: ${Math.round(txPerSec)} tx/s, same state root as the engine`)
      } else {
        const { txs, warmup } = ceilingTxs()
        const txPerSec = await measureCeiling(g0, g0.chain, ceilingEnv, txs, c.workers, warmup)
        ceilingRuns.set(c.workers, [...(ceilingRuns.get(c.workers) ?? []), txPerSec])
        o.log(`${tag}: ${Math.round(txPerSec)} tx/s`)
      }
    }
  }

  const baselines: CaseResult['baselines'] = {}
  for (const [kind, list] of baselineRuns) baselines[kind] = { txPerSec: stats(list.map((r) => r.txPerSec)), ms: stats(list.map((r) => r.ms)) }
  const engine: EngineResult[] = []
  for (const workers of o.workerCounts) {
    for (const setting of settings) {
      const { templates } = setting
      const runs = engineRuns.get(`${workers}:${settingLabel(setting)}`)!
      const byMs = [...runs].sort((a, b) => a.ms - b.ms)
      const medianRun = byMs[Math.floor((byMs.length - 1) / 2)]!
      const txPerSec = stats(runs.map((r) => r.txPerSec))
      const vs = Object.fromEntries(Object.entries(baselines).map(([k, b]) => [k, txPerSec.median / b.txPerSec.median])) as Partial<Record<BaselineKind, number>>
      engine.push({
        workers,
        templates,
        intakeOverlap: setting.intakeOverlap,
        pipeline: setting.pipeline,
        setting: settingLabel(setting),
        txPerSec,
        ms: stats(runs.map((r) => r.ms)),
        reexecuted: stats(runs.map((r) => r.reexecuted)),
        fullyPredicted: stats(runs.map((r) => r.fullyPredicted)),
        vs,
        medianRun,
        runs,
      })
    }
  }
  const ceiling: CaseResult['ceiling'] = {}
  for (const [w, list] of ceilingRuns) ceiling[w] = stats(list)
  return {
    case: spec.name,
    size,
    blockSize,
    blocks: reference!.measured.length,
    warmup: o.warmup,
    baselines,
    engine,
    ceiling,
    stateRoot: reference!.roots.at(-1)!,
    verified,
  }
}
