/** `parevm run`: a user's genesis and raw transactions through the embedded cluster. */

import { z } from 'zod'

import { parseGenesis } from '../../shared/chain/genesis.ts'
import { intOption, parseCommand, readJsonFile, readTextFile } from './args.ts'
import { stderr, summaryJson, summaryText } from './output.ts'
import { runEmbedded } from './run-embedded.ts'

export const RUN_HELP = `parevm run --genesis FILE --txs FILE [options]    execute your own transactions

  --genesis FILE     a geth-style genesis (config.chainId and fork activation, alloc, gasLimit,
                     baseFeePerGas, coinbase, timestamp); every fork active at genesis
  --txs FILE         raw signed transactions, one 0x-hex per line, in execution order
                     (blank lines and lines starting with # are skipped)
  --block-size N     most transactions per block (default 1000)
  --workers N        worker threads (default: cores)
  --shards N         shards per block (default: workers)
  --no-verify        skip the sequential check
  --inline           run workers in the main thread
  --export DIR       write genesis, blocks, receipts and rejections as JSON-RPC shapes
  --json             print the summary as JSON on stdout
`

const schema = z.object({
  genesis: z.string({ error: 'is required' }),
  txs: z.string({ error: 'is required' }),
  'block-size': intOption(1, 100_000).default(1000),
  workers: intOption(1, 256).optional(),
  shards: intOption(1, 4096).optional(),
  verify: z.boolean().default(true),
  inline: z.boolean().default(false),
  export: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  positionals: z.array(z.string()).max(0, 'run takes no positional arguments'),
})

export function readTxFile(path: string): string[] {
  return readTextFile(path, 'transactions')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
}

export async function runCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(RUN_HELP)
    return 0
  }
  const o = parseCommand(
    argv,
    {
      genesis: { type: 'string' },
      txs: { type: 'string' },
      'block-size': { type: 'string' },
      workers: { type: 'string' },
      shards: { type: 'string' },
      verify: { type: 'boolean' },
      inline: { type: 'boolean' },
      export: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    schema,
    'run',
  )
  const genesisFile = parseGenesis(readJsonFile(o.genesis, 'genesis'))
  const rawTxs = readTxFile(o.txs)
  if (!o.json) stderr(`${rawTxs.length} transactions from ${o.txs}`)
  const summary = await runEmbedded({
    genesisFile,
    rawTxs,
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    ...(o.shards !== undefined ? { shards: o.shards } : {}),
    blockSize: o['block-size'],
    verify: o.verify,
    threads: !o.inline,
    ...(o.export !== undefined ? { exportDir: o.export } : {}),
    quiet: o.json,
  })
  if (o.json) process.stdout.write(`${summaryJson(summary)}\n`)
  else process.stdout.write(`\nparevm run: ${rawTxs.length} transactions from ${o.txs}\n${summaryText(summary)}\n`)
  const unaccounted = rawTxs.length - summary.included - summary.rejected
  if (unaccounted !== 0) stderr(`error: ${unaccounted} transaction(s) neither included nor rejected`)
  return unaccounted === 0 ? 0 : 1
}
