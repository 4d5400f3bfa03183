/**
 * The deterministic simulator (shared/sim/):
 *   npm run sim -- --seeds N [--first-seed S] [--seed S] [--mode build|replay|mixed] [--trace-hash]
 *                  [--lines N] [--workers N] [--block-size N] [--fixtures small|all] [--block B] [--no-faults]
 *                  [--events FILE]
 * Runs each seed (the sequencer, workers and coordinator on simulated time with faults at every
 * call), audits it, and prints progress, faults injected per kind and seeds per second. Build
 * mode runs the adversarial generator's lines; replay mode one or two mainnet fixture blocks
 * (shared/sim/replay.ts); mixed mode draws one of the two per seed. A failure prints the seed,
 * the invariant, the first diverging event and the one command that replays it, and the exit
 * code is 1.
 */
import { writeFileSync } from 'node:fs'

import { formatFailure, parseSimArgs, SIM_USAGE } from '../shared/sim/cli.ts'
import { runSeed, warmUp } from '../shared/sim/simulator.ts'
import { CRASH_POINTS, FAULT_KINDS } from '../shared/sim/world.ts'

async function main(): Promise<void> {
  const args = parseSimArgs(process.argv.slice(2))
  if (args.help) {
    console.log(SIM_USAGE)
    return
  }
  // The event log is kept only when asked for (it is the whole trace of a seed).
  if (args.events !== undefined) process.env.PAREVM_SIM_EVENTS = '1'
  const seeds = args.only !== undefined ? [args.only] : Array.from({ length: args.seeds }, (_, i) => args.first + i)
  await warmUp()
  const t0 = performance.now()
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<string, number>
  const crashPoints = Object.fromEntries(CRASH_POINTS.map((k) => [k, 0])) as Record<string, number>
  let failed = 0
  const known = new Map<string, number>()
  let blocks = 0
  let inputs = 0
  let done = 0
  const perMode = { build: { seeds: 0, ms: 0, cpuMs: 0 }, replay: { seeds: 0, ms: 0, cpuMs: 0 } }
  let lastPrint = performance.now()
  for (const seed of seeds) {
    const r = await runSeed({ seed, ...args.run })
    done++
    if (args.events !== undefined) {
      writeFileSync(args.events, `${(r.eventLog ?? []).join('\n')}\n`)
      console.log(`seed ${seed}: ${r.events} events written to ${args.events}`)
    }
    blocks += r.blocks
    inputs += r.inputs
    perMode[r.mode].seeds++
    perMode[r.mode].ms += r.wallMs
    perMode[r.mode].cpuMs += r.cpuMs
    for (const k of FAULT_KINDS) faults[k]! += r.faults[k]
    for (const k of CRASH_POINTS) crashPoints[k]! += r.crashPoints[k]
    if (args.traceHash) {
      const what = r.config.mode === 'replay' ? `replay ${r.config.blocks.join(',')}` : 'build'
      console.log(`seed ${seed} trace ${r.traceHash} (${what}, ${r.events} events, ${r.blocks} blocks, ${(r.simMs / 1000).toFixed(1)} s simulated, ${(r.wallMs / 1000).toFixed(2)} s, cpu ${(r.cpuMs / 1000).toFixed(2)} s)`)
    }
    for (const f of r.failures) {
      if (f.known === undefined) continue
      known.set(f.known, (known.get(f.known) ?? 0) + 1)
      if (args.only !== undefined || known.get(f.known) === 1) console.log(`known finding (${f.known}) in seed ${seed}: ${f.message}\n    first diverging event: ${f.eventText}`)
    }
    if (!r.ok) {
      failed++
      console.error(formatFailure(r, args.run))
    }
    if (performance.now() - lastPrint > 5000 && args.only === undefined) {
      lastPrint = performance.now()
      const s = (performance.now() - t0) / 1000
      console.log(`… ${done}/${seeds.length} seeds, ${failed} failed, ${(done / s).toFixed(2)} seeds/s`)
    }
  }
  const seconds = (performance.now() - t0) / 1000
  const modes = (['build', 'replay'] as const).filter((m) => perMode[m].seeds > 0).map((m) => `${m} ${perMode[m].seeds} (${(perMode[m].seeds / (perMode[m].ms / 1000)).toFixed(2)} seeds/s; cpu ${(perMode[m].cpuMs / perMode[m].seeds / 1000).toFixed(2)} s a seed)`)
  console.log(`${done} seeds (${seeds[0]}..${seeds[seeds.length - 1]}; ${modes.join(', ')}), ${failed} failed, ${blocks} blocks, ${inputs} distinct inputs, ${seconds.toFixed(1)} s, ${(done / seconds).toFixed(2)} seeds/s`)
  console.log(`faults injected: ${FAULT_KINDS.map((k) => `${k} ${faults[k]}`).join(', ')}`)
  if (known.size > 0) console.log(`known engine findings (not failures): ${[...known].map(([k, n]) => `${k} in ${n} seeds`).join(', ')}`)
  console.log(`crash points hit: ${CRASH_POINTS.map((k) => `${k}: ${crashPoints[k]}`).join('; ')}`)
  if (failed > 0) process.exit(1)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(2)
})

