/** `parevm start` (the default job): a generated workload through the embedded cluster. */
import { z } from 'zod'

import { generateWorkload, WORKLOAD_MIXES } from '../../shared/workload/generator.ts'
import { openCliAwsBackend } from '../commons/cli-backend.ts'
import { ConfigError } from '../../shared/errors.ts'
import { intOption, parseCommand } from './args.ts'
import { stderr, summaryJson, summaryText } from './output.ts'
import { defaultWorkers, runEmbedded } from './run-embedded.ts'
import { accountedExitCode } from './run.ts'

export const START_HELP = `parevm start [options]    run a generated workload through the embedded cluster

Seals blocks of real signed transactions (an ERC20 token and constant-product AMM pools,
compiled from Solidity) with a sequencer, parallel workers and a coordinator, and checks every
sealed block against sequential @ethereumjs/vm.

  --txs N            transactions to generate (default 2000)
  --mix M            ${WORKLOAD_MIXES.join(' | ')} (default mixed)
  --accounts N       funded senders (default 500); as many fresh recipients
  --hot F            share of transactions aimed at one hot key, 0..1 (default 0.05)
  --pools N          AMM pools (default 50)
  --block-size N     most transactions per block (default 500)
  --workers N        worker threads (default: cores, ${defaultWorkers()} here)
  --shards N         shards per block (default: workers)
  --seed N           workload seed (default 1)
  --no-verify        skip the sequential check (for timing)
  --no-pipeline      plan each block after the previous seal (default: the next block is
                     planned and executed while this one seals)
  --inline           run workers as async loops in the main thread (no threads)
  --export DIR       write genesis, blocks, receipts and rejections as JSON-RPC shapes
  --backend B        memory (default) | aws: store and queues on DynamoDB and SQS at the
                     configured endpoint (AWS_ENDPOINT_URL*, or your AWS account)
  --prefix P         with --backend aws: use (create if missing, keep) tables and queues
                     named P-...; default: fresh ones, deleted after the run
  --json             print the summary as JSON on stdout
`

const schema = z.object({
  txs: intOption(0, 1_000_000).default(2000),
  mix: z.enum(WORKLOAD_MIXES).default('mixed'),
  accounts: intOption(1, 200_000).default(500),
  hot: z.coerce.number().min(0).max(1).default(0.05),
  pools: intOption(1, 10_000).default(50),
  'block-size': intOption(1, 100_000).default(500),
  workers: intOption(1, 256).optional(),
  shards: intOption(1, 4096).optional(),
  seed: intOption(0, 2 ** 31).default(1),
  verify: z.boolean().default(true),
  pipeline: z.boolean().default(true),
  inline: z.boolean().default(false),
  export: z.string().optional(),
  backend: z.enum(['memory', 'aws']).default('memory'),
  prefix: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  positionals: z.array(z.string()).max(0, 'start takes no positional arguments'),
})

export async function startCommand(argv: string[]): Promise<number> {
  const o = parseCommand(
    argv,
    {
      txs: { type: 'string' },
      mix: { type: 'string' },
      accounts: { type: 'string' },
      hot: { type: 'string' },
      pools: { type: 'string' },
      'block-size': { type: 'string' },
      workers: { type: 'string' },
      shards: { type: 'string' },
      seed: { type: 'string' },
      verify: { type: 'boolean' },
      pipeline: { type: 'boolean' },
      inline: { type: 'boolean' },
      export: { type: 'string' },
      backend: { type: 'string' },
      prefix: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    schema,
    'start',
  )
  if (o.help) {
    process.stdout.write(START_HELP)
    return 0
  }
  if (o.prefix !== undefined && o.backend !== 'aws') throw new ConfigError('parevm start: --prefix needs --backend aws', { hint: 'run: parevm start --help' })
  if (!o.json) stderr(`generating ${o.txs} ${o.mix} transactions (${o.accounts} senders, hot share ${o.hot}, ${o.pools} pools, seed ${o.seed})`)
  const t0 = performance.now()
  const workload = generateWorkload({ txs: o.txs, mix: o.mix, accounts: o.accounts, hotShare: o.hot, pools: o.pools, seed: o.seed })
  if (!o.json) stderr(`signed in ${Math.round(performance.now() - t0)} ms`)
  const aws = o.backend === 'aws' ? await openCliAwsBackend({ prefix: o.prefix }) : undefined
  if (aws !== undefined && !o.json) stderr(`backend: ${aws.description}`)
  const summary = await runEmbedded({
    genesisFile: workload.genesis,
    rawTxs: workload.rawTxs,
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    ...(o.shards !== undefined ? { shards: o.shards } : {}),
    blockSize: o['block-size'],
    verify: o.verify,
    pipeline: o.pipeline,
    threads: !o.inline,
    ...(o.export !== undefined ? { exportDir: o.export } : {}),
    quiet: o.json,
    ...(aws !== undefined ? { backends: aws.backends } : {}),
  }).finally(() => aws?.close())
  const workloadInfo = { mix: o.mix, txs: o.txs, accounts: o.accounts, hotShare: o.hot, pools: o.pools, seed: o.seed }
  if (o.json) process.stdout.write(`${summaryJson(summary, { workload: workloadInfo })}\n`)
  else process.stdout.write(`\nparevm start: ${o.mix} workload, ${o.txs} transactions\n${summaryText(summary)}\n`)
  return accountedExitCode(summary, summary.inputs)
}
