/**
 * Assemble: from a settled block (its transactions and receipts roots and its bloom built as
 * its positions settled) and its state root, everything the seal journal holds - the
 * withdrawals root, the header and its hash, the state writes with the versions they must find, the sealed block record, the head record and
 * the block report. Nothing here reads or writes the store except the block-start versions of
 * written keys that no transaction read (`stateWrites`).
 */
import { createBlockHeader } from '@ethereumjs/block'
import { RLP } from '@ethereumjs/rlp'

import { InvariantError } from '../errors.ts'
import { headerDataFromEnv } from '../exec/block-env.ts'
import { bigintToHex, bigintToMinimalBytes, fromHex, to0x } from '../hex.ts'
import { chunkBySize } from '../pipeline/codec.ts'
import { makeHeadRecord, recentHashesAfter } from '../store/head.ts'
import { PART_BYTES_MAX, type HeadRecord, type PlanMeta, type ReceiptRecord, type SealedBlockRecord } from '../store/records.ts'
import { EMPTY_TRIE_ROOT, orderedTrieRoot } from '../trie/mpt.ts'

import type { BlockEnv } from '../exec/block-env.ts'
import type { Rejection } from '../intake/rejection.ts'
import type { StateKey } from '../state/keys.ts'
import type { VersionedValue } from '../state/values.ts'
import type { SealJournal } from '../store/seal-journal.ts'
import type { StateWrite } from '../store/state-table.ts'
import { receiptJsonWithHash, type PredictionReport, type SettledBlock } from './settle.ts'

export interface BlockReport {
  block: bigint
  hash: string
  stateRoot: string
  txs: number
  included: number
  rejected: number
  shards: number
  reexecuted: number
  /** Transactions with stale reads settled without running again (only balances moved, no code ran). */
  balanceShifted: number
  gasUsed: bigint
  prediction: PredictionReport
  /** Milliseconds per stage (sequencer's, workers' slowest, coordinator's). */
  timings: Record<string, number>
}

export interface SealedBlock {
  record: SealedBlockRecord
  head: HeadRecord
  env: BlockEnv
  /** Included transactions in block order (raw), and their receipts. */
  raws: Uint8Array[]
  receipts: ReceiptRecord[]
  rejections: Rejection[]
  report: BlockReport
}

/**
 * The block's net writes with the version each must find in the state table (its block-start
 * version): as a transaction that wrote the key read it, else as the settlement's view loaded
 * it, else loaded now (one batch).
 */
export async function stateWrites(
  netWrites: ReadonlyMap<StateKey, VersionedValue>,
  settled: SettledBlock,
  load: (keys: StateKey[]) => Promise<VersionedValue[]>,
): Promise<StateWrite[]> {
  const writes: StateWrite[] = []
  const unknownBase: StateWrite[] = []
  for (const [key, entry] of netWrites) {
    const base = settled.baseVersions.get(key) ?? settled.view.getLoadedBase(key)?.version
    const write: StateWrite = { key, value: entry.value, version: entry.version, baseVersion: base ?? -1 }
    if (base === undefined) unknownBase.push(write)
    writes.push(write)
  }
  if (unknownBase.length > 0) {
    const loaded = await load(unknownBase.map((w) => w.key))
    unknownBase.forEach((w, i) => {
      w.baseVersion = loaded[i]!.version
    })
  }
  return writes
}

export interface AssembleInput {
  /** The parent block's head record. */
  parent: HeadRecord
  meta: PlanMeta
  settled: SettledBlock
  stateRoot: Uint8Array
  writes: StateWrite[]
  /** The coordinator's stage timings so far (the report carries them). */
  timings: Record<string, number>
  /** Each done shard's worker timings. */
  workerTimings: Record<string, number>[]
  sealedAtMs: number
}

