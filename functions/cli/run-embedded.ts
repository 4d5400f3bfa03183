/** Shared by `parevm start` and `parevm run`: a cluster over a genesis and raw transactions. */
import { availableParallelism } from 'node:os'

import { buildGenesis, type GenesisFile } from '../../shared/chain/genesis.ts'
import { EmbeddedCluster, type BlockEvent, type ClusterOptions, type RunSummary } from '../../shared/cluster/embedded.ts'
import { commonFor } from '../../shared/exec/common-for.ts'
import { Exporter } from '../../shared/export/exporter.ts'
import { blockLine, stderr } from './output.ts'

import type { Rejection } from '../../shared/intake/rejection.ts'

export interface EmbeddedRunOptions {
  genesisFile: GenesisFile
  rawTxs: readonly string[]
  /**
   * Execute in the given order (`parevm run`): blocks of consecutive inputs, each judged at its
   * position. Otherwise the inputs go through the ingress queue and the sequencer orders them.
   */
  ordered?: { lineNumbers?: readonly number[] }
  workers?: number
  shards?: number
  blockSize: number
  verify: boolean
  threads: boolean
  /** Pipelined blocks (default true; `--no-pipeline`). */
  pipeline?: boolean
  exportDir?: string
  quiet: boolean
  perMessage?: number
  /** Store and queues other than the in-process ones (`--backend aws`). */
  backends?: ClusterOptions['backends']
}

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism())
}

export async function runEmbedded(o: EmbeddedRunOptions): Promise<RunSummary> {
  const genesis = buildGenesis(o.genesisFile)
  const workers = o.workers ?? defaultWorkers()
  const cluster = await EmbeddedCluster.start({
    genesis,
    workers,
    threads: o.threads,
    ...(o.shards !== undefined ? { shards: o.shards } : {}),
    blockSize: o.blockSize,
    verify: o.verify,
    ...(o.pipeline !== undefined ? { pipeline: o.pipeline } : {}),
    ...(o.backends !== undefined ? { backends: o.backends } : {}),
  })
  const exporter =
    o.exportDir === undefined ? undefined : new Exporter(o.exportDir, o.genesisFile, genesis, commonFor(genesis.chain, 1n, BigInt(genesis.header.timestamp)))
  try {
    let done = 0
    const onBlock = (event: BlockEvent): void => {
      done += event.sealed.report.included + event.sealed.report.rejected + event.plan.rejected.length
      exporter?.addBlock(event.sealed)
      if (!o.quiet) stderr(`${blockLine(event)}  [${done}/${o.rawTxs.length}]`)
    }
    const onRejections = (rejections: readonly Rejection[]): void => exporter?.addRejections(rejections)
    let summary: RunSummary
    if (o.ordered !== undefined) {
      if (!o.quiet) stderr(`executing ${o.rawTxs.length} transactions in the given order (${workers} workers, ${o.shards ?? workers} shards, blocks of up to ${o.blockSize})`)
      summary = await cluster.runOrdered(o.rawTxs, onBlock, { ...o.ordered, onRejections })
    } else {
      if (!o.quiet) stderr(`submitting ${o.rawTxs.length} transactions to the ingress queue (${workers} workers, ${o.shards ?? workers} shards, blocks of up to ${o.blockSize})`)
      await cluster.submit(o.rawTxs, o.perMessage ?? 1)
      summary = await cluster.runUntilIdle(onBlock, undefined, onRejections)
      summary.inputs = o.rawTxs.length
    }
    exporter?.finish(summary.head)
    if (exporter !== undefined && !o.quiet) stderr(`exported to ${o.exportDir}`)
    return summary
  } finally {
    await cluster.stop()
  }
}
