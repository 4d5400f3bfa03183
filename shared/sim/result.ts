/**
 * A simulated run's options and result, in either mode (build, replay), and the helpers both
 * modes share: the seed's world, the mode a mixed run draws, the command that replays a seed.
 */
import { createHash } from 'node:crypto'

import { SimWorld, type CrashPoint, type FaultKind } from './world.ts'

import type { AuditFailure } from './auditor.ts'

export type SimMode = 'build' | 'replay'

/** Replay mode's fixture blocks: `small` (the default: the fast ones, ./replay.ts) or all 47. */
export type ReplayFixtureSet = 'small' | 'all'

export interface SimOptions {
  seed: number
  /** build (default), replay (mainnet fixture blocks), or mixed (one of the two, drawn from the seed). */
  mode?: SimMode | 'mixed'
  /** Build mode: transaction lines of the workload (default: drawn, 30..89). */
  lines?: number
  /** Shard workers (default: drawn, 1..3). */
  workers?: number
  /** Build mode: most transactions per block (default: drawn, 8..39). */
  blockSize?: number
  /** Replay mode: the fixture blocks a seed draws from (default `small`, see ./replay.ts). */
  fixtures?: ReplayFixtureSet
  /** Replay mode: replay this fixture block (its folder name) instead of the drawn ones. */
  block?: string
  /** Faults are injected for this long (simulated ms, default 20,000). */
  faultsUntilMs?: number
  /** After the faults stop, every input must be accounted for within this (simulated ms, default 120,000). */
  livenessBoundMs?: number
  /** No faults at all (a baseline). */
  noFaults?: boolean
  /** Test hook: the store silently drops one state write of the first multi-item apply. */
  dropApplyWrite?: boolean
}

export interface BuildConfig {
  mode: 'build'
  lines: number
  workers: number
  blockSize: number
  trie: 'warm' | 'lazy'
  beaconRoots: boolean
}

export interface ReplayConfig {
  mode: 'replay'
  /** Fixture blocks (folder names), replayed one after another, each on its own store. */
  blocks: string[]
  workers: number
  /** Shards each block is cut into (at most). */
  shards: number
  trie: 'warm' | 'lazy'
}

export interface SimResult {
  seed: number
  mode: SimMode
  ok: boolean
  failures: (AuditFailure & { eventText: string })[]
  traceHash: string
  events: number
  faults: Record<FaultKind, number>
  crashPoints: Record<CrashPoint, number>
  /** Blocks sealed. */
  blocks: number
  /** Distinct inputs (build: lines; replay: the fixture blocks' transactions). */
  inputs: number
  simMs: number
  wallMs: number
  /** CPU time of this process during the run (user + system; a loaded machine inflates wallMs, less this). */
  cpuMs: number
  config: BuildConfig | ReplayConfig
  /** The last error each role met (for a liveness failure's message). */
  lastErrors: Record<string, string>
  /** The whole event log, when PAREVM_SIM_EVENTS is set (for diagnosing a seed). */
  eventLog?: string[]
}

/** The mode a seed runs in: mixed mode draws it from the seed alone (about one seed in four replays). */
export function modeOf(seed: number, mode: SimOptions['mode'] = 'build'): SimMode {
  if (mode !== 'mixed') return mode
  // Its own draw (not the world's PRNG): a seed's run is the same in mixed mode and in its mode.
  return createHash('sha256').update(`parevm-sim-mode ${seed}`).digest().readUInt32BE(0) < 0.25 * 2 ** 32 ? 'replay' : 'build'
}

/**
 * The one command that replays a seed's run: its resolved mode, and the options that change the
 * run (a mixed-mode seed replays with the mode it drew).
 */
export function replayCommand(r: Pick<SimResult, 'seed' | 'mode'>, options: Pick<SimOptions, 'lines' | 'workers' | 'blockSize' | 'fixtures' | 'block' | 'noFaults'> = {}): string {
  const parts = [`npm run sim -- --seed ${r.seed}`]
  if (r.mode !== 'build') parts.push(`--mode ${r.mode}`)
  if (r.mode === 'build' && options.lines !== undefined) parts.push(`--lines ${options.lines}`)
  if (r.mode === 'build' && options.blockSize !== undefined) parts.push(`--block-size ${options.blockSize}`)
  if (options.workers !== undefined) parts.push(`--workers ${options.workers}`)
  if (r.mode === 'replay' && options.block !== undefined) parts.push(`--block ${options.block}`)
  else if (r.mode === 'replay' && options.fixtures !== undefined && options.fixtures !== 'small') parts.push(`--fixtures ${options.fixtures}`)
  if (options.noFaults === true) parts.push('--no-faults')
  return parts.join(' ')
}

/** The world of a seed: fault rates and the aimed crash point, drawn first in either mode. */
export function createWorld(options: SimOptions): SimWorld {
  return SimWorld.create(options.seed, { ...(options.faultsUntilMs !== undefined ? { faultsUntilMs: options.faultsUntilMs } : {}), ...(options.noFaults === true ? { noFaults: true } : {}) })
}

export interface RunStart {
  wallMs: number
  cpu: NodeJS.CpuUsage
}

export function runStart(): RunStart {
  return { wallMs: performance.now(), cpu: process.cpuUsage() }
}

function cpuMsSince(start: RunStart): number {
  const d = process.cpuUsage(start.cpu)
  return (d.user + d.system) / 1000
}

/** What a finished run reports, in either mode. */
export function simResult(world: SimWorld, start: RunStart, fields: Pick<SimResult, 'mode' | 'config' | 'blocks' | 'inputs' | 'lastErrors'> & { failures: AuditFailure[] }): SimResult {
  return {
    seed: world.seed,
    mode: fields.mode,
    ok: fields.failures.every((f) => f.known !== undefined),
    failures: fields.failures.map((f) => ({ ...f, eventText: world.describe(f.event) })),
    traceHash: world.traceHash(),
    ...(process.env.PAREVM_SIM_EVENTS !== undefined ? { eventLog: world.events.map((e, i) => `#${i} ${e.t} ${e.role} ${e.op} ${e.detail}`) } : {}),
    events: world.events.length,
    faults: { ...world.faults },
    crashPoints: { ...world.crashPoints },
    blocks: fields.blocks,
    inputs: fields.inputs,
    simMs: world.now(),
    wallMs: performance.now() - start.wallMs,
    cpuMs: cpuMsSince(start),
    config: fields.config,
    lastErrors: fields.lastErrors,
  }
}

