/** Shared by the seed tests: run a range of seeds, fail with the simulator's own report. */
import { expect } from 'vitest'

import { replayCommand, runSeed, type SimResult } from '../../shared/sim/simulator.ts'
import { CRASH_POINTS, FAULT_KINDS } from '../../shared/sim/world.ts'

/** Seeds in CI (PAREVM_SIM_SEEDS overrides): split over the test files that call runRange. */
export const SIM_SEEDS = Number(process.env.PAREVM_SIM_SEEDS ?? 240)

/** Small workloads keep a seed near half a second. */
export function ciLines(seed: number): number {
  return 12 + ((seed * 7919) % 29)
}

export async function runRange(first: number, count: number): Promise<{ results: SimResult[]; faults: Record<string, number>; crashPoints: Record<string, number> }> {
  const results: SimResult[] = []
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<string, number>
  const crashPoints = Object.fromEntries(CRASH_POINTS.map((k) => [k, 0])) as Record<string, number>
  const failures: string[] = []
  const t0 = performance.now()
  for (let seed = first; seed < first + count; seed++) {
    const r = await runSeed({ seed, lines: ciLines(seed) })
    results.push(r)
    for (const k of FAULT_KINDS) faults[k]! += r.faults[k]
    for (const k of CRASH_POINTS) crashPoints[k]! += r.crashPoints[k]
    if (!r.ok) {
      const f = r.failures.find((x) => x.known === undefined)!
      failures.push(`seed ${seed}: ${f.invariant}: ${f.message}\n  first diverging event: ${f.eventText}\n  replay: ${replayCommand(r, { lines: ciLines(seed) })}`)
    }
  }
  const s = (performance.now() - t0) / 1000
  console.log(`sim: seeds ${first}..${first + count - 1}: ${(count / s).toFixed(2)} seeds/s; faults ${FAULT_KINDS.map((k) => `${k} ${faults[k]}`).join(', ')}`)
  expect(failures, failures.join('\n')).toEqual([])
  return { results, faults, crashPoints }
}
