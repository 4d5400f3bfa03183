/**
 * `npm run bench:sustained`: a long run of many blocks with blocks pipelined and not pipelined
 * (ClusterOptions.pipeline), each run in a process of its own. In one process every earlier run's
 * heap weighs on the next (the in-process bench's 50,000-transaction runs hold gigabytes): the
 * same setting measured 879 tx/s first and far less later. Here each child starts fresh, the
 * configurations rotate from round to round, and tables show medians with their ranges.
 *
 *   npm run bench:sustained -- --case erc20 --txs 50000 --block-size 1000 --workers 1,2 --rounds 2 --label 2-core-vm-50000-sustained
 *
 * The timed runs are not checked (that would double each run): every run must end on the same
 * chain (the same last block hash), and `--check` runs once more and checks that chain block by
 * block against sequential @ethereumjs/vm, untimed (`--rounds 0 --check`: only the check).
 */
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'

import { CASES, caseWorkload, engineRun, stats, type EngineSetting } from './engine-bench.ts'
import { resultMeta, writeResult } from './results.ts'
import { buildGenesis } from '../shared/chain/genesis.ts'
import { SequentialVerifier } from '../shared/verify/sequential.ts'

interface ChildSpec {
  case: string
  txs: number
  blockSize: number
  warmup: number
  workers: number
  pipeline: boolean
  /** Check every block (warm-up included) against sequential @ethereumjs/vm after the run, untimed. */
  check?: boolean
}

interface ChildResult {
  txPerSec: number
  ms: number
  blocks: number
  reexecuted: number
  lastHash: string
  serialFraction: number
  /** With `check`: blocks found identical to sequential @ethereumjs/vm, and the check's time. */
  checked?: number
  checkMs?: number
}

const WARMUP = 200

