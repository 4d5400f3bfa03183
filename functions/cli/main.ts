/** The `parevm` command. */
import { ParevmError } from '../../shared/errors.ts'
import { loadtestCommand } from './loadtest.ts'
import { modelsCommand } from './models.ts'
import { nodeCommand } from './node.ts'
import { setVerbose } from './output.ts'
import { replayCommand } from './replay.ts'
import { runCommand } from './run.ts'
import { startCommand } from './start.ts'

type Command = (argv: string[]) => Promise<number>

/** Subcommands; other modules register theirs here (replay, bench, loadtest). */
export const COMMANDS: Record<string, { run: Command; summary: string }> = {
  start: { run: startCommand, summary: 'run a generated workload through the embedded cluster (default)' },
  run: { run: runCommand, summary: 'execute a genesis and a file of raw transactions' },
  loadtest: { run: loadtestCommand, summary: 'inject transactions into the ingress queue at a target rate; report throughput and latency' },
  replay: { run: replayCommand, summary: 'replay real Ethereum blocks (fixture folders) and check their receipts against the headers' },
  node: { run: nodeCommand, summary: 'the embedded cluster behind an Ethereum JSON-RPC endpoint (wallets, viem, ethers, Foundry)' },
  models: { run: modelsCommand, summary: 'the AI model registry: register a model in a genesis or as a deployment, inspect, list' },
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  return [
    'parevm: a parallel EVM execution cluster',
    '',
    'usage: parevm [command] [options]      (parevm <command> --help for its options)',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'start and run take --verbose: the summary adds the GPU loader\'s reason and each stage\'s decision.',
    '',
  ].join('\n')
}

export async function main(args: string[]): Promise<number> {
  const argv = args.filter((a) => a !== '--verbose')
  setVerbose(argv.length !== args.length)
  const [first, ...rest] = argv
  if (first === 'help' || first === '--help' || first === '-h') {
    process.stdout.write(help())
    return 0
  }
  if (first === undefined || first.startsWith('-')) return COMMANDS.start!.run(argv)
  const command = COMMANDS[first]
  if (command === undefined) {
    process.stderr.write(`parevm: unknown command '${first}'\n\n${help()}`)
    return 2
  }
  return command.run(rest)
}

export async function cli(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv)
  } catch (error) {
    if (error instanceof ParevmError) {
      process.stderr.write(`${error.describe()}\n`)
      process.exitCode = error.name === 'ConfigError' ? 2 : 1
    } else {
      process.stderr.write(`parevm: unexpected error\n${(error as Error)?.stack ?? String(error)}\n`)
      process.exitCode = 1
    }
  }
}
