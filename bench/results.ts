/**
 * What every result file says about itself, and writing it: `<dir>/<label>.json` (every sample,
 * under `meta` the machine, the command, the commit and the date) and `<dir>/<label>.md` (the
 * same header, then the tables). BENCHMARKS.md cites only committed files of bench/results/.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, hostname, release, totalmem, type as osType } from 'node:os'
import { join } from 'node:path'

import { keccakImplementation } from '../shared/crypto/keccak.ts'
import { nativeSecp256k1Loaded } from '../shared/crypto/secp256k1.ts'

export interface ResultMeta {
  label: string
  machine: { hostname: string; cpu: string; cores: number; memoryGiB: number; os: string; node: string; keccak: string; secp256k1: string }
  /** How to run it again (the arguments as given). */
  command: string
  /** HEAD when it ran, and whether tracked files differed from it. */
  commit: { hash: string; dirty: boolean } | { hash: 'unknown'; dirty: boolean; reason: string }
  date: string
  /** The @ethereumjs packages measured. */
  libraries: Record<string, string>
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: join(import.meta.dirname, '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
}

function commitOf(): ResultMeta['commit'] {
  try {
    const hash = git(['rev-parse', 'HEAD'])
    const dirty = git(['status', '--porcelain', '--untracked-files=no']).length > 0
    return { hash, dirty }
  } catch (error) {
    return { hash: 'unknown', dirty: false, reason: (error as Error).message.split('\n')[0]! }
  }
}

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

export function resultMeta(label: string | undefined, argv: readonly string[] = process.argv.slice(2)): ResultMeta {
  const date = new Date().toISOString()
  const quote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)
  return {
    label: label ?? `${hostname()}-${date.slice(0, 19).replace(/[:T]/g, '-')}`,
    machine: {
      hostname: hostname(),
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: availableParallelism(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: `${osType()} ${release()}`,
      node: process.version,
      keccak: keccakImplementation,
      secp256k1: nativeSecp256k1Loaded ? 'native' : 'pure JS',
    },
    command: `npm run bench --${argv.length > 0 ? ` ${argv.map(quote).join(' ')}` : ''}`,
    commit: commitOf(),
    date,
    libraries: Object.fromEntries(['@ethereumjs/vm', '@ethereumjs/statemanager', '@ethereumjs/evm'].map((p) => [p, versionOf(p)])),
  }
}

export function metaMarkdown(m: ResultMeta): string {
  const commit = m.commit.hash === 'unknown' ? `unknown (${'reason' in m.commit ? m.commit.reason : ''})` : `${m.commit.hash}${m.commit.dirty ? ' (with uncommitted changes to tracked files)' : ''}`
  return [
    `# parevm bench: ${m.label}`,
    '',
    `- machine: ${m.machine.cpu}, ${m.machine.cores} cores, ${m.machine.memoryGiB} GiB, ${m.machine.os} (${m.machine.hostname})`,
    `- runtime: Node ${m.machine.node}, keccak ${m.machine.keccak}, secp256k1 ${m.machine.secp256k1}; ${Object.entries(m.libraries).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `- command: \`${m.command}\``,
    `- commit: ${commit}`,
    `- date: ${m.date}`,
  ].join('\n')
}

/** Write `<label>.json` and `<label>.md` (and any extra files) under dir; returns the paths. */
export function writeResult(dir: string, meta: ResultMeta, data: Record<string, unknown>, markdown: string, extra: Record<string, string> = {}): string[] {
  mkdirSync(dir, { recursive: true })
  const name = meta.label.replace(/[^a-zA-Z0-9._-]/g, '_')
  const paths: string[] = []
  const put = (file: string, text: string): void => {
    const path = join(dir, file)
    writeFileSync(path, text)
    paths.push(path)
  }
  put(`${name}.json`, `${JSON.stringify({ meta, ...data }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`)
  put(`${name}.md`, `${metaMarkdown(meta)}\n\n${markdown}\n`)
  for (const [suffix, text] of Object.entries(extra)) put(`${name}${suffix}`, text)
  return paths
}
