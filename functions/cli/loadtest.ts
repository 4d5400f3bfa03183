/**
 * `parevm loadtest`: load testing by injecting signed transactions into the ingress queue at a
 * target rate, open loop, and measuring when each is included. Targets: the embedded cluster
 * (started here), or any SQS/DynamoDB endpoint - a deployed stack (CDK outputs file), local
 * servers or LocalStack (--prefix), with the pipeline running elsewhere or here
 * (--with-pipeline). Writes report.json, chart.svg and report.html.
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'

import { z } from 'zod'

import { configuredEndpoints, createAwsClients } from '../../shared/adapters/aws/clients.ts'
import { openBackend } from '../../shared/adapters/aws/provision.ts'
import { SUPPORTED_HARDFORKS, DEFAULT_HARDFORK } from '../../shared/chain/common.ts'
import { parseGenesis, type GenesisFile } from '../../shared/chain/genesis.ts'
import { ConfigError } from '../../shared/errors.ts'
import { fromHex } from '../../shared/hex.ts'
import { chartSvg, reportHtml } from '../../shared/loadtest/chart.ts'
import { LOADTEST_MIXES } from '../../shared/loadtest/intents.ts'
import { startPipeline } from '../../shared/loadtest/pipeline.ts'
import { reportText, type LoadTestReport } from '../../shared/loadtest/report.ts'
import { StopController, runLoadTest, type LoadTestTarget } from '../../shared/loadtest/run.ts'
import { parseRamp, type RampStep } from '../../shared/loadtest/schedule.ts'
import { memoryBackends, parseStackOutputs, regionOfQueueUrl } from '../../shared/loadtest/targets.ts'
import { DEFAULT_CHAIN_ID } from '../../shared/workload/generator.ts'
import { openCliAwsBackend } from '../commons/cli-backend.ts'
import { StoreBackend } from '../../shared/rpc/backend.ts'
import { RpcService } from '../../shared/rpc/service.ts'
import { intOption, parseCommand } from './args.ts'
import { listenRpc, type RpcListener } from './node.ts'

import type { ClusterOptions } from '../../shared/cluster/embedded.ts'

export const LOADTEST_HELP = `parevm loadtest [options]    inject transactions into the ingress queue at a target rate

Signs transactions ahead of the run (worker threads), sends them open loop by the clock with
SendMessageBatch, and follows every one to its receipt or rejection record. Reports offered
and achieved throughput, inclusion latency percentiles (from the intended send time),
rejections by reason, re-executions and queue depth over time, and lists any transaction never
included. Stops after the schedule plus --drain, or on Ctrl-C (twice: stop draining).

Target
  --target T          embedded (default: the embedded cluster, started here) | aws
  --outputs FILE      aws: CDK outputs JSON (cdk deploy --outputs-file FILE): ingress queue URL
                      and table names of a deployed stack
  --stack NAME        aws: the stack in the outputs file (default: the only one)
  --prefix P          aws: tables P-<table> and queues P-<role> (local servers, LocalStack)
  --queue-url URL     aws: the ingress queue URL (default: from --outputs or by name)
  --with-pipeline     aws: also run the pipeline (sequencer, workers, coordinator) here over
                      those tables and queues; without --prefix on fresh ones, deleted after
  --via V             queue (default: send to the ingress queue) | rpc: send each transaction
                      with eth_sendRawTransaction to a JSON-RPC endpoint
  --rpc-url URL       with --via rpc and --target aws: the endpoint (the stack's RpcUrl); the
                      embedded target serves its own endpoint here, as parevm node does
  Endpoints and credentials come from the SDK's usual variables (AWS_REGION, AWS_PROFILE,
  AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_SQS + AWS_ENDPOINT_URL_DYNAMODB).

Pipeline run here (embedded, or aws --with-pipeline)
  --workers N         worker threads (default: cores, ${Math.max(1, availableParallelism())} here)
  --shards N          shards per block (default: workers)
  --block-size N      most transactions per block (default 1000)
  --inline            workers as async loops in the main thread
  --verify            check every sealed block against sequential @ethereumjs/vm

Workload
  --mix M             ${LOADTEST_MIXES.join(' | ')} (default mixed)
  --accounts N        senders (default 1000)
  --hot F             share of transactions aimed at one hot key, 0..1 (default 0.05)
  --pools N           AMM pools (default 20)
  --seed N            workload seed (default 1)

Set-up (funded senders, ERC20 tokens, AMM pools; once)
  default             a fresh chain: the workload genesis (written to an empty target store)
  --funder-key HEX    a running chain: fund the senders and deploy the contracts by
                      transactions from this funded key (or env PAREVM_FUNDER_KEY)
  --genesis FILE      the running chain's geth-style genesis (with the pipeline run here)
  --fund-eth N        ETH each sender receives (default 10)
  --chain-id N        the chain's id (default ${DEFAULT_CHAIN_ID}); --hardfork H (default ${DEFAULT_HARDFORK})
  --setup-timeout S   seconds for the set-up transactions (default 300)
  --warmup N          workload transactions included before the measured run (default 20)

Load
  --rate R            offered transactions per second (default 200)
  --duration S        seconds (per ramp step; default 10)
  --ramp R1,R2,...    ramp steps, each --duration long (instead of --rate)
  --per-message N     transactions per queue message (default 1)
  --max-in-flight N   most SendMessageBatch calls outstanding (default 32)
  --tick-ms N         injector tick (default 10)
  --sign-threads N    most signing threads (default: cores; one per 2,000 transactions)

Report
  --drain S           seconds to wait for inclusions after the last send (default 60)
  --out DIR           report.json, chart.svg, report.html and transactions.csv (every
                      transaction: intended and actual send time, outcome; default
                      loadtest-report)
  --json              print the report JSON on stdout
  --quiet             no progress lines
`

const schema = z.object({
  target: z.enum(['embedded', 'aws']).default('embedded'),
  outputs: z.string().optional(),
  stack: z.string().optional(),
  prefix: z.string().optional(),
  'queue-url': z.url({ error: 'expected a URL' }).optional(),
  'with-pipeline': z.boolean().default(false),
  via: z.enum(['queue', 'rpc']).default('queue'),
  'rpc-url': z.url({ error: 'expected a URL' }).optional(),
  workers: intOption(1, 256).optional(),
  shards: intOption(1, 4096).optional(),
  'block-size': intOption(1, 100_000).default(1000),
  inline: z.boolean().default(false),
  verify: z.boolean().default(false),
  mix: z.enum(LOADTEST_MIXES).default('mixed'),
  accounts: intOption(1, 200_000).default(1000),
  hot: z.coerce.number({ error: 'expected a number' }).min(0, 'must be at least 0').max(1, 'must be at most 1').default(0.05),
  pools: intOption(1, 10_000).default(20),
  seed: intOption(0, 2 ** 31).default(1),
  'funder-key': z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, 'expected a 32-byte private key in hex').optional(),
  genesis: z.string().optional(),
  'fund-eth': z.coerce.number({ error: 'expected a number' }).positive('must be positive').max(1e9).default(10),
  'chain-id': intOption(1, 2 ** 48).default(Number(DEFAULT_CHAIN_ID)),
  hardfork: z.enum(SUPPORTED_HARDFORKS).default(DEFAULT_HARDFORK),
  'setup-timeout': intOption(1, 24 * 3600).default(300),
  warmup: intOption(0, 10_000).default(20),
  rate: z.coerce.number({ error: 'expected a number' }).positive('must be positive').max(100_000).default(200),
  duration: z.coerce.number({ error: 'expected a number' }).positive('must be positive').max(24 * 3600).default(10),
  ramp: z.string().optional(),
  'per-message': intOption(1, 100).default(1),
  'max-in-flight': intOption(1, 1024).default(32),
  'tick-ms': intOption(1, 1000).default(10),
  'sign-threads': intOption(1, 64).optional(),
  drain: z.coerce.number({ error: 'expected a number' }).min(0).max(24 * 3600).default(60),
  out: z.string().default('loadtest-report'),
  json: z.boolean().default(false),
  quiet: z.boolean().default(false),
  help: z.boolean().default(false),
  positionals: z.array(z.string()).max(0, 'loadtest takes no positional arguments'),
})
type Options = z.infer<typeof schema>

const OPTION_SPEC = Object.fromEntries(
  Object.entries(schema.shape)
    .filter(([k]) => k !== 'positionals')
    .map(([k, v]) => {
      const inner = v instanceof z.ZodDefault || v instanceof z.ZodOptional ? (v.def.innerType as z.ZodType) : v
      return [k, { type: inner instanceof z.ZodBoolean ? ('boolean' as const) : ('string' as const), ...(k === 'help' ? { short: 'h' } : {}) }]
    }),
)

export interface LoadTestFiles {
  report: string
  chart: string
  html: string
}

function writeReport(report: LoadTestReport, dir: string): LoadTestFiles {
  mkdirSync(dir, { recursive: true })
  const files = { report: join(dir, 'report.json'), chart: join(dir, 'chart.svg'), html: join(dir, 'report.html') }
  writeFileSync(files.report, `${JSON.stringify(report, null, 2)}\n`)
  writeFileSync(files.chart, `${chartSvg(report)}\n`)
  writeFileSync(files.html, `${reportHtml(report, reportText(report))}\n`)
  return files
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(error as Error).message}`)
  }
}

interface OpenedTarget {
  target: LoadTestTarget
  close(): Promise<void>
}

function pipelineOptions(o: Options): Omit<ClusterOptions, 'genesis' | 'backends'> {
  return {
    workers: o.workers ?? Math.max(1, availableParallelism()),
    threads: !o.inline,
    ...(o.shards !== undefined ? { shards: o.shards } : {}),
    blockSize: o['block-size'],
    verify: o.verify,
  }
}

/** `--via rpc` against an AWS target: the endpoint named by --rpc-url (a deployed RpcUrl). */
function rpcInjector(o: Options): { kind: 'rpc'; url: string } | undefined {
  if (o.via !== 'rpc') return undefined
  if (o['rpc-url'] === undefined) throw new ConfigError('parevm loadtest --target aws --via rpc: which endpoint?', { hint: 'give --rpc-url URL (the stack\'s RpcUrl output, or a parevm node)' })
  return { kind: 'rpc', url: o['rpc-url'] }
}