async function child(spec: ChildSpec): Promise<void> {
  const c = CASES.find((x) => x.name === spec.case)
  if (c === undefined) throw new Error(`unknown case ${spec.case}`)
  const { workload, warmTxs, measured } = caseWorkload(c, spec.txs, spec.warmup)
  const setting: EngineSetting = { templates: 'warm', intakeOverlap: true, pipeline: spec.pipeline }
  const { run, warmEvents, events } = await engineRun(workload.genesis, warmTxs, measured, spec.workers, setting, spec.blockSize)
  const result: ChildResult = { txPerSec: run.txPerSec, ms: run.ms, blocks: run.blocks, reexecuted: run.reexecuted, lastHash: run.hashes.at(-1)!, serialFraction: run.criticalPath.serialFraction }
  if (spec.check === true) {
    const t = performance.now()
    const verifier = await SequentialVerifier.fromGenesis(buildGenesis(workload.genesis))
    for (const e of [...warmEvents, ...events]) await verifier.check(e.sealed)
    result.checked = warmEvents.length + events.length
    result.checkMs = performance.now() - t
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

function runChild(spec: ChildSpec): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, import.meta.filename, '--child', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.on('error', reject)
    p.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? ''
      if (code !== 0) reject(new Error(`child run exited with ${code}: ${out.slice(-500)}`))
      else resolve(JSON.parse(line) as ChildResult)
    })
  })
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      case: { type: 'string', default: 'erc20' },
      txs: { type: 'string', default: '50000' },
      'block-size': { type: 'string', default: '1000' },
      workers: { type: 'string', default: '1,2' },
      rounds: { type: 'string', default: '2' },
      check: { type: 'boolean', default: false },
      label: { type: 'string' },
      out: { type: 'string', default: 'bench/results' },
    },
  })
  if (values.child !== undefined) return child(JSON.parse(values.child) as ChildSpec)
  const txs = Number(values.txs)
  const blockSize = Number(values['block-size'])
  const rounds = Number(values.rounds)
  const workerCounts = values.workers.split(',').map(Number)
  for (const n of [txs, blockSize, ...workerCounts]) if (!Number.isInteger(n) || n < 1) throw new Error(`expected positive integers (got ${n})`)
  if (!Number.isInteger(rounds) || rounds < 0 || (rounds === 0 && !values.check)) throw new Error(`--rounds: a non-negative integer, 0 only with --check (got ${values.rounds})`)
  if (CASES.find((x) => x.name === values.case) === undefined) throw new Error(`--case: one of ${CASES.map((x) => x.name).join(', ')}`)
  const configs = workerCounts.flatMap((workers) => [true, false].map((pipeline) => ({ workers, pipeline })))
  const samples = new Map<string, ChildResult[]>()
  const name = (c: { workers: number; pipeline: boolean }): string => `${c.workers}w ${c.pipeline ? 'pipelined' : 'not pipelined'}`
  const log = (line: string): void => void process.stderr.write(`${line}\n`)
  log(`sustained: ${values.case}, ${txs} transactions in blocks of ${blockSize}, workers ${workerCounts.join(',')}, ${rounds} round(s), one process per run`)
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < configs.length; i++) {
      const c = configs[(i + r) % configs.length]!
      const result = await runChild({ case: values.case, txs, blockSize, warmup: WARMUP, ...c })
      log(`  round ${r + 1}/${rounds}: ${name(c)}: ${Math.round(result.txPerSec)} tx/s, ${result.blocks} blocks, ${result.reexecuted} re-executed, last block ${result.lastHash.slice(0, 14)}…`)
      samples.set(name(c), [...(samples.get(name(c)) ?? []), result])
    }
  }
  // The chain checked block by block against sequential @ethereumjs/vm (one more run, pipelined, the check untimed).
  let check: ChildResult | undefined
  if (values.check) {
    check = await runChild({ case: values.case, txs, blockSize, warmup: WARMUP, workers: workerCounts[0]!, pipeline: true, check: true })
    log(`  check: ${check.checked} blocks identical to sequential @ethereumjs/vm (${Math.round(check.checkMs! / 1000)} s), last block ${check.lastHash}`)
  }
  const hashes = new Set([...[...samples.values()].flat(), ...(check !== undefined ? [check] : [])].map((s) => s.lastHash))
  if (hashes.size !== 1) throw new Error(`runs ended on different chains (${[...hashes].join(', ')}): the comparison is void`)
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
  const rows = rounds === 0 ? [] : workerCounts.map((w) => {
    const on = stats(samples.get(name({ workers: w, pipeline: true }))!.map((s) => s.txPerSec))
    const off = stats(samples.get(name({ workers: w, pipeline: false }))!.map((s) => s.txPerSec))
    const range = (s: ReturnType<typeof stats>): string => `${fmt(s.median)} (${fmt(s.min)}-${fmt(s.max)})`
    return `| ${w} | ${range(on)} | ${range(off)} | ${(on.median / off.median).toFixed(2)}x |`
  })
  const markdown = [
    `## Sustained: ${values.case}, ${fmt(txs)} transactions in blocks of ${fmt(blockSize)}, pipelined against not pipelined`,
    '',
    `Each run in a fresh process (an untimed warm-up block of ${WARMUP}, then the measured blocks; templates warm; intake overlapped); ${rounds} round(s), the order rotating; tx/s = measured transactions / summed block wall times (a pipelined block's from its parent's seal to its own); medians (min-max). Every run ended on the same chain (last block ${[...hashes][0]}); the timed runs are not checked${check === undefined ? ' (run with --check for the check of this chain)' : ''}.`,
    '',
    ...(rows.length > 0 ? ['| workers | pipelined tx/s | not pipelined tx/s | pipelined / not |', '|---|---|---|---|', ...rows] : []),
    ...(check !== undefined
      ? ['', `Checked: one more run (${workerCounts[0]} worker(s), pipelined) sealed the same chain, and all its ${check.checked} blocks (warm-up included) were identical to sequential @ethereumjs/vm (every header and receipt field; ${fmt(check.checkMs! / 1000)} s, untimed).`]
      : []),
  ].join('\n')
  const meta = resultMeta(values.label)
  meta.command = `npm run bench:sustained -- ${process.argv.slice(2).join(' ')}`
  const paths = writeResult(values.out, meta, { samples: Object.fromEntries(samples), ...(check !== undefined ? { check } : {}) }, markdown)
  process.stdout.write(`${markdown}\n\nwrote ${paths.join(', ')}\n`)
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exit(1)
  },
)
