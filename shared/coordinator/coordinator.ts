/**
 * The coordinator seals a block once every shard is staged.
 *
 * It walks the transactions in block order over a running view (block-start state plus every
 * validated write so far). A transaction's reads are valid when each key still has the value
 * it observed: where an in-block write decides the key, the values must be equal; otherwise
 * the observation must be of block-start state. A transaction with a stale read is executed
 * again on the running view - the only serial work, proportional to mispredictions. Then the
 * deferred fees (already credited in order), withdrawals and rewards settle, the block's net
 * writes give the state root (an incremental trie kept between blocks), the receipts give the
 * receipts root, and the block is applied to the state table with version-conditioned writes
 * and sealed with a conditional put: a second seal of the same number is refused.
 */
import { createBlockHeader } from '@ethereumjs/block'
import { createTxFromRLP } from '@ethereumjs/tx'
import { encodeReceipt } from '@ethereumjs/vm'
import { RLP } from '@ethereumjs/rlp'

import { keccak256 } from '../crypto/keccak.ts'
import { publicKeyToAddress } from '../crypto/secp256k1.ts'
import { effectiveGasPrice, txFieldsFromRaw, type TxFields } from '../intake/tx-fields.ts'
import { InvariantError, MalformedInputError, MissingStateError, NotReadyError } from '../errors.ts'
import { Executor, unsuppliedRead } from '../exec/executor.ts'
import { headerDataFromEnv, type BlockEnv } from '../exec/block-env.ts'
import { bigintToHex, bigintToMinimalBytes, bytesEqual, fromHex, to0x, toHex } from '../hex.ts'
import { decodePlannedTxs, decodeStagedTxs, chunkBySize, type PlannedTx, type StagedTx } from '../pipeline/codec.ts'
import { doneMessageSchema, parseJson } from '../pipeline/messages.ts'
import { ACCOUNT_KEY_LENGTH, WIPE_PREFIX, describeKey, isInBlock, txVersion, type StateKey } from '../state/keys.ts'
import { BlockView, type StateLoader } from '../state/view.ts'
import { Records, PART_BYTES_MAX, type HeadRecord, type PlanMeta, type ReceiptRecord, type SealedBlockRecord } from '../store/records.ts'
import { getSealJournal, putSealJournal, type SealJournal } from '../store/seal-journal.ts'
import { StateTable, type StateWrite } from '../store/state-table.ts'
import { EMPTY_TRIE_ROOT, orderedTrieRoot } from '../trie/mpt.ts'
import { silentLogger, type Logger } from '../log.ts'
import { lookupFromHashes } from '../worker/shard-worker.ts'
import { defaultGpuContext } from '../gpu/defaults.ts'
import { applyBlockEnd, applyBlockStart } from './system.ts'

import type { Rejection } from '../intake/rejection.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import type { QueueMessage } from '../ports/queue.ts'
import type { TemplateRegistry } from '../predict/templates.ts'
import type { GpuContext } from '../gpu/context.ts'
import type { InferenceService } from '../ai/inference.ts'
import type { WorldStateTrie } from '../trie/world-state.ts'
import type { VersionedValue } from '../state/values.ts'
import type { Common } from '@ethereumjs/common'
import { realClock, type Clock } from '../ports/clock.ts'

export interface CoordinatorDeps {
  kv: KeyValueStore
  templates: TemplateRegistry
  /** The state trie, kept warm between blocks (its root is the head's state root). */
  trie: WorldStateTrie
  log?: Logger
  /** Time for the records' timestamps (default: the real clock). */
  clock?: Clock
  /** GPU context of the state root's `keccak` stage (default: the thread's, shared/gpu/defaults.ts). */
  gpu?: GpuContext
  /** The AI precompile's cache and batching for re-execution (default: the thread's). */
  inference?: InferenceService
}

export interface PredictionReport {
  /** Transactions whose actual reads and writes were all predicted. */
  txsFullyPredicted: number
  /** Actual keys that were predicted, over all actual keys. */
  keysPredicted: number
  keysActual: number
}

