/**
 * The deterministic simulator (shared/sim/):
 *   npm run sim -- --seeds N [--first-seed S] [--seed S] [--trace-hash] [--lines N] [--workers N] [--block-size N]
 * Runs each seed (the sequencer, workers and coordinator on simulated time with faults at every
 * call), audits it, and prints progress, faults injected per kind and seeds per second. A failure
 * prints the seed, the invariant, the first diverging event and the command that replays it,
 * and the exit code is 1.
 */
import { runSeed, warmUp, type SimResult } from '../shared/sim/simulator.ts'
import { CRASH_POINTS, FAULT_KINDS } from '../shared/sim/world.ts'

function parseArgs(argv: string[]): { seeds: number; first: number; only?: number; traceHash: boolean; lines?: number; workers?: number; blockSize?: number; events?: boolean } {
  const out: ReturnType<typeof parseArgs> = { seeds: 100, first: 1, traceHash: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const num = (): number => {
      const v = Number(argv[++i])
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`)
      return v
    }
    if (a === '--seeds') out.seeds = num()
    else if (a === '--first-seed') out.first = num()
    else if (a === '--seed') out.only = num()
    else if (a === '--trace-hash') out.traceHash = true
    else if (a === '--lines') out.lines = num()
    else if (a === '--workers') out.workers = num()
    else if (a === '--block-size') out.blockSize = num()
    else if (a === '--help' || a === '-h') {
      console.log('npm run sim -- --seeds N [--first-seed S] [--seed S] [--trace-hash] [--events] [--lines N] [--workers N] [--block-size N]')
      process.exit(0)
    } else throw new Error(`unknown argument ${a}`)
  }
  return out
}

export function formatFailure(r: SimResult, extra = ''): string {
  const lines = [`FAILED seed ${r.seed}${extra}`]
  for (const f of r.failures.filter((x) => x.known === undefined)) {
    lines.push(`  invariant: ${f.invariant}`)
    lines.push(`    ${f.message}`)
    lines.push(`    first diverging event: ${f.eventText}`)
  }
  lines.push(`  replay: npm run sim -- --seed ${r.seed}${extra}`)
  return lines.join('\n')
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const seeds = args.only !== undefined ? [args.only] : Array.from({ length: args.seeds }, (_, i) => args.first + i)
  const extra = `${args.lines !== undefined ? ` --lines ${args.lines}` : ''}${args.workers !== undefined ? ` --workers ${args.workers}` : ''}${args.blockSize !== undefined ? ` --block-size ${args.blockSize}` : ''}`
  await warmUp()
  const t0 = performance.now()
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<string, number>
  const crashPoints = Object.fromEntries(CRASH_POINTS.map((k) => [k, 0])) as Record<string, number>
  let failed = 0
  const known = new Map<string, number>()
  let blocks = 0
  let inputs = 0
  let done = 0
  let lastPrint = performance.now()
  for (const seed of seeds) {
    const r = await runSeed({
      seed,
      ...(args.lines !== undefined ? { lines: args.lines } : {}),
      ...(args.workers !== undefined ? { workers: args.workers } : {}),
      ...(args.blockSize !== undefined ? { blockSize: args.blockSize } : {}),
    })
    done++
    blocks += r.blocks
    inputs += r.inputs
    for (const k of FAULT_KINDS) faults[k]! += r.faults[k]
    for (const k of CRASH_POINTS) crashPoints[k]! += r.crashPoints[k]
    if (args.traceHash) console.log(`seed ${seed} trace ${r.traceHash} (${r.events} events, ${r.blocks} blocks, ${(r.simMs / 1000).toFixed(1)} s simulated)`)
    for (const f of r.failures) {
      if (f.known === undefined) continue
      known.set(f.known, (known.get(f.known) ?? 0) + 1)
      if (args.only !== undefined || known.get(f.known) === 1) console.log(`known finding (${f.known}) in seed ${seed}: ${f.message}\n    first diverging event: ${f.eventText}`)
    }
    if (!r.ok) {
      failed++
      console.error(formatFailure(r, extra))
    }
    if (performance.now() - lastPrint > 5000 && args.only === undefined) {
      lastPrint = performance.now()
      const s = (performance.now() - t0) / 1000
      console.log(`… ${done}/${seeds.length} seeds, ${failed} failed, ${(done / s).toFixed(2)} seeds/s`)
    }
  }
  const seconds = (performance.now() - t0) / 1000
  console.log(`${done} seeds (${seeds[0]}..${seeds[seeds.length - 1]}), ${failed} failed, ${blocks} blocks, ${inputs} distinct inputs, ${seconds.toFixed(1)} s, ${(done / seconds).toFixed(2)} seeds/s`)
  console.log(`faults injected: ${FAULT_KINDS.map((k) => `${k} ${faults[k]}`).join(', ')}`)
  if (known.size > 0) console.log(`known engine findings (not failures): ${[...known].map(([k, n]) => `${k} in ${n} seeds`).join(', ')}`)
  console.log(`crash points hit: ${CRASH_POINTS.map((k) => `${k}: ${crashPoints[k]}`).join('; ')}`)
  if (failed > 0) process.exit(1)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(2)
})
