/** `parevm replay`: real mainnet blocks through the parallel engine, compared with their headers. */
import { z } from 'zod'

import { ConfigError, ParevmError } from '../../shared/errors.ts'
import { describeReceipt } from '../../shared/replay/compare.ts'
import { MAINNET_FIXTURES_PATH, mainnetFixturesDir } from '../../shared/replay/fixtures-dir.ts'
import { expandFixtureDirs, replayFolders, type ReplayBlockResult } from '../../shared/replay/run.ts'
import { intOption, parseCommand } from './args.ts'
import { fmt, stderr } from './output.ts'
import { defaultWorkers } from './run-embedded.ts'

export const REPLAY_HELP = `parevm replay [block-folder...] [options]    replay real Ethereum blocks

Executes each block through the sequencer (prediction, partitioning), shard workers and the
coordinator, with the block's own transaction order, header fields and mainnet's hardfork for
its number, from the pre-state in its folder, and checks receiptsRoot, gasUsed and logsBloom
against the block's header. A folder holds block.json.gz, pre_state.json.gz and, where the
block uses BLOCKHASH, block_hashes.json.gz; a folder of such folders replays them all.
Without a folder: the repository's 47 mainnet blocks (${MAINNET_FIXTURES_PATH}).

  --workers N        worker threads (default: cores, ${defaultWorkers()} here)
  --shards N         shards per block (default: workers)
  --inline           run workers as async loops in the main thread (no threads)
  --speculate        before partitioning, load called contracts' code hashes and run a few calls
                     no template covers (default off: on mainnet blocks it costs more than it saves)
  --reference        also run sequential @ethereumjs/vm on every block (always done on a mismatch):
                     receipts one by one, and the post-state root over the partial pre-state
  --json             one JSON line per block on stdout

The state root is not compared: a fixture's pre-state holds only the accounts the block
touches, so neither the root nor the block hash can be mainnet's. Exit status 1 if any block
differs or cannot be replayed.
`

const schema = z.object({
  workers: intOption(1, 256).optional(),
  shards: intOption(1, 4096).optional(),
  inline: z.boolean().default(false),
  speculate: z.boolean().default(false),
  reference: z.boolean().default(false),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  positionals: z.array(z.string()),
})

/** No folder given: the repository's fixture blocks. */
function defaultFolder(): string {
  const dir = mainnetFixturesDir()
  if (dir === undefined) {
    throw new ConfigError(`give at least one block folder (this copy of parevm has no ${MAINNET_FIXTURES_PATH})`, {
      hint: 'a block folder holds block.json.gz and pre_state.json.gz; the repository ships 47 in test/fixtures/mainnet-blocks',
    })
  }
  return dir
}

const mark = (ok: boolean): string => (ok ? 'ok' : 'DIFFERS')

function referenceLine(r: ReplayBlockResult): string | undefined {
  if (r.reference === undefined) return undefined
  const receipts = r.difference === undefined ? 'every receipt equal' : `receipt ${r.difference.index} differs`
  const root = r.stateRootMatchesReference === true ? 'post-state root equal' : 'post-state root DIFFERS'
  return `    @ethereumjs/vm: ${receipts}, ${root} (${fmt(r.reference.runMs)} ms)`
}

function blockLine(r: ReplayBlockResult): string {
  const run = r.run
  if (run === undefined) return `block ${r.number ?? r.dir}  ERROR`
  const p = run.prediction
  const keys = p.keysActual === 0 ? '-' : `${fmt((100 * p.keysPredicted) / p.keysActual, 0)}%`
  const c = run.comparison
  return [
    `block ${run.number}`.padEnd(14),
    run.hardfork.padEnd(13),
    `${fmt(run.txs)} txs`.padStart(9),
    `${run.shards} shards`.padStart(9),
    `${fmt(run.reexecuted)} re-executed`.padStart(16),
    `predicted ${p.txsFullyPredicted}/${run.txs} txs, ${keys} keys`.padEnd(36),
    `${fmt(run.wallMs)} ms`.padStart(10),
    c.ok && run.rejected === 0 ? ' MATCH' : ` MISMATCH (receiptsRoot ${mark(c.receiptsRoot.ok)}, gasUsed ${mark(c.gasUsed.ok)}, logsBloom ${mark(c.logsBloom.ok)})`,
  ].join('  ')
}