export interface BlockReport {
  block: bigint
  hash: string
  stateRoot: string
  txs: number
  included: number
  rejected: number
  shards: number
  reexecuted: number
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

export type DoneOutcome = { kind: 'waiting'; block: bigint; done: number; of: number } | { kind: 'sealed'; sealed: SealedBlock } | { kind: 'already-sealed'; block: bigint }

/** Is every read of this result still what it observed? */
export function readsStillValid(reads: Map<StateKey, VersionedValue>, view: BlockView, block: bigint): boolean {
  for (const [key, seen] of reads) {
    const now = view.getInBlock(key)
    if (now !== undefined) {
      if (!bytesEqual(now.value, seen.value)) return false
    } else if (isInBlock(seen.version, block)) {
      return false
    }
  }
  return true
}


export class Coordinator {
  private readonly records: Records
  private readonly state: StateTable
  private readonly log: Logger
  private readonly clock: Clock
  private readonly gpu: GpuContext
  private executor: Executor | undefined
  private executorChain = ''

  constructor(private readonly deps: CoordinatorDeps) {
    this.records = new Records(deps.kv)
    this.state = new StateTable(deps.kv)
    this.log = deps.log ?? silentLogger
    this.clock = deps.clock ?? realClock
    this.gpu = deps.gpu ?? defaultGpuContext()
  }

  private loader(): StateLoader {
    return { load: (keys) => this.state.load(keys), loadCode: (hashes) => this.state.loadCode(hashes) }
  }

  /** A shard-done message: record progress; seal when every shard of the block is done. */
  async handleDone(message: QueueMessage): Promise<DoneOutcome> {
    const parsed = doneMessageSchema.safeParse(parseJson(message.body))
    if (!parsed.success) throw new MalformedInputError(`malformed done message: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
    const msg = parsed.data
    const block = BigInt(msg.block)
    if ((await this.records.getBlock(block)) !== undefined) return { kind: 'already-sealed', block }
    await this.records.markShardDone(block, msg.shard, msg.parts, msg.timings ?? {})
    const meta = await this.records.getPlanMeta(block)
    if (meta === undefined) throw new NotReadyError(`shard done for block ${block}, but no plan is stored`)
    const done = await this.records.doneShards(block)
    if (done.size < meta.shardParts.length) return { kind: 'waiting', block, done: done.size, of: meta.shardParts.length }
    const sealed = await this.seal(block)
    return sealed === undefined ? { kind: 'already-sealed', block } : { kind: 'sealed', sealed }
  }

  /**
   * Seal block `number` from its plan and staged results. Undefined if it is sealed already.
   * The decision (header, receipts, net writes) is journaled before any of it is applied, so a
   * coordinator that dies mid-apply is finished by the next attempt, never re-derived from
   * state that already holds the block.
   */
  async seal(number: bigint): Promise<SealedBlock | undefined> {
    if ((await this.records.getBlock(number)) !== undefined) return undefined
    const head = await this.records.getHead()
    if (head === undefined || BigInt(head.number) !== number - 1n) {
      throw new NotReadyError(`cannot seal block ${number}: the head is ${head?.number ?? 'missing'}`)
    }
    const meta = await this.records.getPlanMeta(number)
    if (meta === undefined) throw new NotReadyError(`cannot seal block ${number}: no plan`)
    let journal = await getSealJournal(this.deps.kv, number)
    let learning: (() => void) | undefined
    if (journal === undefined) {
      const decided = await this.decide(number, head, meta)
      if (await putSealJournal(this.deps.kv, decided.journal)) {
        journal = decided.journal
        learning = decided.learn
      } else {
        journal = (await getSealJournal(this.deps.kv, number))!
      }
    } else {
      // A previous attempt decided this block: bring the trie to its root (idempotent from the
      // parent root), then finish the apply and the seal.
      const { root } = await this.deps.trie.applyBlock(fromHex(head.stateRoot), journal.writes.map((w) => [w.key, w.value] as const), { gpu: this.gpu })
      if (to0x(root) !== journal.head.stateRoot) {
        throw new InvariantError(`block ${number}: the journaled state root ${journal.head.stateRoot} is not the trie's ${to0x(root)}`)
      }
      this.log.warn('finishing a journaled seal', { block: number.toString() })
    }
    const sealed = await this.finish(journal, meta)
    learning?.()
    return sealed
  }

