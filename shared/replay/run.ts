/**
 * Replaying a list of fixture folders: one cluster for all of them (a new one after a block
 * that failed part-way), each block compared with its header, and on a mismatch the sequential
 * reference run to find the first differing receipt and to say whether the engine or the
 * configuration is at fault.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

import { ConfigError } from '../errors.ts'
import { ReplayCluster, type ReplayClusterOptions, type ReplayRun } from './cluster.ts'
import { firstDifferingReceipt, referenceMatchesHeader, type ReceiptDifference } from './compare.ts'
import { isFixtureDir, loadFixture } from './fixture.ts'
import { runReference, type ReferenceResult } from './reference.ts'

export interface ReplayBlockResult {
  dir: string
  /** Block number (undefined when the folder could not be read). */
  number: bigint | undefined
  ok: boolean
  run?: ReplayRun
  /** Why the block could not be replayed (missing state, bad fixture, engine error). */
  error?: Error
  /** The sequential reference, when it ran (on a mismatch, or when asked). */
  reference?: ReferenceResult
  /** Whether @ethereumjs/vm reproduces the header: if it does, a mismatch is the engine's. */
  referenceMatches?: boolean
  /** Whether the engine's post-state root over the partial pre-state equals the reference's. */
  stateRootMatchesReference?: boolean
  difference?: ReceiptDifference
}

export interface ReplaySummary {
  blocks: number
  matched: number
  failed: ReplayBlockResult[]
  txs: number
  reexecuted: number
  /** Stale transactions settled with their balances shifted instead (shared/coordinator/balance-shift.ts). */
  balanceShifted: number
  wallMs: number
}

export interface ReplayFoldersOptions extends ReplayClusterOptions {
  /** Run the sequential reference on every block, not only on a mismatch. */
  reference?: boolean
  onBlock?: (result: ReplayBlockResult) => void | Promise<void>
}

/** Fixture folders from arguments: a fixture folder itself, or a folder of them (by number). */
export function expandFixtureDirs(args: readonly string[]): string[] {
  const out: string[] = []
  for (const arg of args) {
    if (!existsSync(arg) || !statSync(arg).isDirectory()) {
      throw new ConfigError(`${arg} is not a folder`, { hint: 'give block folders (each with block.json.gz and pre_state.json.gz), or a folder of them' })
    }
    if (isFixtureDir(arg)) {
      out.push(arg)
      continue
    }
    const children = readdirSync(arg)
      .map((name) => join(arg, name))
      .filter((dir) => statSync(dir).isDirectory() && isFixtureDir(dir))
      .sort((a, b) => blockNumberOf(a) - blockNumberOf(b) || a.localeCompare(b))
    if (children.length === 0) throw new ConfigError(`${arg} holds no block folder (block.json.gz)`)
    out.push(...children)
  }
  return out
}

function blockNumberOf(dir: string): number {
  const n = Number(dir.split(/[\\/]/).pop())
  return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER
}

export async function replayFolders(dirs: readonly string[], options: ReplayFoldersOptions): Promise<ReplaySummary> {
  const start = performance.now()
  const summary: ReplaySummary = { blocks: 0, matched: 0, failed: [], txs: 0, reexecuted: 0, balanceShifted: 0, wallMs: 0 }
  let cluster: ReplayCluster | undefined
  try {
    for (const dir of dirs) {
      const result: ReplayBlockResult = { dir, number: undefined, ok: false }
      try {
        const fixture = await loadFixture(dir)
        result.number = fixture.number
        cluster ??= await ReplayCluster.start(options)
        const run = await cluster.replay(fixture)
        result.run = run
        result.ok = run.comparison.ok && run.rejected === 0
        summary.txs += run.txs
        summary.reexecuted += run.reexecuted
        summary.balanceShifted += run.sealed.report.balanceShifted
        if (!result.ok || options.reference === true) {
          const reference = await runReference(fixture)
          result.reference = reference
          result.referenceMatches = referenceMatchesHeader(reference, fixture)
          result.stateRootMatchesReference = run.sealed.head.stateRoot === reference.stateRoot
          const difference = firstDifferingReceipt(run.sealed, fixture, reference)
          if (difference !== undefined) result.difference = difference
        }
      } catch (error) {
        result.error = error instanceof Error ? error : new Error(String(error))
        if (cluster?.unusable === true) {
          await cluster.stop()
          cluster = undefined
        }
      }
      summary.blocks++
      if (result.ok) summary.matched++
      else summary.failed.push(result)
      await options.onBlock?.(result)
    }
  } finally {
    await cluster?.stop()
  }
  summary.wallMs = performance.now() - start
  return summary
}
