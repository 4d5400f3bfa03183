/**
 * `parevm run --txs FILE`: files of junk lines (random hex and text, NUL bytes, unicode, very
 * long lines), blank lines, comments, CRLF and LF endings, surrounding whitespace, mixed with
 * valid transactions; read by the CLI's own `readTxFile` and run by `EmbeddedCluster.runOrdered`.
 * Each transaction line has exactly one outcome naming its line, every valid line is included,
 * and `accountedExitCode` gives 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { EmbeddedCluster } from '../../shared/cluster/embedded.ts'
import { accountedExitCode, readTxFile } from '../../functions/cli/run.ts'
import { signTx, testGenesis } from '../helpers/chain.ts'
import { RawTxGenerator, validPool } from './raw-tx.ts'
import { Rng } from './rng.ts'
import { count, failure, newStats, type FuzzFailure, type TargetOptions, type TargetRun } from './types.ts'

import type { GenesisState } from '../../shared/chain/genesis.ts'
import type { Rejection } from '../../shared/intake/rejection.ts'

interface Line {
  kind: string
  text: string
  /** Valid transaction lines: must be included. */
  valid?: boolean
}

const SPACES = [' ', '\t', '\u00a0', '\ufeff', '\u2028', '\v', '\f']

function isSkipped(text: string): boolean {
  const t = text.trim()
  return t === '' || t.startsWith('#')
}

class LineGenerator {
  private readonly raws: RawTxGenerator

  constructor(private readonly rng: Rng) {
    this.raws = new RawTxGenerator(rng, validPool(rng, 16))
  }

  junk(): Line {
    const rng = this.rng
    const r = rng.int(100)
    if (r < 50) {
      for (;;) {
        const x = this.raws.next()
        if (!x.input.includes('\n')) return { kind: `raw-${x.kind}`, text: x.input }
      }
    }
    if (r < 60) return { kind: 'blank', text: rng.pick(['', ' ', '\t', '  \t ']) }
    if (r < 68) return { kind: 'comment', text: `${rng.pick(['', ' ', '\t'])}#${rng.pick([' a comment', '0x02f8', '', '# nested'])}` }
    if (r < 76) {
      const nul = `0x02${'00'.repeat(rng.int(10))}`
      const at = rng.int(nul.length + 1)
      return { kind: 'nul', text: `${nul.slice(0, at)}\u0000${nul.slice(at)}` }
    }
    if (r < 84) return { kind: 'unicode', text: rng.pick(['0x😀', 'é', '０ｘ００', '\ud800', '0x02\u200b', '\u202e0x02']) }
    if (r < 88) {
      const n = rng.pick([70_000, 140_000, 300_000])
      return { kind: 'long', text: rng.chance(0.5) ? `0x02${'ab'.repeat(n)}` : `0x${'z'.repeat(n)}` }
    }
    if (r < 94) return { kind: 'mid-cr', text: `0x02\r${'00'.repeat(rng.int(4))}` }
    return { kind: 'text', text: Buffer.from(rng.bytes(rng.range(1, 80))).toString('latin1').replace(/[\n]/g, ' ') }
  }

  /** Surround a valid transaction with whitespace sometimes (it is trimmed). */
  padded(raw: string): string {
    const rng = this.rng
    if (!rng.chance(0.2)) return raw
    return `${rng.pick(SPACES)}${raw}${rng.pick(SPACES)}`
  }
}

const ACCOUNTS = 32

let genesisCache: GenesisState | undefined

/** One genesis for every file (each cluster gets a trie of its own: test/fuzz/found-bugs.test.ts). */
function freshGenesis(): GenesisState {
  genesisCache ??= testGenesis({ accounts: ACCOUNTS })
  return genesisCache
}

