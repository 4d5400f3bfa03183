/** A dependency-free SVG line plot: throughput against workers, one line per workload, and the ceiling. */
import type { CaseResult } from './engine-bench.ts'

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f']

export function throughputSvg(results: readonly CaseResult[], workerCounts: readonly number[], label: string): string {
  const width = 760
  const height = 440
  const m = { left: 70, right: 200, top: 40, bottom: 50 }
  const plotW = width - m.left - m.right
  const plotH = height - m.top - m.bottom
  const maxY = Math.max(...results.flatMap((r) => workerCounts.map((w) => Math.max(r.engine[w]!.txPerSec.median, r.baseline.median)))) * 1.1
  const xs = (i: number): number => m.left + (workerCounts.length === 1 ? plotW / 2 : (i / (workerCounts.length - 1)) * plotW)
  const ys = (v: number): number => m.top + plotH - (v / maxY) * plotH
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${m.left}" y="22" font-size="14">parevm throughput against workers (${label}); dashed: baseline</text>`,
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
    const points = workerCounts.map((w, i) => `${xs(i)},${ys(r.engine[w]!.txPerSec.median)}`).join(' ')
    parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`)
    workerCounts.forEach((w, i) => parts.push(`<circle cx="${xs(i)}" cy="${ys(r.engine[w]!.txPerSec.median)}" r="3" fill="${color}"/>`))
    parts.push(`<line x1="${m.left}" y1="${ys(r.baseline.median)}" x2="${m.left + plotW}" y2="${ys(r.baseline.median)}" stroke="${color}" stroke-dasharray="4 4"/>`)
    parts.push(`<rect x="${m.left + plotW + 16}" y="${m.top + k * 20}" width="12" height="12" fill="${color}"/>`)
    parts.push(`<text x="${m.left + plotW + 34}" y="${m.top + k * 20 + 10}">${r.case} (${r.size})</text>`)
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}
