/**
 * The sequencer's dependency stage: for every connected group of a block that is heavier than
 * a shard's fair share (the critical path of today's partition), build its read-after-write
 * matrix (the `conflict` GPU stage where it pays, else the exact CPU builder) and let the split
 * model (split.ts) decide whether pieces on several shards beat one serial shard. The result
 * plugs into `partitionBlock` as its `splitGroup` option.
 *
 * A planner is made with its settings (`split`: `auto`, split where the model predicts a gain,
 * or `off`) and the GPU context of its `conflict` stage; the sequencer takes one through its
 * deps. The entry points use the thread's default (`PAREVM_DAG_SPLIT`, read in
 * shared/gpu/defaults.ts).
 */
import { defaultAcceleratorSettings, defaultGpuContext } from '../gpu/defaults.ts'
import { bitmapDependencies, coversExact, exactDependencies, type AccessSets } from './dependencies.ts'
import { CRITICAL_SHARE, lanesOf, SPLIT_MIN_RATIO, splitGroup, type SplitEstimate } from './split.ts'

import type { SplitSetting } from '../gpu/config.ts'
import type { GpuBackend } from '../gpu/backend.ts'
import type { GpuContext } from '../gpu/context.ts'
import type { PartitionOptions } from '../partition/partition.ts'
import type { StateKey } from '../state/keys.ts'

/** Largest group analysed (its matrix is n^2/8 bytes: 32 MiB at this size). */
export const MAX_DAG_TXS = 16_384

export type { SplitSetting } from '../gpu/config.ts'

export interface DependencyPlannerOptions {
  /** Split heavy groups where the model predicts a gain (`auto`, the default) or never (`off`). */
  split?: SplitSetting
  /** The GPU context of the `conflict` stage (default: none, the exact CPU builder). */
  gpu?: GpuContext
}

export interface ScheduleStats {
  /** Groups heavier than SPLIT_MIN_RATIO x the shard target, analysed. */
  groupsAnalysed: number
  groupsSplit: number
  /** Re-executions the model predicts for the splits it made. */
  predictedReexecutions: number
  /** Matrices built by the kernel / by the exact CPU builder. */
  gpuMatrices: number
  cpuMatrices: number
  analyseMs: number
  estimates: SplitEstimate[]
}

export interface SchedulableTx extends AccessSets {
  gas: number
}

/** Connected groups as partition.ts forms them: transactions sharing a key someone writes. */
export function connectedGroups(txs: readonly AccessSets[]): number[][] {
  const parent = new Int32Array(txs.length)
  for (let i = 0; i < txs.length; i++) parent[i] = i
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]!]!
    return x
  }
  const written = new Set<StateKey>()
  for (const tx of txs) for (const key of tx.writes) written.add(key)
  const first = new Map<StateKey, number>()
  txs.forEach((tx, i) => {
    for (const list of [tx.reads, tx.writes]) {
      for (const key of list) {
        if (!written.has(key)) continue
        const f = first.get(key)
        if (f === undefined) first.set(key, i)
        else {
          const a = find(f)
          const b = find(i)
          if (a !== b) parent[Math.max(a, b)] = Math.min(a, b)
        }
      }
    }
  })
  const groups = new Map<number, number[]>()
  for (let i = 0; i < txs.length; i++) {
    const r = find(i)
    const g = groups.get(r)
    if (g === undefined) groups.set(r, [i])
    else g.push(i)
  }
  return [...groups.values()]
}

/** Per transaction, the latest earlier writer of a key it reads (-1: none): O(keys). */
export function latestWriters(txs: readonly AccessSets[]): Int32Array {
  const latest = new Int32Array(txs.length).fill(-1)
  const lastWriter = new Map<StateKey, number>()
  txs.forEach((tx, i) => {
    for (const key of tx.reads) {
      const w = lastWriter.get(key)
      if (w !== undefined && w !== i && w > latest[i]!) latest[i] = w
    }
    for (const key of tx.writes) lastWriter.set(key, i)
  })
  return latest
}