  /** Everything about the block, computed without writing any of it. */
  private async decide(number: bigint, head: HeadRecord, meta: PlanMeta): Promise<{ journal: SealJournal; learn: () => void }> {
    const t0 = performance.now()
    const done = await this.records.doneShards(number)
    const planned: PlannedTx[] = new Array(meta.txCount)
    const staged: StagedTx[] = new Array(meta.txCount)
    for (let shard = 0; shard < meta.shardParts.length; shard++) {
      for (const part of await this.records.getShardPlanParts(meta, shard)) {
        for (const tx of decodePlannedTxs(part)) planned[tx.index] = tx
      }
      const stagedParts = done.get(shard)?.parts
      if (stagedParts === undefined) throw new NotReadyError(`cannot seal block ${number}: shard ${shard} is not done`)
      for (const part of await this.records.getStaged(number, shard, stagedParts)) {
        for (const result of decodeStagedTxs(part)) {
          if (staged[result.index] !== undefined) throw new InvariantError(`block ${number}: transaction ${result.index} staged twice`)
          staged[result.index] = result
        }
      }
    }
    for (let i = 0; i < meta.txCount; i++) {
      if (planned[i] === undefined || staged[i] === undefined) throw new InvariantError(`block ${number}: transaction ${i} has no ${planned[i] === undefined ? 'plan' : 'result'}`)
    }
    const tLoad = performance.now()
    const result = await this.validateAndSettle(meta, planned, staged)
    const tValidate = performance.now()

    // Roots.
    const netWrites = result.view.netWrites()
    const { root: stateRoot } = await this.deps.trie.applyBlock(fromHex(head.stateRoot), [...netWrites].map(([k, v]) => [k, v.value] as const), { gpu: this.gpu })
    const tRoot = performance.now()
    const common = result.common
    const receiptsEncoded = result.receipts.map((r, i) =>
      encodeReceipt(
        { status: r.status, cumulativeBlockGasUsed: BigInt(r.cumulativeGasUsed), bitvector: fromHex(r.logsBloom), logs: result.logs[i]! } as never,
        r.type as never,
      ),
    )
    const logsBloom = new Uint8Array(256)
    for (const r of result.receipts) {
      const bloom = fromHex(r.logsBloom)
      for (let b = 0; b < 256; b++) logsBloom[b]! |= bloom[b]!
    }
    const withdrawals = meta.env.withdrawals ?? []
    const header = createBlockHeader(
      {
        ...headerDataFromEnv(meta.env),
        stateRoot,
        transactionsTrie: orderedTrieRoot(result.raws),
        receiptTrie: orderedTrieRoot(receiptsEncoded),
        logsBloom,
        gasUsed: result.gasUsed,
        ...(common.isActivatedEIP(4895)
          ? { withdrawalsRoot: withdrawals.length === 0 ? EMPTY_TRIE_ROOT : orderedTrieRoot(withdrawals.map((w) => RLP.encode([quantityBytes(w.index), quantityBytes(w.validatorIndex), fromHex(w.address), quantityBytes(w.amount)]))) }
          : {}),
        ...(common.isActivatedEIP(4844) ? { blobGasUsed: result.blobGasUsed } : {}),
      },
      { common, setHardfork: false, skipConsensusFormatValidation: true },
    )
    const hash = to0x(header.hash())
    for (const r of result.receipts) r.blockHash = hash

    const baseVersions = new Map<StateKey, number>()
    for (const s of staged) {
      for (const [key, seen] of s.exec.access.reads) if (!isInBlock(seen.version, number)) baseVersions.set(key, seen.version)
    }
    const writes: StateWrite[] = []
    const unknownBase: StateKey[] = []
    for (const [key, entry] of netWrites) {
      const base = baseVersions.get(key) ?? result.view.getLoadedBase(key)?.version
      if (base === undefined) unknownBase.push(key)
      writes.push({ key, value: entry.value, version: entry.version, baseVersion: base ?? -1 })
    }
    if (unknownBase.length > 0) {
      const loaded = await this.state.load(unknownBase)
      const byKey = new Map(unknownBase.map((k, i) => [k, loaded[i]!.version]))
      for (const w of writes) if (w.baseVersion === -1) w.baseVersion = byKey.get(w.key)!
    }
    const txHashes = result.receipts.map((r) => r.txHash)
    const headerJson = header.toJSON() as Record<string, string>
    const recentHashes: Record<string, string> = { ...head.recentHashes, [number.toString()]: hash }
    delete recentHashes[(number - 256n).toString()]
    const headRecord: HeadRecord = {
      number: number.toString(),
      hash,
      stateRoot: to0x(stateRoot),
      timestamp: meta.env.timestamp,
      gasLimit: meta.env.gasLimit,
      gasUsed: bigintToHex(result.gasUsed),
      difficulty: meta.env.difficulty,
      recentHashes,
      ...(meta.env.baseFeePerGas !== undefined ? { baseFeePerGas: meta.env.baseFeePerGas } : {}),
      ...(meta.env.excessBlobGas !== undefined ? { excessBlobGas: meta.env.excessBlobGas, blobGasUsed: bigintToHex(result.blobGasUsed) } : {}),
    }
    const workerTimings = [...done.values()].map((d) => d.timings)
    const maxOf = (field: string): number => Math.max(0, ...workerTimings.map((t) => t[field] ?? 0))
    const sumOf = (field: string): number => workerTimings.reduce((s, t) => s + (t[field] ?? 0), 0)
    const report: BlockReport = {
      block: number,
      hash,
      stateRoot: to0x(stateRoot),
      txs: meta.txCount,
      included: result.receipts.length,
      rejected: result.rejections.length,
      shards: meta.shardParts.length,
      reexecuted: result.reexecuted,
      gasUsed: result.gasUsed,
      prediction: result.prediction,
      timings: {
        intakeMs: meta.stats.intakeMs,
        predictMs: meta.stats.predictMs,
        partitionMs: meta.stats.partitionMs,
        workerPrefetchMsMax: maxOf('prefetchMs'),
        workerExecuteMsMax: maxOf('executeMs'),
        workerExecuteMsSum: sumOf('executeMs'),
        workerPrefetchMsSum: sumOf('prefetchMs'),
        workerMissLoads: sumOf('missLoads'),
        loadMs: tLoad - t0,
        validateMs: tValidate - tLoad,
        reexecuteMs: result.reexecuteMs,
        stateRootMs: tRoot - tValidate,
      },
    }
    const record: SealedBlockRecord = {
      number: number.toString(),
      hash,
      header: headerJson,
      txHashes,
      txParts: chunkBySize(result.raws, (r) => r.length + 4, PART_BYTES_MAX).length,
      rejected: result.rejections.map((r) => r.id),
      stats: { reexecuted: result.reexecuted, shards: meta.shardParts.length, txsFullyPredicted: result.prediction.txsFullyPredicted },
      sealedAtMs: this.clock.now(),
    }
    return {
      journal: { record, head: headRecord, env: meta.env, writes, codes: [...result.codes], raws: result.raws, receipts: result.receipts, rejections: result.rejections, report },
      learn: () => this.learn(planned, result, meta),
    }
  }

