/**
 * The command line of `npm run sim` (scripts/sim.ts): its arguments, and how a failed seed is
 * reported, with the one command that replays it (shared/sim/result.ts `replayCommand`).
 */
import { replayCommand, type SimOptions, type SimResult } from './result.ts'

export const SIM_USAGE = 'npm run sim -- --seeds N [--first-seed S] [--seed S] [--mode build|replay|mixed] [--trace-hash] [--lines N] [--workers N] [--block-size N] [--fixtures small|all] [--block B] [--no-faults] [--events FILE]'

/** What a seed's run takes besides its seed. */
export type RunOptions = Omit<SimOptions, 'seed'>

export interface SimArgs {
  seeds: number
  first: number
  /** --seed S: this one seed. */
  only?: number
  traceHash: boolean
  /** --events FILE (with --seed): the seed's whole event log, one event a line, for diagnosing it. */
  events?: string
  help: boolean
  run: RunOptions
}

/** `npm run sim` arguments (throws on a bad one, naming it). */
export function parseSimArgs(argv: readonly string[]): SimArgs {
  const out: SimArgs = { seeds: 100, first: 1, traceHash: false, help: false, run: {} }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const num = (min = 0): number => {
      const v = Number(argv[++i])
      if (!Number.isInteger(v) || v < min) throw new Error(min === 0 ? `${a} needs a non-negative integer` : `${a} needs an integer of at least ${min}`)
      return v
    }
    const oneOf = <T extends string>(values: readonly T[]): T => {
      const v = argv[++i]
      if (!values.includes(v as T)) throw new Error(`${a} needs one of ${values.join(', ')} (got ${v})`)
      return v as T
    }
    if (a === '--seeds') out.seeds = num()
    else if (a === '--first-seed') out.first = num()
    else if (a === '--seed') out.only = num()
    else if (a === '--trace-hash') out.traceHash = true
    else if (a === '--mode') out.run.mode = oneOf(['build', 'replay', 'mixed'] as const)
    else if (a === '--lines') out.run.lines = num(1)
    else if (a === '--workers') out.run.workers = num(1)
    else if (a === '--block-size') out.run.blockSize = num(1)
    else if (a === '--fixtures') out.run.fixtures = oneOf(['small', 'all'] as const)
    else if (a === '--block') out.run.block = String(num())
    else if (a === '--no-faults') out.run.noFaults = true
    else if (a === '--events') {
      const file = argv[++i]
      if (file === undefined || file.startsWith('--')) throw new Error('--events needs a file name')
      out.events = file
    }
    else if (a === '--help' || a === '-h') out.help = true
    else throw new Error(`unknown argument ${a}\n${SIM_USAGE}`)
  }
  if (out.run.block !== undefined && out.run.mode !== 'replay') throw new Error('--block needs --mode replay')
  if (out.events !== undefined && out.only === undefined) throw new Error('--events needs --seed S (the log of one seed)')
  return out
}

/** A failed seed: its invariants, first diverging events, and the one command that replays it. */
export function formatFailure(r: SimResult, options: RunOptions = {}): string {
  const lines = [`FAILED seed ${r.seed} (${r.mode} mode${r.config.mode === 'replay' ? `: blocks ${r.config.blocks.join(', ')}` : ''})`]
  for (const f of r.failures.filter((x) => x.known === undefined)) {
    lines.push(`  invariant: ${f.invariant}`)
    lines.push(`    ${f.message}`)
    lines.push(`    first diverging event: ${f.eventText}`)
  }
  lines.push(`  replay: ${replayCommand(r, options)}`)
  return lines.join('\n')
}