export class DependencyPlanner {
  readonly setting: SplitSetting
  private readonly gpu: GpuContext | undefined
  lastStats: ScheduleStats | undefined
  /** Since this planner was made: blocks analysed, groups analysed and split, predicted re-executions. */
  readonly totals = { blocks: 0, groupsAnalysed: 0, groupsSplit: 0, predictedReexecutions: 0 }

  constructor(options: DependencyPlannerOptions = {}) {
    this.setting = options.split ?? 'auto'
    this.gpu = options.gpu
  }

  /** Partition options for this block (empty when nothing is worth splitting). */
  async analyse(txs: readonly SchedulableTx[], shardCount: number): Promise<PartitionOptions> {
    const t0 = performance.now()
    const stats: ScheduleStats = { groupsAnalysed: 0, groupsSplit: 0, predictedReexecutions: 0, gpuMatrices: 0, cpuMatrices: 0, analyseMs: 0, estimates: [] }
    this.lastStats = stats
    if (this.setting === 'off' || shardCount < 2 || txs.length < 2) return {}
    let total = 0
    for (const tx of txs) total += tx.gas
    const target = total / shardCount
    const splits = new Map<number, { members: number[]; pieces: number[][] }>()
    for (const members of connectedGroups(txs)) {
      let gas = 0
      for (const i of members) gas += txs[i]!.gas
      if (gas <= target * SPLIT_MIN_RATIO || members.length > MAX_DAG_TXS) continue
      stats.groupsAnalysed++
      const local = members.map((i) => txs[i]!)
      // A chain (one lane carries most of the gas) stays whole: decided from the key sets alone,
      // before any matrix is built.
      const { laneGas } = lanesOf(latestWriters(local), local.map((t) => t.gas))
      const heaviestLane = Math.max(...laneGas)
      if (heaviestLane >= CRITICAL_SHARE * gas) {
        stats.estimates.push({ groupGas: gas, heaviestLaneGas: heaviestLane, lanes: laneGas.length, heaviestPieceGas: gas, predictedReexecutions: 0, dirtyGas: 0, makespan: gas, keptWhole: 'chain' })
        continue
      }
      const job = {
        size: members.length,
        gpu: (backend: GpuBackend) => bitmapDependencies(backend, local),
        cpu: () => exactDependencies(local),
        agree: coversExact,
      }
      const matrix = this.gpu === undefined ? { result: job.cpu(), ran: 'cpu' as const } : await this.gpu.runStage('conflict', job)
      if (matrix.ran === 'gpu') stats.gpuMatrices++
      else stats.cpuMatrices++
      const result = splitGroup(matrix.result, local.map((t) => t.gas), shardCount, target)
      stats.estimates.push(result.estimate)
      if (result.pieces === undefined) continue
      stats.groupsSplit++
      stats.predictedReexecutions += result.estimate.predictedReexecutions
      splits.set(members[0]!, { members, pieces: result.pieces.map((piece) => piece.map((k) => members[k]!)) })
    }
    stats.analyseMs = performance.now() - t0
    this.totals.blocks++
    this.totals.groupsAnalysed += stats.groupsAnalysed
    this.totals.groupsSplit += stats.groupsSplit
    this.totals.predictedReexecutions += stats.predictedReexecutions
    if (splits.size === 0) return {}
    return {
      splitGroup: (members) => {
        const planned = splits.get(members[0]!)
        if (planned === undefined || planned.members.length !== members.length) return undefined
        for (let k = 0; k < members.length; k++) if (planned.members[k] !== members[k]) return undefined
        return planned.pieces
      },
    }
  }
}

let defaultPlanner: DependencyPlanner | undefined
/**
 * The thread's default planner (`PAREVM_DAG_SPLIT` and the default GPU context, from
 * shared/gpu/defaults.ts): what the sequencer uses when it is given none.
 */
export function defaultDependencyPlanner(): DependencyPlanner {
  defaultPlanner ??= new DependencyPlanner({ split: defaultAcceleratorSettings().split, gpu: defaultGpuContext() })
  return defaultPlanner
}