  /** Apply the journaled decision and seal: every step is idempotent. */
  private async finish(journal: SealJournal, meta: PlanMeta): Promise<SealedBlock | undefined> {
    const number = BigInt(journal.record.number)
    const t0 = performance.now()
    await this.state.putCode(journal.codes)
    const applyStats = await this.state.apply(journal.writes)
    const tApply = performance.now()
    // Receipts and rejections before the seal: once the head moves they must be there.
    await this.records.putReceipts(journal.receipts)
    for (const rejection of journal.rejections) await this.records.putRejection(rejection)
    const rawParts = chunkBySize(journal.raws, (r) => r.length + 4, PART_BYTES_MAX)
    const sealedNow = await this.records.seal(journal.record, journal.head, rawParts)
    if (!sealedNow) {
      const other = await this.records.getBlock(number)
      if (other?.hash !== journal.record.hash) throw new InvariantError(`block ${number} was sealed by another coordinator with a different hash (${other?.hash} vs ${journal.record.hash})`)
      return undefined
    }
    const report = journal.report
    report.timings.applyMs = tApply - t0
    report.timings.applyTransactions = applyStats.transactions
    report.timings.sealMs = performance.now() - tApply
    await this.records.dropBlockWork(number, meta)
    this.log.info('block sealed', { block: number.toString(), hash: journal.record.hash, txs: report.txs, reexecuted: report.reexecuted })
    return { record: journal.record, head: journal.head, env: journal.env, raws: journal.raws, receipts: journal.receipts, rejections: journal.rejections, report }
  }

