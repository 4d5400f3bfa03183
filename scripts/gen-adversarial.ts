/**
 * Writes an adversarial workload for `parevm run`:
 *
 *   npx tsx scripts/gen-adversarial.ts --seed 7 --lines 600 --out DIR
 *     [--senders 12] [--invalid-share 0.25] [--gas-limit 30000000] [--no-beacon-roots]
 *
 * DIR/genesis.json and DIR/txs.txt (one raw transaction per line, in order); DIR/kinds.txt has
 * the generator's label for each line (informational). Prints a one-line summary.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

import { generateAdversarial, isIntendedValid, summarizeKinds, type AdversarialOptions } from '../shared/workload/adversarial.ts'

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    lines: { type: 'string', default: '600' },
    senders: { type: 'string' },
    'invalid-share': { type: 'string' },
    'gas-limit': { type: 'string' },
    'no-beacon-roots': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})

if (values.help || values.out === undefined) {
  process.stderr.write(
    'usage: npx tsx scripts/gen-adversarial.ts --seed N --lines N --out DIR [--senders N] [--invalid-share X] [--gas-limit N] [--no-beacon-roots]\n',
  )
  process.exit(values.help ? 0 : 2)
}

const integer = (name: string, text: string): number => {
  if (!/^-?\d+$/.test(text)) {
    process.stderr.write(`--${name} must be an integer, got ${text}\n`)
    process.exit(2)
  }
  return Number(text)
}

const options: AdversarialOptions = {
  seed: integer('seed', values.seed),
  lines: integer('lines', values.lines),
  beaconRoots: !values['no-beacon-roots'],
}
if (values.senders !== undefined) options.senders = integer('senders', values.senders)
if (values['invalid-share'] !== undefined) options.invalidShare = Number(values['invalid-share'])
if (values['gas-limit'] !== undefined) options.gasLimit = BigInt(integer('gas-limit', values['gas-limit']))

const workload = generateAdversarial(options)
const dir = values.out
mkdirSync(dir, { recursive: true })
writeFileSync(join(dir, 'genesis.json'), `${JSON.stringify(workload.genesisFile, null, 2)}\n`)
writeFileSync(join(dir, 'txs.txt'), `${workload.lines.map((l) => l.raw).join('\n')}\n`)
writeFileSync(join(dir, 'kinds.txt'), `${workload.lines.map((l) => l.kind).join('\n')}\n`)

const valid = workload.lines.filter((l) => isIntendedValid(l.kind)).length
process.stdout.write(
  `seed ${options.seed}: ${workload.lines.length} lines (${valid} meant valid, ${workload.lines.length - valid} invalid) → ${dir}: ${summarizeKinds(workload.lines)}\n`,
)
