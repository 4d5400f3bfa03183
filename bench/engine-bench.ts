/**
 * One benchmark case: a workload block run by the baseline (sequential @ethereumjs/vm, default
 * settings), by the engine with W workers, and by the no-coordination ceiling, in one process
 * on the same transactions. Every engine block is checked against sequential execution after
 * the timed region.
 */
import { availableParallelism } from 'node:os'

import { buildGenesis } from '../shared/chain/genesis.ts'
import { EmbeddedCluster, type BlockEvent } from '../shared/cluster/embedded.ts'
import { decodeRawTx } from '../shared/intake/decode.ts'
import { sharedTxCommon } from '../shared/exec/common-for.ts'
import { createChainCommon } from '../shared/chain/common.ts'
import { nextBlockEnv } from '../shared/chain/next-block.ts'
import { genesisHead } from '../shared/cluster/bootstrap.ts'
import { SequentialVerifier } from '../shared/verify/sequential.ts'
import { generateWorkload, type WorkloadMix } from '../shared/workload/generator.ts'
import { baselineVm, runBaseline } from './baseline.ts'
import { measureCeiling, type CeilingTx } from './ceiling.ts'

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

export interface EngineRun {
  txPerSec: number
  reexecuted: number
  fullyPredicted: number
  timings: Record<string, number>
}

export interface CaseResult {
  case: string
  size: number
  baseline: Stats
  engine: Record<number, { txPerSec: Stats; reexecuted: Stats; fullyPredicted: Stats; timings: Record<string, number> }>
  ceiling: Record<number, Stats>
  verifiedBlocks: number
}

export interface BenchOptions {
  size: number
  runs: number
  workerCounts: number[]
  warmup: number
  log: (line: string) => void
}

export function defaultWorkerCounts(): number[] {
  const cores = availableParallelism()
  return [1, 2, 4, 8, 16].filter((w) => w <= cores)
}

/** Median of per-stage timings over runs. */
function medianTimings(runs: EngineRun[]): Record<string, number> {
  const keys = new Set(runs.flatMap((r) => Object.keys(r.timings)))
  return Object.fromEntries([...keys].map((k) => [k, stats(runs.map((r) => r.timings[k] ?? 0)).median]))
}

export async function benchCase(spec: CaseSpec, o: BenchOptions): Promise<CaseResult> {
  const size = o.size
  const pools = spec.pools === 0 ? Math.max(4, Math.floor(size / 10)) : spec.pools
  // Warm-up senders and measured senders are disjoint (each sends one transaction), so the
  // measured block is valid on the genesis state too (the ceiling runs it there).
  const workload = generateWorkload({ txs: o.warmup + size, mix: spec.mix, accounts: o.warmup + size, hotShare: spec.hotShare, pools, seed: 42 })
  const genesis = () => buildGenesis(workload.genesis)
  const warmTxs = workload.rawTxs.slice(0, o.warmup)
  const measured = workload.rawTxs.slice(o.warmup)
  const g0 = genesis()
  const common = createChainCommon(g0.chainId, g0.hardfork)
  const head = genesisHead(g0)
  const env1 = nextBlockEnv(head, common, { coinbase: g0.coinbase, blockTimeSec: 12 })

  // Baseline: warm-up block untimed, then the measured transactions.
  const baseline: number[] = []
  for (let r = 0; r < o.runs; r++) {
    const vm = await baselineVm(g0)
    await runBaseline(vm, env1, warmTxs)
    const result = await runBaseline(vm, { ...env1, number: '0x2' }, measured)
    baseline.push((result.txs / result.ms) * 1000)
    o.log(`  ${spec.name} ${size}: baseline run ${r + 1}/${o.runs}: ${Math.round((result.txs / result.ms) * 1000)} tx/s`)
  }

  // Engine.
  const engine: CaseResult['engine'] = {}
  let verifiedBlocks = 0
  for (const workers of o.workerCounts) {
    const runs: EngineRun[] = []
    for (let r = 0; r < o.runs; r++) {
      const g = genesis()
      const cluster = await EmbeddedCluster.start({ genesis: g, workers, threads: true, blockSize: Math.max(o.warmup, size), verify: false })
      const events: BlockEvent[] = []
      try {
        await cluster.submit(warmTxs)
        await cluster.runUntilIdle((e) => {
          events.push(e)
        })
        await cluster.submit(measured)
        await cluster.runUntilIdle((e) => {
          events.push(e)
        })
      } finally {
        await cluster.stop()
      }
      const block = events.at(-1)!
      if (block.sealed.report.included !== size) throw new Error(`${spec.name}: engine included ${block.sealed.report.included} of ${size}`)
      runs.push({
        txPerSec: (size / block.wallMs) * 1000,
        reexecuted: block.sealed.report.reexecuted,
        fullyPredicted: block.sealed.report.prediction.txsFullyPredicted,
        timings: { ...block.sealed.report.timings, wallMs: block.wallMs },
      })
      // The sequential check, outside the timed region: a fast wrong answer is not a result.
      const verifier = await SequentialVerifier.fromGenesis(genesis())
      for (const e of events) await verifier.check(e.sealed)
      verifiedBlocks += events.length
      o.log(`  ${spec.name} ${size}: engine ${workers} worker(s) run ${r + 1}/${o.runs}: ${Math.round(runs.at(-1)!.txPerSec)} tx/s, ${runs.at(-1)!.reexecuted} re-executed, verified`)
    }
    engine[workers] = {
      txPerSec: stats(runs.map((r) => r.txPerSec)),
      reexecuted: stats(runs.map((r) => r.reexecuted)),
      fullyPredicted: stats(runs.map((r) => r.fullyPredicted)),
      timings: medianTimings(runs),
    }
  }

  // Ceiling: same transactions, senders recovered ahead (as workers get them), no coordination.
  const txCommon = sharedTxCommon(createChainCommon(g0.chainId, g0.hardfork))
  const toCeiling = (raw: string): CeilingTx => {
    const d = decodeRawTx(raw, { common: txCommon, blockGasLimit: g0.gasLimit })
    if (!d.ok) throw new Error(d.rejection.reason)
    return { raw: d.tx.raw, pubkey: d.tx.senderPubKey, sender: d.tx.senderHex }
  }
  const ceilingTxs = measured.map(toCeiling)
  const ceilingWarmup = warmTxs.map(toCeiling)
  const ceiling: CaseResult['ceiling'] = {}
  for (const workers of o.workerCounts) {
    const samples: number[] = []
    for (let r = 0; r < o.runs; r++) samples.push(await measureCeiling(g0, g0.chain, { ...env1, number: '0x2' }, ceilingTxs, workers, ceilingWarmup))
    ceiling[workers] = stats(samples)
    o.log(`  ${spec.name} ${size}: ceiling ${workers} thread(s): ${Math.round(ceiling[workers].median)} tx/s`)
  }
  return { case: spec.name, size, baseline: stats(baseline), engine, ceiling, verifiedBlocks }
}
