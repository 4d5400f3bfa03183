/**
 * A dependency-free SVG line plot: the engine's throughput (warm templates) against workers, one
 * line per workload; dashed: the tuned baseline, dotted: the default baseline.
 */
import type { CaseResult } from './engine-bench.ts'

const engineAt = (r: CaseResult, w: number): number => (r.engine.find((e) => e.workers === w && e.templates === 'warm') ?? r.engine.find((e) => e.workers === w))?.txPerSec.median ?? NaN

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f']

export function throughputSvg(results: readonly CaseResult[], workerCounts: readonly number[], label: string): string {
  const width = 760
  const height = 440
  const m = { left: 70, right: 200, top: 40, bottom: 50 }
  const plotW = width - m.left - m.right
  const plotH = height - m.top - m.bottom
  const maxY = Math.max(...results.flatMap((r) => workerCounts.map((w) => Math.max(engineAt(r, w), r.baselines.tuned?.txPerSec.median ?? 0, r.baselines.default?.txPerSec.median ?? 0)))) * 1.1
  const xs = (i: number): number => m.left + (workerCounts.length === 1 ? plotW / 2 : (i / (workerCounts.length - 1)) * plotW)
  const ys = (v: number): number => m.top + plotH - (v / maxY) * plotH
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${m.left}" y="22" font-size="14">parevm throughput against workers (${label}); dashed: tuned baseline, dotted: default baseline</text>`,
    `<line x1="${m.left}" y1="${m.top + plotH}" x2="${m.left + plotW}" y2="${m.top + plotH}" stroke="black"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + plotH}" stroke="black"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 12}" text-anchor="middle">workers</text>`,
    `<text x="18" y="${m.top + plotH / 2}" transform="rotate(-90 18 ${m.top + plotH / 2})" text-anchor="middle">transactions per second</text>`,
  ]
  for (let t = 0; t <= 5; t++) {
    const v = (maxY / 5) * t
    parts.push(`<text x="${m.left - 8}" y="${ys(v) + 4}" text-anchor="end">${Math.round(v).toLocaleString('en-US')}</text>`)
    parts.push(`<line x1="${m.left}" y1="${ys(v)}" x2="${m.left + plotW}" y2="${ys(v)}" stroke="#eee"/>`)
  }
  workerCounts.forEach((w, i) => parts.push(`<text x="${xs(i)}" y="${m.top + plotH + 18}" text-anchor="middle">${w}</text>`))
  results.forEach((r, k) => {
    const color = COLORS[k % COLORS.length]!
    const points = workerCounts.map((w, i) => `${xs(i)},${ys(engineAt(r, w))}`).join(' ')
    parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`)
    workerCounts.forEach((w, i) => parts.push(`<circle cx="${xs(i)}" cy="${ys(engineAt(r, w))}" r="3" fill="${color}"/>`))
    for (const [kind, dash] of [['tuned', '6 4'], ['default', '2 3']] as const) {
      const b = r.baselines[kind]?.txPerSec.median
      if (b !== undefined) parts.push(`<line x1="${m.left}" y1="${ys(b)}" x2="${m.left + plotW}" y2="${ys(b)}" stroke="${color}" stroke-dasharray="${dash}"/>`)
    }
    parts.push(`<rect x="${m.left + plotW + 16}" y="${m.top + k * 20}" width="12" height="12" fill="${color}"/>`)
    parts.push(`<text x="${m.left + plotW + 34}" y="${m.top + k * 20 + 10}">${r.case} (${r.size})</text>`)
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}