  private async validateAndSettle(meta: PlanMeta, planned: PlannedTx[], staged: StagedTx[]) {
    const number = BigInt(meta.block)
    const env = meta.env
    if (this.executor === undefined || this.executorChain !== JSON.stringify(meta.chain)) {
      this.executor = new Executor(meta.chain, this.deps.inference)
      this.executorChain = JSON.stringify(meta.chain)
    }
    const executor = this.executor
    const common: Common = executor.commonForEnv(env)
    const txCommon = executor.txCommonForEnv(env)
    const view = new BlockView(number, this.loader())
    await view.prefetch([env.coinbase.slice(2).toLowerCase()])
    await applyBlockStart(view, env, common)
    await executor.beginBlock(env, view, lookupFromHashes(meta.blockHashes))
    const coinbase = env.coinbase.slice(2).toLowerCase()
    const baseFee = env.baseFeePerGas === undefined ? undefined : BigInt(env.baseFeePerGas)
    const receipts: ReceiptRecord[] = []
    const logs: unknown[][] = []
    const raws: Uint8Array[] = []
    const rejections: Rejection[] = []
    const codes = new Map<string, Uint8Array>()
    const final: StagedTx[] = new Array(staged.length)
    const fields: TxFields[] = new Array(staged.length)
    const mispredicted: number[] = []
    let gasUsed = 0n
    let receiptGas = 0n
    let blobGasUsed = 0n
    let reexecuted = 0
    let reexecuteMs = 0
    const prediction: PredictionReport = { txsFullyPredicted: 0, keysPredicted: 0, keysActual: 0 }
    for (let i = 0; i < staged.length; i++) {
      const plannedTx = planned[i]!
      let result = staged[i]!
      // A transaction object only for re-execution; receipts need only its fields.
      const tx = txFieldsFromRaw(plannedTx.raw)
      fields[i] = tx
      const from = to0x(publicKeyToAddress(plannedTx.senderPubKey))
      if (!readsStillValid(result.exec.access.reads, view, number)) {
        const t = performance.now()
        const full = createTxFromRLP(plannedTx.raw, { common: txCommon })
        full.cache.senderPubKey = plannedTx.senderPubKey
        result = { index: i, exec: await executor.execute(full) }
        reexecuteMs += performance.now() - t
        reexecuted++
      }
      final[i] = result
      const { exec } = result
      // Validated reads are the real order's reads: one the store could not supply is fatal.
      const unsupplied = unsuppliedRead(exec.access)
      if (unsupplied !== undefined) {
        throw new MissingStateError(unsupplied, {
          details: `${describeKey(unsupplied)}, read by transaction ${i} of block ${number}`,
          hint: 'the store cannot supply this key (a replayed block: its fixture\'s pre-state does not list it)',
        })
      }
      if (!scorePrediction(prediction, plannedTx, exec.access.reads, exec.access.writes, coinbase)) mispredicted.push(i)
      const version = txVersion(number, i)
      const hashHex = to0x(keccak256(plannedTx.raw))
      if (!exec.valid) {
        rejections.push({
          id: hashHex,
          code: exec.invalidCode ?? 'invalid-at-execution',
          reason: exec.invalidReason ?? 'invalid at execution',
          sender: from,
          nonce: bigintToHex(tx.nonce),
          block: number.toString(),
          position: i,
          raw: to0x(plannedTx.raw),
          atMs: this.clock.now(),
        })
        continue
      }
      view.applyWrites(exec.access.writes, version)
      view.addCodes(exec.access.codes)
      for (const [h, c] of exec.access.codes) codes.set(h, c)
      await view.credit(coinbase, exec.access.feeDelta, version)
      gasUsed += exec.blockGasUsed
      receiptGas += exec.gasUsed
      blobGasUsed += exec.blobGasUsed
      raws.push(plannedTx.raw)
      logs.push(exec.logs as unknown[])
      receipts.push({
        kind: 'receipt',
        txHash: hashHex,
        block: number.toString(),
        blockHash: '',
        index: raws.length - 1,
        from,
        to: tx.to === undefined ? null : to0x(tx.to),
        contractAddress: exec.createdAddress ?? null,
        status: exec.status,
        cumulativeGasUsed: bigintToHex(receiptGas),
        gasUsed: bigintToHex(exec.gasUsed),
        effectiveGasPrice: bigintToHex(effectiveGasPrice(tx, baseFee)),
        logsBloom: to0x(exec.bloom),
        logs: exec.logs.map((l) => ({
          address: to0x(l[0] as Uint8Array),
          topics: (l[1] as Uint8Array[]).map(to0x),
          data: to0x(l[2] as Uint8Array),
        })),
        type: tx.type,
        ...(exec.blobGasUsed > 0n ? { blobGasUsed: bigintToHex(exec.blobGasUsed) } : {}),
        includedAtMs: this.clock.now(),
      })
    }
    await applyBlockEnd(view, env, common)
    return { view, common, receipts, logs, raws, rejections, codes, final, fields, mispredicted, gasUsed, blobGasUsed, reexecuted, reexecuteMs, prediction }
  }

