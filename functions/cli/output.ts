/** Human-readable output for the CLI: progress on stderr, results on stdout. */
import { defaultGpuContext } from '../../shared/gpu/defaults.ts'

import type { BlockEvent, RunSummary } from '../../shared/cluster/embedded.ts'

let verbose = false

/** `--verbose` (any command): summaries add their details (the GPU loader's reason, each stage's decision). */
export function setVerbose(on: boolean): void {
  verbose = on
}

export function stderr(line: string): void {
  process.stderr.write(`${line}\n`)
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

export function blockLine(e: BlockEvent): string {
  const r = e.sealed.report
  const predicted = r.txs === 0 ? '-' : `${r.prediction.txsFullyPredicted}/${r.txs}`
  const verify = e.verify === undefined ? 'not verified' : e.verify.ok ? `verified (${fmt(e.verify.ms)} ms)` : 'MISMATCH'
  return [
    `block ${r.block}`.padEnd(11),
    `${fmt(r.included)} txs`.padStart(10),
    r.rejected > 0 ? `${r.rejected} rejected` : '',
    `${r.shards} shards`.padStart(10),
    `${r.reexecuted} re-executed`.padStart(15),
    `predicted ${predicted}`.padStart(18),
    `${fmt(e.wallMs)} ms`.padStart(10),
    `serial ${fmt(100 * e.criticalPath.serialFraction)}%`,
    verify,
  ]
    .filter((s) => s !== '')
    .join('  ')
}

export function summaryText(s: RunSummary, extra: Record<string, string> = {}): string {
  const rows: [string, string][] = [
    ['inputs', `${fmt(s.inputs)} (${fmt(s.included)} included + ${fmt(s.rejected)} rejected${s.duplicatesDropped > 0 ? ` + ${fmt(s.duplicatesDropped)} duplicate deliveries dropped` : ''})`],
    ['blocks sealed', fmt(s.blocks)],
    ['transactions included', fmt(s.included)],
    ['transactions rejected', s.rejected === 0 ? '0' : `${fmt(s.rejected)} (${Object.entries(s.rejectedByCode).map(([k, v]) => `${k}: ${v}`).join(', ')})`],
    ['re-executed by the coordinator', `${fmt(s.reexecuted)} (${s.included === 0 ? 0 : fmt((100 * s.reexecuted) / s.included, 1)}%)`],
    ['prediction', `${fmt(s.prediction.txsFullyPredicted)} txs fully predicted; ${s.prediction.keysActual === 0 ? '-' : fmt((100 * s.prediction.keysPredicted) / s.prediction.keysActual, 1)}% of keys`],
    ['throughput', `${fmt(s.txPerSec, 1)} tx/s (pipeline ${fmt(s.pipelineMs)} ms; ${fmt(s.pipelined)} of ${fmt(s.blocks)} blocks planned and executed while their parent sealed)`],
    [
      'critical path',
      `${fmt(s.criticalPath.serialMs)} ms serial of ${fmt(s.criticalPath.wallMs)} ms; serial fraction at 1 worker ${fmt(100 * s.criticalPath.serialFraction, 1)}%: no number of workers beats ${fmt(s.criticalPath.amdahl16, 1)}x at 16, ${fmt(s.criticalPath.amdahl64, 1)}x at 64 (Amdahl)`,
    ],
    ['sequential check', !s.verify ? 'off (--no-verify)' : `${s.verifiedBlocks}/${s.blocks} blocks identical to @ethereumjs/vm, every rejection re-judged (${fmt(s.verifyMs)} ms)`],
    ['gas used', fmt(Number(s.gasUsed))],
    ['head', `#${s.head.number} ${s.head.hash}`],
    ['state root', s.head.stateRoot],
    ['gpu', defaultGpuContext().summaryLine()],
    ...(verbose ? [['gpu details (main thread)', defaultGpuContext().statusLine()] as [string, string]] : []),
    ...Object.entries(extra),
  ]
  if (s.deadLettered > 0) rows.push(['dead-lettered messages', String(s.deadLettered)])
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')
}

export function summaryJson(s: RunSummary, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...s, gasUsed: s.gasUsed.toString(), gpu: { summary: defaultGpuContext().summaryLine(), ...defaultGpuContext().status() }, ...extra }, null, 2)
}
