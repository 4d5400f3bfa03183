/**
 * `npm run fuzz -- --count N [--seed S] [--targets decode,envelopes,cli,lambda,rpc] [--json FILE]`
 *
 * Generated inputs through every entry point that takes outside input (test/fuzz/): raw
 * transactions (decodeRawTx), ingress envelopes (the sequencer of an embedded cluster), the
 * coordinator's and sequencer's Lambda events and the worker's shard messages, `parevm run`
 * transaction files, JSON-RPC bodies. Deterministic from the seed (default: from the clock,
 * printed). Exit status 1 on any crash, hang or wrong outcome, each printed with its target,
 * seed, input and error.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

import { formatReport, runFuzz, TARGETS, type TargetName } from '../test/fuzz/run.ts'

const HELP = `npm run fuzz -- --count N [--seed S] [--targets LIST] [--json FILE]

  --count N        inputs in all (default 10000), spread over the targets
  --seed S         32-bit seed (default: from the clock); the same seed gives the same inputs
  --targets LIST   comma-separated subset of: ${Object.keys(TARGETS).join(', ')}
  --json FILE      also write the report as JSON
`

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { count: { type: 'string' }, seed: { type: 'string' }, targets: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(HELP)
    return 0
  }
  const count = Number(values.count ?? 10_000)
  if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer (got ${values.count})`)
  const seed = values.seed === undefined ? Date.now() % 0x1_0000_0000 : Number(values.seed)
  if (!Number.isInteger(seed) || seed < 0 || seed >= 0x1_0000_0000) throw new Error(`--seed must be an integer 0..2^32-1 (got ${values.seed})`)
  const targets = values.targets?.split(',').map((t) => t.trim()) as TargetName[] | undefined
  for (const t of targets ?? []) if (!(t in TARGETS)) throw new Error(`unknown target ${t}: use ${Object.keys(TARGETS).join(', ')}`)

  process.stderr.write(`fuzz: ${count} inputs, seed ${seed} (reproduce with --seed ${seed})\n`)
  let last = 0
  const report = await runFuzz({
    count,
    seed,
    ...(targets !== undefined ? { targets } : {}),
    onProgress: (target, done, of) => {
      const now = performance.now()
      if (now - last < 2_000 && done < of) return
      last = now
      process.stderr.write(`  ${target}: ${done}/${of}\n`)
    },
    onTarget: (run) => process.stderr.write(`  ${run.stats.target}: ${run.stats.inputs} inputs in ${(run.stats.ms / 1000).toFixed(1)} s, ${run.failures.length} failure(s)\n`),
  })
  process.stdout.write(`${formatReport(report)}\n`)
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`)
  return report.failures.length === 0 ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fuzz: ${(error as Error)?.stack ?? String(error)}\n`)
    process.exit(2)
  },
)