/** The seal journal of a settled block. */
export function assembleBlock(input: AssembleInput): SealJournal {
  const { meta, settled, parent } = input
  const number = BigInt(meta.block)
  const { common, receipts } = settled
  const withdrawals = meta.env.withdrawals ?? []
  const header = createBlockHeader(
    {
      ...headerDataFromEnv(meta.env),
      stateRoot: input.stateRoot,
      transactionsTrie: settled.transactionsRoot,
      receiptTrie: settled.receiptsRoot,
      logsBloom: settled.logsBloom,
      gasUsed: settled.gasUsed,
      ...(common.isActivatedEIP(4895)
        ? { withdrawalsRoot: withdrawals.length === 0 ? EMPTY_TRIE_ROOT : orderedTrieRoot(withdrawals.map((w) => RLP.encode([quantityBytes(w.index), quantityBytes(w.validatorIndex), fromHex(w.address), quantityBytes(w.amount)]))) }
        : {}),
      ...(common.isActivatedEIP(4844) ? { blobGasUsed: settled.blobGasUsed } : {}),
    },
    { common, setHardfork: false, skipConsensusFormatValidation: true },
  )
  const hash = to0x(header.hash())
  for (const r of receipts) r.blockHash = hash
  if (settled.receiptJson.length !== receipts.length) throw new InvariantError(`block ${number}: ${settled.receiptJson.length} receipts as JSON for ${receipts.length} receipts`)
  const receiptJson = receiptJsonWithHash(settled.receiptJson, hash)
  const stateRoot = to0x(input.stateRoot)
  const head = makeHeadRecord({
    number,
    hash,
    stateRoot,
    timestamp: meta.env.timestamp,
    gasLimit: meta.env.gasLimit,
    gasUsed: bigintToHex(settled.gasUsed),
    difficulty: meta.env.difficulty,
    recentHashes: recentHashesAfter(parent, number, hash),
    baseFeePerGas: meta.env.baseFeePerGas,
    excessBlobGas: meta.env.excessBlobGas,
    blobGasUsed: bigintToHex(settled.blobGasUsed),
  })
  const workerTimings = input.workerTimings
  const sumOf = (field: string): number => workerTimings.reduce((s, t) => s + (t[field] ?? 0), 0)
  const busiest = busiestWorker(workerTimings)
  const report: BlockReport = {
    block: number,
    hash,
    stateRoot,
    txs: meta.txCount,
    included: receipts.length,
    rejected: settled.rejections.length,
    shards: meta.shardParts.length,
    reexecuted: settled.reexecuted,
    balanceShifted: settled.balanceShifted,
    gasUsed: settled.gasUsed,
    prediction: settled.prediction,
    timings: {
      intakeMs: meta.stats.intakeMs,
      intakeThreadMsMax: meta.stats.intakeThreadMsMax ?? 0,
      intakeThreadMsSum: meta.stats.intakeThreadMsSum ?? 0,
      speculateMs: meta.stats.speculateMs ?? 0,
      predictMs: meta.stats.predictMs,
      partitionMs: meta.stats.partitionMs,
      workerPrefetchMsMax: busiest.prefetchMs,
      workerExecuteMsMax: busiest.executeMs,
      workerOtherMsMax: busiest.otherMs,
      workerOtherMsSum: workerTimings.reduce((s, t) => s + shardOtherMs(t), 0),
      workers: busiest.workers,
      workerExecuteMsSum: sumOf('executeMs'),
      workerPrefetchMsSum: sumOf('prefetchMs'),
      workerMissLoads: sumOf('missLoads'),
      workerMissMsSum: sumOf('missMs'),
      /** Keys loaded in a batch because an earlier call of the same (contract, selector) in the shard taught a template (shared/predict/repeated-calls.ts). */
      workerLearnedKeys: sumOf('learnedKeys'),
      /** Shards that ran on the view of their worker's earlier shards of this block (shared/worker/shard-worker.ts). */
      workerCarriedShards: sumOf('carried'),
      /** Shards whose worker held the block-start state itself and loaded nothing from the store (a replay's worker threads: shared/replay/held-pre-state.ts). */
      workerHeldShards: sumOf('held'),
      ...input.timings,
      reexecuteMs: settled.reexecuteMs,
      reexecuteLoads: settled.reexecuteLoads,
    },
  }
  const record: SealedBlockRecord = {
    number: number.toString(),
    hash,
    header: header.toJSON() as Record<string, string>,
    txHashes: receipts.map((r) => r.txHash),
    txParts: chunkBySize(settled.raws, (r) => r.length + 4, PART_BYTES_MAX).length,
    rejected: settled.rejections.map((r) => r.id),
    stats: { reexecuted: settled.reexecuted, shards: meta.shardParts.length, txsFullyPredicted: settled.prediction.txsFullyPredicted },
    sealedAtMs: input.sealedAtMs,
  }
  return { record, head, env: meta.env, writes: input.writes, codes: [...settled.codes], raws: settled.raws, receipts, rejections: settled.rejections, report, receiptJson }
}

/** A shard's handling besides prefetch and execution: reading the plan, staging the results. */
function shardOtherMs(t: Record<string, number>): number {
  return Math.max(0, (t.totalMs ?? 0) - (t.prefetchMs ?? 0) - (t.executeMs ?? 0))
}

/**
 * The worker that spent the most time on this block's shards (added up over its shards, which
 * its `worker` number in their timings identifies; shards without one count as one worker
 * each), and how many workers took part. `otherMs` is the rest of its shard handling: reading
 * the plan, staging the results (`totalMs` less prefetch and execution).
 */
export function busiestWorker(shardTimings: readonly Record<string, number>[]): { prefetchMs: number; executeMs: number; otherMs: number; workers: number } {
  const perWorker = new Map<number | string, { prefetchMs: number; executeMs: number; otherMs: number }>()
  shardTimings.forEach((t, i) => {
    const id = t.worker ?? `shard ${i}`
    const w = perWorker.get(id) ?? { prefetchMs: 0, executeMs: 0, otherMs: 0 }
    w.prefetchMs += t.prefetchMs ?? 0
    w.executeMs += t.executeMs ?? 0
    w.otherMs += shardOtherMs(t)
    perWorker.set(id, w)
  })
  const total = (w: { prefetchMs: number; executeMs: number; otherMs: number }): number => w.prefetchMs + w.executeMs + w.otherMs
  let best = { prefetchMs: 0, executeMs: 0, otherMs: 0 }
  for (const w of perWorker.values()) if (total(w) > total(best)) best = w
  return { ...best, workers: perWorker.size }
}

/** A JSON-RPC quantity (any number of hex digits, odd included) as minimal big-endian bytes. */
function quantityBytes(q: string): Uint8Array {
  return bigintToMinimalBytes(BigInt(q))
}