async function runFile(rng: Rng, seed: number, firstIndex: number, lineCount: number, stats: ReturnType<typeof newStats>, dir: string): Promise<FuzzFailure[]> {
  const gen = new LineGenerator(rng)
  // Valid transactions: a few senders, each with consecutive nonces in file order.
  const senders = rng.range(1, 8)
  const offset = rng.int(ACCOUNTS - senders + 1)
  const nonces = new Array<number>(senders).fill(0)
  const lines: Line[] = []
  for (let i = 0; i < lineCount; i++) {
    if (rng.chance(0.12)) {
      const s = rng.int(senders)
      const raw = signTx({ from: offset + s, nonce: nonces[s]!++, to: `0x${'22'.repeat(20)}`, value: 1n, type: rng.pick([0, 1, 2] as const) })
      lines.push({ kind: 'valid', text: gen.padded(raw), valid: true })
    } else lines.push(gen.junk())
  }
  const text = lines.map((l, i) => `${l.text}${i === lines.length - 1 && rng.chance(0.5) ? '' : rng.chance(0.3) ? '\r\n' : '\n'}`).join('')
  const expected = lines.flatMap((l, i) => (isSkipped(l.text) ? [] : [i + 1]))
  const validCount = lines.filter((l) => l.valid).length
  for (const l of lines) count(stats.byKind, l.kind)
  stats.inputs += lines.length
  const sample = text.slice(0, 200)
  const file = join(dir, `txs-${firstIndex}.txt`)
  writeFileSync(file, text)
  const { raws, lines: lineNumbers } = readTxFile(file)
  if (JSON.stringify(lineNumbers) !== JSON.stringify(expected)) {
    return [failure(stats.target, seed, firstIndex, 'file', sample, `readTxFile gave lines ${JSON.stringify(lineNumbers).slice(0, 200)}, expected ${JSON.stringify(expected).slice(0, 200)}`)]
  }
  const failures: FuzzFailure[] = []
  const cluster = await EmbeddedCluster.start({ genesis: freshGenesis(), workers: 1, threads: false, blockSize: 64, verify: true })
  try {
    const rejectedLines: number[] = []
    const note = (rs: readonly Rejection[]): void => {
      for (const r of rs) rejectedLines.push(r.line ?? -1)
    }
    const summary = await cluster.runOrdered(raws, (e) => note(e.sealed.rejections), { lineNumbers, onRejections: note })
    for (const [code, n] of Object.entries(summary.rejectedByCode)) count(stats.rejectedByCode, code, n)
    stats.accepted += summary.included
    const problems: string[] = []
    if (summary.included + summary.rejected !== raws.length) problems.push(`${summary.included} included + ${summary.rejected} rejected for ${raws.length} lines`)
    if (summary.included !== validCount) problems.push(`${summary.included} included, expected the ${validCount} valid lines`)
    if (summary.verifiedBlocks !== summary.blocks) problems.push(`${summary.verifiedBlocks} of ${summary.blocks} blocks verified`)
    const known = new Set(expected)
    const seen = new Set<number>()
    for (const line of rejectedLines) {
      if (!known.has(line)) problems.push(`a rejection names line ${line}, which is not a transaction line`)
      else if (seen.has(line)) problems.push(`line ${line} rejected twice`)
      seen.add(line)
    }
    for (const l of lines.keys()) if (lines[l]!.valid && seen.has(l + 1)) problems.push(`valid line ${l + 1} rejected`)
    const exit = accountedExitCode(summary, raws.length)
    if (exit !== 0) problems.push(`accountedExitCode gave ${exit}`)
    for (const p of problems.slice(0, 5)) failures.push(failure(stats.target, seed, firstIndex, 'file', sample, p))
  } catch (error) {
    failures.push(failure(stats.target, seed, firstIndex, 'file', sample, error))
  } finally {
    await cluster.stop()
  }
  return failures
}

export async function fuzzCliFiles(options: TargetOptions & { perFile?: number }): Promise<TargetRun> {
  const stats = newStats('parevm run txs files')
  const failures: FuzzFailure[] = []
  const rng = Rng.derive(options.seed, 3)
  const perFile = options.perFile ?? 400
  const dir = mkdtempSync(join(tmpdir(), 'parevm-fuzz-'))
  const t0 = performance.now()
  try {
    for (let done = 0; done < options.count; ) {
      const n = Math.max(20, Math.min(perFile, options.count - done))
      const before = performance.now()
      failures.push(...(await runFile(rng, options.seed, done, n, stats, dir)))
      stats.slowestMs = Math.max(stats.slowestMs, performance.now() - before)
      done += n
      options.onProgress?.(Math.min(done, options.count))
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  stats.ms = performance.now() - t0
  return { stats, failures }
}
