/**
 * The fuzz run: N inputs from one seed, spread over the entry points that take outside input
 * (most to decodeRawTx, which is fast; fewer, batched, to the cluster targets). Used by
 * `npm run fuzz` (scripts/fuzz.ts) and by the test suite (test/fuzz/fuzz.test.ts).
 */
import { fuzzCliFiles } from './cli-lines.ts'
import { fuzzEnvelopes } from './envelopes.ts'
import { fuzzLambda } from './lambda.ts'
import { fuzzDecode } from './raw-tx.ts'
import { fuzzRpc } from './rpc.ts'

import type { FuzzFailure, TargetOptions, TargetRun, TargetStats } from './types.ts'

export const TARGETS = {
  decode: { share: 0.84, run: async (o: TargetOptions) => fuzzDecode(o) },
  envelopes: { share: 0.05, run: fuzzEnvelopes },
  cli: { share: 0.05, run: fuzzCliFiles },
  lambda: { share: 0.04, run: fuzzLambda },
  rpc: { share: 0.02, run: fuzzRpc },
} as const satisfies Record<string, { share: number; run: (o: TargetOptions) => Promise<TargetRun> }>

export type TargetName = keyof typeof TARGETS

export interface FuzzReport {
  seed: number
  count: number
  ms: number
  targets: TargetStats[]
  failures: FuzzFailure[]
}

/** How many inputs each target gets (the shares of the selected targets, rounded; at least 1 each). */
export function distribute(count: number, names: readonly TargetName[]): Record<TargetName, number> {
  const total = names.reduce((s, n) => s + TARGETS[n].share, 0)
  const out = Object.fromEntries(Object.keys(TARGETS).map((n) => [n, 0])) as Record<TargetName, number>
  let left = count
  for (const [i, name] of names.entries()) {
    const n = i === names.length - 1 ? left : Math.max(1, Math.round((count * TARGETS[name].share) / total))
    out[name] = Math.min(n, left)
    left -= out[name]
  }
  return out
}

export async function runFuzz(options: { count: number; seed: number; targets?: readonly TargetName[]; onProgress?: (target: TargetName, done: number, of: number) => void; onTarget?: (run: TargetRun) => void }): Promise<FuzzReport> {
  const names = options.targets ?? (Object.keys(TARGETS) as TargetName[])
  const counts = distribute(options.count, names)
  const t0 = performance.now()
  const report: FuzzReport = { seed: options.seed, count: 0, ms: 0, targets: [], failures: [] }
  for (const name of names) {
    const n = counts[name]
    if (n <= 0) continue
    const run = await TARGETS[name].run({ seed: options.seed, count: n, onProgress: (done) => options.onProgress?.(name, done, n) })
    report.targets.push(run.stats)
    report.failures.push(...run.failures)
    report.count += run.stats.inputs
    options.onTarget?.(run)
  }
  report.ms = performance.now() - t0
  return report
}

/** A plain-text summary: per target, rejections by code, inputs per second, failures. */
export function formatReport(report: FuzzReport): string {
  const lines: string[] = []
  const rate = (n: number, ms: number): string => (ms === 0 ? '-' : Math.round(n / (ms / 1000)).toLocaleString('en-US'))
  lines.push(`fuzz: seed ${report.seed}, ${report.count.toLocaleString('en-US')} inputs in ${(report.ms / 1000).toFixed(1)} s (${rate(report.count, report.ms)} inputs/s), ${report.failures.length} failure(s)`)
  lines.push('')
  lines.push('target                      inputs   accepted   inputs/s   slowest')
  for (const t of report.targets) {
    lines.push(`${t.target.padEnd(26)} ${String(t.inputs).padStart(7)} ${String(t.accepted).padStart(10)} ${rate(t.inputs, t.ms).padStart(10)} ${`${t.slowestMs.toFixed(0)} ms`.padStart(9)}`)
  }
  for (const t of report.targets) {
    lines.push('')
    lines.push(`${t.target}: outcomes ${Object.entries(t.rejectedByCode).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ') || '-'}`)
    lines.push(`${t.target}: inputs by kind ${Object.entries(t.byKind).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}`)
  }
  if (report.failures.length > 0) {
    lines.push('')
    lines.push(`FAILURES (${report.failures.length}; the first 20):`)
    for (const f of report.failures.slice(0, 20)) {
      lines.push(`- target ${f.target}, seed ${f.seed}, input #${f.index} (${f.kind}), ${f.inputLength} chars: ${JSON.stringify(f.input)}`)
      lines.push(`  ${f.error.replace(/\n/g, '\n  ')}`)
    }
  }
  return lines.join('\n')
}
