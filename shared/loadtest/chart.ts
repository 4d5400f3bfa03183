/**
 * The report's chart: a self-contained SVG (throughput, inclusion latency and queue depth over
 * time) and an HTML page around it with the summary. No scripts, no external resources: both
 * open in any browser and can be attached to an issue or committed.
 */
import type { LoadTestReport } from './report.ts'

const W = 960
const PANEL_H = 190
const GAP = 46
const LEFT = 70
const RIGHT = 20
const TOP = 56

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const truncate = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`)
const fmt = (n: number): string => (Math.abs(n) >= 1000 ? n.toLocaleString('en-US', { maximumFractionDigits: 0 }) : String(Math.round(n * 10) / 10))

/** Tick step 1, 2 or 5 times a power of ten, about `count` ticks up to max. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1]
  const raw = max / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!
  const ticks: number[] = []
  for (let v = 0; v <= max + step * 0.999 && ticks.length < 20; v += step) ticks.push(Math.round(v * 1e6) / 1e6)
  return ticks
}

interface Series {
  label: string
  color: string
  points: [number, number][]
  dash?: string
  width?: number
}

let clipIds = 0

/** One panel; series marked `clip` may rise above the scale the others set (they are cut off). */
function panel(y0: number, title: string, unit: string, tMax: number, series: (Series & { clip?: boolean })[], markers: number[]): string {
  const plotW = W - LEFT - RIGHT
  const scaled = series.some((s) => s.clip !== true && s.points.length > 0) ? series.filter((s) => s.clip !== true) : series
  const yMax = Math.max(1, ...scaled.flatMap((s) => s.points.map((p) => p[1])))
  const ticks = niceTicks(yMax)
  const top = ticks[ticks.length - 1]!
  const x = (t: number): number => LEFT + (tMax === 0 ? 0 : (t / tMax) * plotW)
  const y = (v: number): number => y0 + PANEL_H - (v / top) * PANEL_H
  const out: string[] = []
  out.push(`<text x="${LEFT}" y="${y0 - 8}" font-size="13" font-weight="bold">${esc(title)}</text>`)
  out.push(`<text x="${LEFT - 8}" y="${y0 - 8}" font-size="11" text-anchor="end" fill="#555">${esc(unit)}</text>`)
  for (const v of ticks) {
    out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`)
    out.push(`<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#555">${fmt(v)}</text>`)
  }
  for (const m of markers) out.push(`<line x1="${x(m).toFixed(1)}" x2="${x(m).toFixed(1)}" y1="${y0}" y2="${y0 + PANEL_H}" stroke="#bbb" stroke-dasharray="2,3"/>`)
  out.push(`<rect x="${LEFT}" y="${y0}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#999"/>`)
  for (const t of niceTicks(tMax, 10)) {
    if (t > tMax) break
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${y0 + PANEL_H}" y2="${y0 + PANEL_H + 4}" stroke="#999"/>`)
    out.push(`<text x="${x(t).toFixed(1)}" y="${y0 + PANEL_H + 15}" font-size="10" text-anchor="middle" fill="#555">${fmt(t)}</text>`)
  }
  let legendX = W - RIGHT
  for (const s of [...series].reverse()) {
    const textW = 7 * s.label.length + 26
    legendX -= textW
    out.push(`<line x1="${legendX}" x2="${legendX + 16}" y1="${y0 - 12}" y2="${y0 - 12}" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    out.push(`<text x="${legendX + 20}" y="${y0 - 8}" font-size="11">${esc(s.label)}</text>`)
  }
  const clipId = `plot${++clipIds}`
  out.push(`<clipPath id="${clipId}"><rect x="${LEFT}" y="${y0}" width="${plotW}" height="${PANEL_H}"/></clipPath>`)
  for (const s of series) {
    if (s.points.length === 0) continue
    const d = s.points.map(([t, v], i) => `${i === 0 ? 'M' : 'L'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width ?? 1.8}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} clip-path="url(#${clipId})"/>`)
  }
  return out.join('\n')
}

/** Blocks seal in bursts: inclusions are also drawn as a trailing mean over this many buckets. */
const SMOOTH_BUCKETS = 5

function movingMean(points: [number, number][], n: number): [number, number][] {
  let sum = 0
  return points.map(([t, v], i) => {
    sum += v
    if (i >= n) sum -= points[i - n]![1]
    return [t, sum / Math.min(n, i + 1)]
  })
}

const TITLE_CHARS_MAX = 80

export function chartSvg(r: LoadTestReport): string {
  const pts = r.timeline.points
  const b = r.timeline.bucketSec
  const tMax = Math.max(1, pts.length * b)
  // Step functions drawn at bucket centres.
  const at = (t: number): number => t + b / 2
  let stepStart = 0
  const markers = r.load.steps.slice(0, -1).map((s) => (stepStart += s.durationSec))
  const height = TOP + 3 * PANEL_H + 2 * GAP + 50
  const l = r.latencyMs
  const subtitle = `${r.workload.mix}, hot share ${r.workload.hotShare}, ${r.workload.accounts} senders; offered ${fmt(r.throughput.offeredTps)} tx/s, achieved ${fmt(r.throughput.achievedTps)} tx/s; latency p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms; ${r.results.included} included, ${r.results.rejected} rejected, ${r.results.unaccounted} never included`
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="22" font-size="16" font-weight="bold">parevm load test: ${esc(truncate(r.target.description, TITLE_CHARS_MAX - 18))}</text>`,
    `<text x="${LEFT}" y="40" font-size="11" fill="#333">${esc(subtitle)}</text>`,
    panel(TOP + 14, 'Throughput', 'tx/s', tMax, [
      { label: 'offered', color: '#888', dash: '5,4', points: pts.map((p) => [at(p.t), p.offeredTps]) },
      { label: 'sent', color: '#4a7bd0', width: 1.2, points: pts.map((p) => [at(p.t), p.sentTps]) },
      { label: 'included (per bucket)', color: '#9fd3ad', width: 1, clip: true, points: pts.map((p) => [at(p.t), p.includedTps]) },
      { label: `included (${SMOOTH_BUCKETS * b} s mean)`, color: '#2a9d4b', width: 2.4, points: movingMean(pts.map((p) => [at(p.t), p.includedTps]), SMOOTH_BUCKETS) },
      { label: 'rejected', color: '#d04a4a', width: 1.2, points: pts.map((p) => [at(p.t), p.rejectedTps]) },
    ], markers),
    panel(TOP + 14 + PANEL_H + GAP, 'Inclusion latency by send time', 'ms', tMax, [
      { label: 'p50', color: '#e08a1e', points: pts.filter((p) => p.latencyP50Ms !== undefined).map((p) => [at(p.t), p.latencyP50Ms!]) },
      { label: 'p99', color: '#c0392b', points: pts.filter((p) => p.latencyP99Ms !== undefined).map((p) => [at(p.t), p.latencyP99Ms!]) },
    ], markers),
    panel(TOP + 14 + 2 * (PANEL_H + GAP), 'Ingress queue depth', 'messages', tMax, [
      { label: 'visible', color: '#6c4ab0', points: r.queueDepth.map((d) => [Math.max(0, d.t), d.visible]) },
      { label: 'in flight', color: '#b04a8f', width: 1.2, points: r.queueDepth.map((d) => [Math.max(0, d.t), d.inFlight]) },
    ], markers),
    `<text x="${(LEFT + W - RIGHT) / 2}" y="${height - 10}" font-size="11" text-anchor="middle" fill="#555">seconds after the first scheduled send${markers.length > 0 ? ' (dotted lines: ramp steps)' : ''}</text>`,
    '</svg>',
  ]
  return parts.join('\n')
}

export function reportHtml(r: LoadTestReport, summaryText: string): string {
  const { timeline: _t, queueDepth: _q, unaccountedTxs, ...head } = r
  const unaccounted = unaccountedTxs.slice(0, 1000)
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><title>parevm load test</title>',
    '<style>body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}pre{background:#f6f6f6;padding:12px;overflow:auto;font-size:12px}</style>',
    '</head><body>',
    `<h1>parevm load test</h1><p>${esc(r.startedAt)} to ${esc(r.endedAt)}</p>`,
    `<pre>${esc(summaryText)}</pre>`,
    chartSvg(r),
    unaccounted.length === 0 ? '' : `<h2>Never included (${r.results.unaccounted})</h2><pre>${esc(unaccounted.map((u) => `${u.hash}  sender ${u.sender} nonce ${u.nonce}${u.sendFailed ? '  (send failed)' : ''}`).join('\n'))}</pre>`,
    `<h2>Report</h2><pre>${esc(JSON.stringify(head, null, 2))}</pre>`,
    '<p>Timeline and queue depth samples: report.json.</p>',
    '</body></html>',
  ].join('\n')
}