function failureLines(r: ReplayBlockResult): string[] {
  const lines: string[] = []
  if (r.error !== undefined) {
    const text = r.error instanceof ParevmError ? r.error.describe() : `${r.error.name}: ${r.error.message}`
    lines.push(...text.split('\n').map((l) => `    ${l}`))
    return lines
  }
  const run = r.run!
  const c = run.comparison
  if (!c.receiptsRoot.ok) lines.push(`    receiptsRoot: engine ${c.receiptsRoot.engine}, header ${c.receiptsRoot.header}`)
  if (!c.gasUsed.ok) lines.push(`    gasUsed: engine ${c.gasUsed.engine}, header ${c.gasUsed.header}`)
  if (!c.logsBloom.ok) lines.push('    logsBloom differs')
  if (c.transactionsRoot !== undefined && !c.transactionsRoot.ok) lines.push(`    transactionsRoot: engine ${c.transactionsRoot.engine}, header ${c.transactionsRoot.header}`)
  if (c.withdrawalsRoot !== undefined && !c.withdrawalsRoot.ok) lines.push(`    withdrawalsRoot: engine ${c.withdrawalsRoot.engine}, header ${c.withdrawalsRoot.header}`)
  for (const rejection of run.sealed.rejections.slice(0, 3)) lines.push(`    transaction ${rejection.id} found invalid: ${rejection.reason}`)
  const d = r.difference
  if (d !== undefined) {
    lines.push(`    first differing receipt: index ${d.index} (${d.txHash})`)
    lines.push(`      engine:         ${describeReceipt(d.engine)}`)
    lines.push(`      @ethereumjs/vm: ${describeReceipt(d.reference)}`)
  }
  if (r.stateRootMatchesReference !== undefined) {
    lines.push(`    post-state root over the pre-state: ${r.stateRootMatchesReference ? 'equal to' : 'DIFFERS from'} @ethereumjs/vm's`)
  }
  if (r.referenceMatches !== undefined) {
    lines.push(
      r.referenceMatches
        ? '    sequential @ethereumjs/vm reproduces the header: the difference is the parallel engine\'s'
        : '    sequential @ethereumjs/vm does not reproduce the header either: a configuration (hardfork, pre-state, header field) problem',
    )
  }
  return lines
}

function jsonLine(r: ReplayBlockResult): string {
  const run = r.run
  return JSON.stringify({
    dir: r.dir,
    block: r.number?.toString(),
    ok: r.ok,
    ...(r.error !== undefined ? { error: { name: r.error.name, message: r.error.message } } : {}),
    ...(run !== undefined
      ? {
          hardfork: run.hardfork,
          txs: run.txs,
          shards: run.shards,
          groups: run.groups,
          reexecuted: run.reexecuted,
          balanceShifted: run.sealed.report.balanceShifted,
          rejected: run.rejected,
          prediction: run.prediction,
          wallMs: Math.round(run.wallMs),
          holdMs: Math.round(run.holdMs * 10) / 10,
          receiptsRoot: run.comparison.receiptsRoot.ok,
          gasUsed: run.comparison.gasUsed.ok,
          logsBloom: run.comparison.logsBloom.ok,
          timings: Object.fromEntries(Object.entries(run.timings).map(([k, v]) => [k, Math.round(v * 10) / 10])),
        }
      : {}),
    ...(r.difference !== undefined
      ? { firstDifferingReceipt: { index: r.difference.index, txHash: r.difference.txHash, engine: describeReceipt(r.difference.engine), reference: describeReceipt(r.difference.reference) } }
      : {}),
    ...(r.referenceMatches !== undefined ? { referenceMatchesHeader: r.referenceMatches } : {}),
    ...(r.stateRootMatchesReference !== undefined ? { stateRootMatchesReference: r.stateRootMatchesReference } : {}),
  })
}

export async function replayCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(REPLAY_HELP)
    return 0
  }
  const o = parseCommand(
    argv,
    {
      workers: { type: 'string' },
      shards: { type: 'string' },
      inline: { type: 'boolean' },
      speculate: { type: 'boolean' },
      reference: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    schema,
    'replay',
  )
  const dirs = expandFixtureDirs(o.positionals.length > 0 ? o.positionals : [defaultFolder()])
  const workers = o.workers ?? defaultWorkers()
  if (!o.json) {
    stderr(`replaying ${dirs.length} block(s): ${workers} worker${o.inline ? 's inline' : ' threads'}, ${o.shards ?? workers} shards per block`)
    stderr('(receiptsRoot, gasUsed, logsBloom against each header; the state root cannot match a partial pre-state)')
  }
  const summary = await replayFolders(dirs, {
    workers,
    threads: !o.inline,
    speculate: o.speculate,
    ...(o.shards !== undefined ? { shards: o.shards } : {}),
    reference: o.reference,
    onBlock: (r) => {
      if (o.json) {
        process.stdout.write(`${jsonLine(r)}\n`)
        return
      }
      process.stdout.write(`${blockLine(r)}\n`)
      if (!r.ok) for (const line of failureLines(r)) process.stdout.write(`${line}\n`)
      else if (r.reference !== undefined) process.stdout.write(`${referenceLine(r)}\n`)
    },
  })
  if (!o.json) {
    process.stdout.write(
      `\n${summary.matched} of ${summary.blocks} blocks match receiptsRoot, gasUsed and logsBloom` +
        ` (${fmt(summary.txs)} transactions, ${fmt(summary.reexecuted)} re-executed by the coordinator, ${fmt(summary.balanceShifted)} balance-shifted, ${fmt(summary.wallMs / 1000, 1)} s)\n`,
    )
    for (const f of summary.failed) process.stdout.write(`  failed: ${f.number ?? f.dir}${f.error !== undefined ? ` (${f.error.name})` : ''}\n`)
  }
  return summary.failed.length === 0 ? 0 : 1
}
