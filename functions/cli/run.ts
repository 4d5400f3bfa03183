/** `parevm run`: a user's genesis and raw transactions through the embedded cluster. */

import { z } from 'zod'

import { parseGenesis } from '../../shared/chain/genesis.ts'
import { intOption, parseCommand, readJsonFile, readTextFile } from './args.ts'
import { stderr, summaryJson, summaryText } from './output.ts'
import { runEmbedded } from './run-embedded.ts'

import type { RunSummary } from '../../shared/cluster/embedded.ts'

export const RUN_HELP = `parevm run --genesis FILE --txs FILE [options]    execute your own transactions

  --genesis FILE     a geth-style genesis (config.chainId and fork activation, alloc, gasLimit,
                     baseFeePerGas, coinbase, timestamp); every fork active at genesis
  --txs FILE         raw signed transactions, one 0x-hex per line, executed in the file's
                     order (blank lines and lines starting with # are skipped); each line is
                     included or rejected once, with its line number and reason
  --block-size N     most transactions per block (default 1000)
  --workers N        worker threads (default: cores)
  --shards N         shards per block (default: workers)
  --no-verify        skip the sequential check
  --no-pipeline      plan each block after the previous seal (default: the next block is
                     planned and executed while this one seals)
  --inline           run workers in the main thread
  --export DIR       write genesis, blocks, receipts and rejections as JSON-RPC shapes
  --json             print the summary as JSON on stdout

Blocks are runs of consecutive lines (at most --block-size transactions whose gas limits fit the
block gas limit). Each line is judged where it stands, as sequential execution judges it: a
transaction refused there (nonce, funds, fee cap, a sender with code, ...) consumes nothing and
the lines after it are judged against what really happened. Exit status 0 when every line is
accounted for (included + rejected = lines read) and every block passed the sequential check.
`

const schema = z.object({
  genesis: z.string({ error: 'is required' }),
  txs: z.string({ error: 'is required' }),
  'block-size': intOption(1, 100_000).default(1000),
  workers: intOption(1, 256).optional(),
  shards: intOption(1, 4096).optional(),
  verify: z.boolean().default(true),
  pipeline: z.boolean().default(true),
  inline: z.boolean().default(false),
  export: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  positionals: z.array(z.string()).max(0, 'run takes no positional arguments'),
})

/** The transaction lines of a txs file with their 1-based line numbers (blanks and # comments skipped). */
export function readTxFile(path: string): { raws: string[]; lines: number[] } {
  const raws: string[] = []
  const lines: number[] = []
  readTextFile(path, 'transactions')
    .split(/\r?\n/)
    .forEach((text, i) => {
      const line = text.trim()
      if (line === '' || line.startsWith('#')) return
      raws.push(line)
      lines.push(i + 1)
    })
  return { raws, lines }
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
      pipeline: { type: 'boolean' },
      inline: { type: 'boolean' },
      export: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    schema,
    'run',
  )
  const genesisFile = parseGenesis(readJsonFile(o.genesis, 'genesis'))
  const { raws: rawTxs, lines } = readTxFile(o.txs)
  if (!o.json) stderr(`${rawTxs.length} transaction lines from ${o.txs}`)
  const summary = await runEmbedded({
    genesisFile,
    rawTxs,
    ordered: { lineNumbers: lines },
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    ...(o.shards !== undefined ? { shards: o.shards } : {}),
    blockSize: o['block-size'],
    verify: o.verify,
    pipeline: o.pipeline,
    threads: !o.inline,
    ...(o.export !== undefined ? { exportDir: o.export } : {}),
    quiet: o.json,
  })
  if (o.json) process.stdout.write(`${summaryJson(summary)}\n`)
  else process.stdout.write(`\nparevm run: ${rawTxs.length} transaction lines from ${o.txs}\n${summaryText(summary)}\n`)
  return accountedExitCode(summary, rawTxs.length)
}

/**
 * 0 when every input is accounted for (included + rejected + dropped duplicates = inputs) and,
 * with the check on, every sealed block passed it; otherwise 1 with the reason on stderr.
 */
export function accountedExitCode(summary: RunSummary, inputs: number): number {
  const unaccounted = inputs - summary.included - summary.rejected - summary.duplicatesDropped
  if (unaccounted !== 0) {
    stderr(`error: ${unaccounted > 0 ? `${unaccounted} input(s) neither included nor rejected` : `${-unaccounted} more outcome(s) than inputs`}`)
    return 1
  }
  if (summary.verify && summary.verifiedBlocks !== summary.blocks) {
    stderr(`error: ${summary.blocks - summary.verifiedBlocks} sealed block(s) were not checked against sequential execution`)
    return 1
  }
  return 0
}
