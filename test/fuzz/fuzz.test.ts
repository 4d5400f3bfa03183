/**
 * Fuzzing in CI: 10,000 generated inputs from a fixed seed through every entry point that takes
 * outside input (test/fuzz/run.ts; most to decodeRawTx). 0 crashes, 0 hangs, every input one
 * outcome, valid inputs included. `npm run fuzz -- --count 100000` runs more, from any seed.
 */
import { describe, expect, it } from 'vitest'

import { formatReport, runFuzz } from './run.ts'

const COUNT = Number(process.env.PAREVM_FUZZ_COUNT ?? 10_000)
const SEED = Number(process.env.PAREVM_FUZZ_SEED ?? 20_261_206)

describe('fuzzing', () => {
  it(`${COUNT} inputs (seed ${SEED}): no crash, no hang, one outcome each, valid inputs included`, async () => {
    const report = await runFuzz({ count: COUNT, seed: SEED })
    const text = formatReport(report)
    if (report.failures.length > 0) console.error(text)
    expect(report.count).toBe(COUNT)
    expect(report.failures.map((f) => `${f.target} #${f.index} (${f.kind}): ${f.error.split('\n')[0]}`)).toEqual([])
    // Every target ran and saw both outcomes.
    for (const t of report.targets) {
      expect(t.inputs, t.target).toBeGreaterThan(0)
      expect(t.accepted, t.target).toBeGreaterThan(0)
      expect(Object.keys(t.rejectedByCode).length, t.target).toBeGreaterThan(0)
    }
  }, 300_000)
})