  /**
   * Teach the templates what mispredicted calls actually touched: at most
   * LEARN_PER_TEMPLATE_PER_BLOCK calls of each (contract, selector) per block — the first one
   * usually fixes the template, and learning a call costs hundreds of hashes.
   */
  private learn(planned: PlannedTx[], result: { final: StagedTx[]; fields: TxFields[]; mispredicted: number[] }, meta: PlanMeta): void {
    const coinbase = meta.env.coinbase.slice(2).toLowerCase()
    const learned = new Map<string, number>()
    for (const i of result.mispredicted) {
      const { exec } = result.final[i]!
      if (!exec.valid) continue
      const tx = result.fields[i]!
      if (tx.to === undefined || tx.data.length < 4) continue
      const id = `${toHex(tx.to)}:${toHex(tx.data.subarray(0, 4))}`
      const count = learned.get(id) ?? 0
      if (count >= LEARN_PER_TEMPLATE_PER_BLOCK) continue
      learned.set(id, count + 1)
      const keep = (k: StateKey): boolean => k !== coinbase && k[0] !== WIPE_PREFIX
      this.deps.templates.learn(
        { caller: toHex(publicKeyToAddress(planned[i]!.senderPubKey)), to: toHex(tx.to), data: tx.data },
        [...exec.access.reads.keys()].filter(keep),
        [...exec.access.writes.keys()].filter(keep),
        Number(exec.gasUsed),
      )
    }
  }
}

const LEARN_PER_TEMPLATE_PER_BLOCK = 2

/** A JSON-RPC quantity (any number of hex digits, odd included) as minimal big-endian bytes. */
function quantityBytes(q: string): Uint8Array {
  return bigintToMinimalBytes(BigInt(q))
}

function scorePrediction(
  score: PredictionReport,
  planned: PlannedTx,
  reads: Map<StateKey, VersionedValue>,
  writes: Map<StateKey, unknown>,
  coinbase: string,
): boolean {
  const predictedAny = new Set([...planned.reads, ...planned.writes])
  const predictedWrites = new Set(planned.writes)
  let full = true
  const actual = new Set<StateKey>([...reads.keys(), ...writes.keys()])
  actual.delete(coinbase)
  for (const key of actual) {
    score.keysActual++
    if (predictedAny.has(key)) score.keysPredicted++
    else full = false
  }
  for (const key of writes.keys()) {
    if (key !== coinbase && key.length >= ACCOUNT_KEY_LENGTH && !predictedWrites.has(key)) full = false
  }
  if (full) score.txsFullyPredicted++
  return full
}