async function openTarget(o: Options, genesisFile: GenesisFile | undefined): Promise<OpenedTarget> {
  if (o['rpc-url'] !== undefined && o.via !== 'rpc') throw new ConfigError('parevm loadtest: --rpc-url needs --via rpc', { hint: 'run: parevm loadtest --help' })
  if (o.target === 'embedded') {
    for (const flag of ['outputs', 'stack', 'prefix', 'queue-url'] as const) {
      if (o[flag] !== undefined) throw new ConfigError(`parevm loadtest: --${flag} needs --target aws`, { hint: 'run: parevm loadtest --help' })
    }
    if (o['with-pipeline']) throw new ConfigError('parevm loadtest: --with-pipeline needs --target aws (the embedded target always runs its pipeline here)')
    const backends = memoryBackends()
    if (o['rpc-url'] !== undefined) {
      throw new ConfigError('parevm loadtest: --rpc-url is for --target aws: the embedded target serves its own JSON-RPC endpoint over its cluster', { hint: 'leave out --rpc-url' })
    }
    if (o.via === 'rpc') {
      // Through JSON-RPC: an endpoint given, or one served here over the cluster's store and queue.
      const injector = { kind: 'rpc' as const, url: '' }
      let listener: RpcListener | undefined
      return {
        target: {
          kind: 'embedded',
          description: 'embedded cluster (in-process store and queues), injected through its JSON-RPC endpoint',
          kv: backends.kv,
          ingress: backends.ingress,
          deadLetter: backends.deadLetter!,
          injector,
          startPipeline: async (genesis) => {
            const handle = await startPipeline({ ...pipelineOptions(o), genesis, backends })
            const backend = new StoreBackend({ kv: backends.kv, ingress: backends.ingress, chain: genesis.chain, chainId: genesis.chainId, coinbase: genesis.coinbase })
            listener = await listenRpc(new RpcService({ backend, limits: { maxBatch: 1000 } }), { port: 0, host: '127.0.0.1' })
            injector.url = listener.url
            return handle
          },
          ...(genesisFile !== undefined ? { genesisFile } : {}),
        },
        close: async () => {
          await listener?.close()
        },
      }
    }
    return {
      target: {
        kind: 'embedded',
        description: 'embedded cluster (in-process store and queues)',
        kv: backends.kv,
        ingress: backends.ingress,
        deadLetter: backends.deadLetter!,
        injector: { kind: 'queue', queue: backends.ingress },
        startPipeline: (genesis) => startPipeline({ ...pipelineOptions(o), genesis, backends }),
        ...(genesisFile !== undefined ? { genesisFile } : {}),
      },
      close: async () => {},
    }
  }
  const env = process.env
  const endpoints = configuredEndpoints(env)
  const local = endpoints.dynamodb !== undefined || endpoints.sqs !== undefined
  if (o['with-pipeline']) {
    if (o.outputs !== undefined || o['queue-url'] !== undefined) {
      throw new ConfigError('parevm loadtest: --with-pipeline runs the pipeline over tables and queues it creates (--prefix), not over a deployed stack', {
        hint: 'for a deployed stack leave out --with-pipeline: its own sequencer, workers and coordinator consume the queue',
      })
    }
    if ((env.AWS_REGION ?? env.AWS_DEFAULT_REGION) === undefined && !local) {
      throw new ConfigError('parevm loadtest --target aws --with-pipeline: no AWS region and no endpoint configured', {
        hint: 'for local servers set AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS (or AWS_ENDPOINT_URL for LocalStack); for an AWS account set AWS_REGION',
      })
    }
    const aws = await openCliAwsBackend({ prefix: o.prefix })
    const ingress = aws.backend.queues.ingress
    return {
      target: {
        kind: 'aws',
        description: aws.description,
        kv: aws.backends.kv,
        ingress,
        deadLetter: aws.backend.deadLetters.ingress,
        injector: rpcInjector(o) ?? { kind: 'sqs', url: ingress.url, name: ingress.name, region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1' },
        startPipeline: (genesis) => startPipeline({ ...pipelineOptions(o), genesis, backends: aws.backends, idleSleepMs: 50 }),
        ...(genesisFile !== undefined ? { genesisFile } : {}),
      },
      close: () => aws.close(),
    }
  }
  let prefix = o.prefix
  let queueUrl = o['queue-url']
  let description: string
  if (o.outputs !== undefined) {
    if (o.prefix !== undefined) throw new ConfigError('parevm loadtest: give --outputs or --prefix, not both')
    const stack = parseStackOutputs(readJson(o.outputs, 'CDK outputs file'), o.stack)
    prefix = stack.prefix
    queueUrl ??= stack.ingressQueueUrl
    description = `stack ${stack.stack} (prefix ${prefix})`
  } else {
    if (prefix === undefined) {
      throw new ConfigError('parevm loadtest --target aws: which tables and queue?', { hint: 'give --outputs FILE (cdk deploy --outputs-file FILE) or --prefix P (tables P-<table>, queue P-ingress)' })
    }
    description = `prefix ${prefix}`
  }
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (queueUrl !== undefined ? regionOfQueueUrl(queueUrl) : undefined) ?? (local ? 'us-east-1' : undefined)
  if (region === undefined) {
    throw new ConfigError('parevm loadtest --target aws: no AWS region', { hint: 'set AWS_REGION, or the endpoint variables (AWS_ENDPOINT_URL*) for local servers' })
  }
  const clients = createAwsClients({ region })
  const backend = await openBackend(clients, prefix!, { checkTables: true, ...(queueUrl !== undefined ? { queueUrls: { ingress: queueUrl } } : {}) })
  const ingress = backend.queues.ingress
  description += local ? ` at DynamoDB ${endpoints.dynamodb ?? '(AWS)'}, SQS ${endpoints.sqs ?? '(AWS)'}` : ` in AWS ${region}`
  return {
    target: {
      kind: 'aws',
      description,
      kv: backend.kv,
      ingress,
      deadLetter: backend.deadLetters.ingress,
      injector: rpcInjector(o) ?? { kind: 'sqs', url: ingress.url, name: ingress.name, region },
      ...(genesisFile !== undefined ? { genesisFile } : {}),
    },
    close: async () => {
      clients.dynamodb.destroy()
      clients.sqs.destroy()
    },
  }
}

/** Progress on stderr: live lines overwrite each other on a terminal, and are thinned elsewhere. */
function progressWriter(quiet: boolean): { write: (line: string, live: boolean) => void; end: () => void } {
  const tty = process.stderr.isTTY === true
  let lastLive = 0
  let open = false
  return {
    write: (line, live) => {
      if (quiet) return
      if (live && tty) {
        process.stderr.write(`\x1b[2K\r${line}`)
        open = true
        return
      }
      if (live && Date.now() - lastLive < 5000) return
      if (live) lastLive = Date.now()
      process.stderr.write(`${open ? '\n' : ''}${line}\n`)
      open = false
    },
    end: () => {
      if (open) process.stderr.write('\n')
      open = false
    },
  }
}

export async function loadtestCommand(argv: string[]): Promise<number> {
  const o = parseCommand(argv, OPTION_SPEC, schema, 'loadtest')
  if (o.help) {
    process.stdout.write(LOADTEST_HELP)
    return 0
  }
  const steps: RampStep[] = o.ramp !== undefined ? parseRamp(o.ramp, o.duration) : [{ rate: o.rate, durationSec: o.duration }]
  const funderHex = o['funder-key'] ?? process.env.PAREVM_FUNDER_KEY
  if (funderHex !== undefined && !/^(0x)?[0-9a-fA-F]{64}$/.test(funderHex)) throw new ConfigError('PAREVM_FUNDER_KEY: expected a 32-byte private key in hex')
  const genesisFile = o.genesis === undefined ? undefined : parseGenesis(readJson(o.genesis, 'genesis file'))
  const progress = progressWriter(o.quiet || o.json)
  const opened = await openTarget(o, genesisFile)
  const stop = new StopController()
  const onSigint = (): void => {
    stop.request()
    if (stop.requests === 1) progress.write('stopping: no more sends; waiting for inclusions (Ctrl-C again to stop waiting)', false)
    else if (stop.requests === 2) progress.write('stopping: writing the report now', false)
    else process.exit(130)
  }
  process.on('SIGINT', onSigint)
  const outDir = resolve(o.out)
  const txLog = join(outDir, 'transactions.csv')
  let report: LoadTestReport
  try {
    progress.write(`parevm loadtest: ${opened.target.description}`, false)
    report = await runLoadTest(opened.target, {
      workload: { mix: o.mix, accounts: o.accounts, hotShare: o.hot, pools: o.pools, seed: o.seed },
      chain: { chainId: BigInt(o['chain-id']), hardfork: o.hardfork },
      steps,
      perMessage: o['per-message'],
      maxInFlight: o['max-in-flight'],
      tickMs: o['tick-ms'],
      signThreads: o['sign-threads'] ?? Math.max(1, availableParallelism()),
      drainTimeoutMs: o.drain * 1000,
      setupTimeoutMs: o['setup-timeout'] * 1000,
      warmupTxs: o.warmup,
      ...(funderHex !== undefined ? { funding: { funderKey: fromHex(funderHex.replace(/^0x/, '')), fundWei: BigInt(Math.round(o['fund-eth'] * 1e6)) * 10n ** 12n } } : {}),
      stop,
      onProgress: (line, live) => progress.write(line, live),
      onTransactions: (rows) => {
        mkdirSync(outDir, { recursive: true })
        const fd = openSync(txLog, 'w')
        try {
          let chunk: string[] = []
          for (const row of rows) {
            chunk.push(row)
            if (chunk.length === 1000) {
              writeSync(fd, `${chunk.join('\n')}\n`)
              chunk = []
            }
          }
          if (chunk.length > 0) writeSync(fd, `${chunk.join('\n')}\n`)
        } finally {
          closeSync(fd)
        }
      },
    })
  } finally {
    process.off('SIGINT', onSigint)
    progress.end()
    await opened.close()
  }
  const files = writeReport(report, outDir)
  if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else {
    process.stdout.write(`\nparevm loadtest\n${reportText(report)}\n`)
    process.stdout.write(`\n  report        ${files.report}\n  chart         ${files.chart}\n  html          ${files.html}\n  transactions  ${txLog}\n`)
    if (report.unaccountedTxs.length > 0) {
      process.stdout.write(`\nnever included (first ${Math.min(10, report.unaccountedTxs.length)} of ${report.unaccountedTxs.length}):\n`)
      for (const u of report.unaccountedTxs.slice(0, 10)) process.stdout.write(`  ${u.hash}  sender ${u.sender} nonce ${u.nonce}${u.sendFailed ? '  (send failed)' : ''}\n`)
    }
  }
  if (report.stoppedBy === 'interrupt') return 130
  return report.results.accountedFor && report.errors.length === 0 && report.stoppedBy === 'schedule' ? 0 : 1
}
