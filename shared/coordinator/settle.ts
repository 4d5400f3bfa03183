/**
 * Settle: the block's transactions in block order over a running view (block-start state plus
 * every validated write so far). A transaction's reads are valid when each key still has the
 * value it observed: where an in-block write decides the key, the values must be equal;
 * otherwise the observation must be of block-start state. A transaction with a stale read is
 * executed again on the running view - the only serial execution, proportional to
 * mispredictions - unless it ran no code and only balances it read have moved, which carry over
 * (`balance-shift.ts`). A transaction that execution refuses is rejected at its position with the
 * serial reason. Each included transaction's fee is credited to the beneficiary in order; the
 * system operations run before the first transaction and after the last.
 *
 * Settling is incremental: `advance` takes the positions whose plan and result are in (a shard
 * at a time), so that validation overlaps the loading of the shards still to come.
 */

import { InvariantError, MissingStateError } from '../errors.ts'
import { runnableTx, unsuppliedRead, type TxExecution } from '../exec/executor.ts'
import { effectiveGasPrice } from '../intake/tx-fields.ts'
import { bigintToHex, bytesEqual, to0x } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH, describeKey, makeVersion, txVersion, type StateKey, type Version } from '../state/keys.ts'
import { nextTurn } from '../ports/clock.ts'
import { BlockView, type StateLoader } from '../state/view.ts'
import { BodyParts } from '../store/seal-journal.ts'
import { OrderedListTrie } from '../trie/mpt.ts'
import { lookupFromHashes } from '../worker/shard-worker.ts'
import { shiftBalances } from './balance-shift.ts'
import { receiptRlp } from './receipt-rlp.ts'
import { applyBlockEnd, applyBlockStart } from './system.ts'

import type { Executor } from '../exec/executor.ts'
import type { Rejection } from '../intake/rejection.ts'
import type { PlannedTx } from '../pipeline/codec.ts'
import type { Clock } from '../ports/clock.ts'
import type { TxAccess } from '../state/tx-state-manager.ts'
import type { VersionedValue } from '../state/values.ts'
import type { PlanMeta, ReceiptRecord } from '../store/records.ts'
import type { BlockInputs } from './load.ts'
import type { Common } from '@ethereumjs/common'

export interface PredictionReport {
  /** Transactions whose actual reads and writes were all predicted. */
  txsFullyPredicted: number
  /** Actual keys that were predicted, over all actual keys. */
  keysPredicted: number
  keysActual: number
}

/** A transaction whose actual keys the prediction missed (template learning takes them). */
export interface Mispredicted {
  planned: PlannedTx
  exec: TxExecution
}

/** The settled block: what the roots, the header and the journal are made of. */
export interface SettledBlock {
  view: BlockView
  common: Common
  /** Receipts of the included transactions in order, `blockHash` still empty. */
  receipts: ReceiptRecord[]
  raws: Uint8Array[]
  /**
   * Each receipt as JSON with an empty `blockHash` (made as positions settle; the header's hash
   * goes in with `receiptJsonWithHash`).
   */
  receiptJson: string[]
  /** The seal journal's transactions and receipts parts, made as positions settle. */
  bodyParts: BodyParts
  /** The transactions and receipts roots and the block's bloom (built as positions settle). */
  transactionsRoot: Uint8Array
  receiptsRoot: Uint8Array
  logsBloom: Uint8Array
  rejections: Rejection[]
  /** New contract code by hash (hex). */
  codes: Map<string, Uint8Array>
  /** Block-start versions of written keys, as the transactions that wrote them read them. */
  baseVersions: Map<StateKey, Version>
  gasUsed: bigint
  blobGasUsed: bigint
  reexecuted: number
  /** Transactions with stale reads settled without running again: balances moved, no code ran (`shiftBalances`). */
  balanceShifted: number
  reexecuteMs: number
  /** Store reads of single keys the re-executions made (block-start state neither the coordinator nor the transaction's worker had read). */
  reexecuteLoads: number
  prediction: PredictionReport
  mispredicted: Mispredicted[]
}

/** Positions settled between turns of the event loop. */
const YIELD_EVERY = 32

/** The all-zero bloom of a receipt without logs, as a receipt record writes it. */
const ZERO_BLOOM_HEX = to0x(new Uint8Array(256))

/** A read that is no longer what the running view holds, and what decides the key now (no in-block write: undefined). */
export interface StaleRead {
  key: StateKey
  seen: VersionedValue
  now: VersionedValue | undefined
}

/**
 * The reads of a result that are no longer what they observed, or undefined when every one
 * still is: where an in-block write decides the key, its value must equal the observation;
 * otherwise the observation must be of block-start state (a version below `blockStart`, the
 * block's first).
 */
export function staleReads(reads: Map<StateKey, VersionedValue>, view: BlockView, blockStart: Version): StaleRead[] | undefined {
  let stale: StaleRead[] | undefined
  for (const [key, seen] of reads) {
    const now = view.getInBlock(key)
    if (now !== undefined ? bytesEqual(now.value, seen.value) : seen.version < blockStart) continue
    ;(stale ??= []).push({ key, seen, now })
  }
  return stale
}

/**
 * Seed `view` with the block-start values among `reads` (versions before `blockStart`): the
 * values the worker was served from the same block-start state the view loads from. Values the
 * view holds already stay, and in-block writes decide over the base as always.
 */
export function seedBlockStartReads(view: BlockView, reads: ReadonlyMap<StateKey, VersionedValue>, blockStart: Version): void {
  for (const [key, seen] of reads) if (seen.version < blockStart) view.seedBase(key, seen)
}

export interface SettlementOptions {
  meta: PlanMeta
  executor: Executor
  loader: StateLoader
  clock: Clock
}

export class Settlement {
  readonly block: bigint
  private readonly meta: PlanMeta
  private readonly executor: Executor
  private readonly clock: Clock
  private readonly view: BlockView
  private readonly common: Common
  private readonly txCommon: Common
  private readonly coinbase: string
  private readonly baseFee: bigint | undefined
  private readonly blockStart: Version
  /** The next position to settle. */
  private next = 0
  private ended = false
  private readonly out: SettledBlock
  private receiptGas = 0n
  /** Whether the executor points at this block's view in the current `advance` call. */
  private executorPointed = false
  /**
   * Beneficiary fees settled but not credited in the view yet, and the version of the last
   * transaction that paid one: credited at once (`payFees`) before anything reads the
   * beneficiary (a transaction that read or wrote it, a re-execution, the prefix's writes, the
   * block's end), not one decode and encode of its account per transaction.
   */
  private feesOwed = 0n
  private feesVersion: Version = 0
  /** The included transactions' and receipts' tries, hashed after each settled prefix. */
  private readonly transactions = new OrderedListTrie()
  private readonly receiptEncodings = new OrderedListTrie()

  private constructor(o: SettlementOptions, view: BlockView) {
    this.meta = o.meta
    this.block = BigInt(o.meta.block)
    this.executor = o.executor
    this.clock = o.clock
    this.view = view
    this.common = o.executor.commonForEnv(o.meta.env)
    this.txCommon = o.executor.txCommonForEnv(o.meta.env)
    this.coinbase = o.meta.env.coinbase.slice(2).toLowerCase()
    this.baseFee = o.meta.env.baseFeePerGas === undefined ? undefined : BigInt(o.meta.env.baseFeePerGas)
    this.blockStart = makeVersion(this.block, 0)
    this.out = {
      view,
      common: this.common,
      receipts: [],
      raws: [],
      receiptJson: [],
      bodyParts: new BodyParts(),
      transactionsRoot: new Uint8Array(0),
      receiptsRoot: new Uint8Array(0),
      logsBloom: new Uint8Array(256),
      rejections: [],
      codes: new Map(),
      baseVersions: new Map(),
      gasUsed: 0n,
      blobGasUsed: 0n,
      reexecuted: 0,
      balanceShifted: 0,
      reexecuteMs: 0,
      reexecuteLoads: 0,
      prediction: { txsFullyPredicted: 0, keysPredicted: 0, keysActual: 0 },
      mispredicted: [],
    }
  }

  /** A settlement over block-start state, the block's opening system operations applied. */
  static async begin(o: SettlementOptions): Promise<Settlement> {
    const view = new BlockView(BigInt(o.meta.block), o.loader)
    const settlement = new Settlement(o, view)
    await view.prefetch([settlement.coinbase])
    await applyBlockStart(view, o.meta.env, settlement.common)
    return settlement
  }

  /** The in-block writes of the positions settled so far (not copied). */
  inBlockWrites(): ReadonlyMap<StateKey, VersionedValue> {
    return this.view.inBlockWrites()
  }

  /** Positions settled so far. */
  get settled(): number {
    return this.next
  }

  /** Settle every position from the next one on whose plan and result are in. */
  async advance(inputs: BlockInputs): Promise<void> {
    const from = this.next
    await this.advanceFrom(inputs)
    await this.payFees()
    // The prefix's list tries hashed and its receipts written as JSON now (off the seal's path
    // while later shards execute), a turn of the event loop between them (each a few ms a shard).
    if (this.next > from) {
      this.transactions.root()
      await nextTurn()
      this.receiptEncodings.root()
      await nextTurn()
      const { receipts, receiptJson, raws, bodyParts } = this.out
      for (let k = receiptJson.length; k < receipts.length; k++) {
        const json = JSON.stringify(receipts[k])
        receiptJson.push(json)
        bodyParts.add(raws[k]!, json)
      }
    }
  }

  private async advanceFrom(inputs: BlockInputs): Promise<void> {
    // The executor serves one view at a time: pointed at this block's before the first
    // re-execution of each call (between calls it may have served another block).
    this.executorPointed = false
    const { planned, staged } = inputs
    for (; this.next < planned.length; this.next++) {
      const i = this.next
      const plannedTx = planned[i]
      const result = staged[i]
      if (plannedTx === undefined || result === undefined) return
      // Let other work on this thread in now and then (the embedded cluster serves the workers'
      // store reads here: a worker starting its next shard must not wait for a whole prefix).
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await nextTurn()
      let exec = result.exec
      if (exec.access.reads.has(this.coinbase) || exec.access.writes.has(this.coinbase)) await this.payFees()
      const stale = staleReads(exec.access.reads, this.view, this.blockStart)
      if (stale !== undefined) {
        const shifted = shiftBalances(exec, plannedTx, stale)
        if (shifted !== undefined) this.out.balanceShifted++
        exec = shifted ?? (await this.reexecute(plannedTx, exec))
      }
      await this.settleTx(i, plannedTx, exec)
    }
  }

  /** Run a transaction with a stale read again, on the running view. */
  private async reexecute(plannedTx: PlannedTx, first: TxExecution): Promise<TxExecution> {
    const t = performance.now()
    await this.payFees()
    if (!this.executorPointed) {
      await this.executor.beginBlock(this.meta.env, this.view, lookupFromHashes(this.meta.blockHashes))
      this.executorPointed = true
    }
    // What the worker read of block-start state is block-start state: seeded, so that the
    // transaction's second run loads only what its first did not read (one store read each).
    seedBlockStartReads(this.view, first.access.reads, this.blockStart)
    const loadsBefore = this.view.stats.missLoads
    const exec = await this.executor.execute(runnableTx(plannedTx.raw, this.txCommon, plannedTx.sender, plannedTx.senderPubKey))
    this.out.reexecuteLoads += this.view.stats.missLoads - loadsBefore
    this.out.reexecuteMs += performance.now() - t
    this.out.reexecuted++
    return exec
  }

  /** The block's closing system operations (withdrawals, rewards), after its last transaction. */
  async end(): Promise<SettledBlock> {
    if (this.ended) throw new InvariantError(`block ${this.block}: settlement ended twice`)
    if (this.next !== this.meta.txCount) throw new InvariantError(`block ${this.block}: settlement ended at position ${this.next} of ${this.meta.txCount}`)
    this.ended = true
    await this.payFees()
    await applyBlockEnd(this.view, this.meta.env, this.common)
    this.out.transactionsRoot = this.transactions.root()
    this.out.receiptsRoot = this.receiptEncodings.root()
    return this.out
  }

  /** Credit the beneficiary with the fees owed, at the version of the last transaction that paid one. */
  private async payFees(): Promise<void> {
    if (this.feesOwed === 0n) return
    const owed = this.feesOwed
    this.feesOwed = 0n
    await this.view.credit(this.coinbase, owed, this.feesVersion)
  }

  private async settleTx(i: number, planned: PlannedTx, exec: TxExecution): Promise<void> {
    const out = this.out
    const { access } = exec
    // Validated reads are the real order's reads: one the store could not supply is fatal.
    const unsupplied = unsuppliedRead(access)
    if (unsupplied !== undefined) {
      throw new MissingStateError(unsupplied, {
        details: `${describeKey(unsupplied)}, read by transaction ${i} of block ${this.block}`,
        hint: "the store cannot supply this key (a replayed block: its fixture's pre-state does not list it)",
      })
    }
    if (!scorePrediction(out.prediction, planned, access, this.coinbase)) out.mispredicted.push({ planned, exec })
    const fields = planned.fields
    if (!exec.valid) {
      out.rejections.push({
        id: to0x(planned.hash),
        code: exec.invalidCode ?? 'invalid-at-execution',
        reason: exec.invalidReason ?? 'invalid at execution',
        sender: to0x(planned.sender),
        nonce: bigintToHex(fields.nonce),
        block: this.block.toString(),
        position: i,
        raw: to0x(planned.raw),
        atMs: this.clock.now(),
      })
      return
    }
    const version = txVersion(this.block, i)
    for (const key of access.writes.keys()) {
      if (out.baseVersions.has(key)) continue
      const seen = access.reads.get(key)
      if (seen !== undefined && seen.version < this.blockStart) out.baseVersions.set(key, seen.version)
    }
    this.view.applyWrites(access.writes, version)
    if (access.codes.size > 0) {
      this.view.addCodes(access.codes)
      for (const [h, c] of access.codes) out.codes.set(h, c)
    }
    if (access.feeDelta !== 0n) {
      this.feesOwed += access.feeDelta
      this.feesVersion = version
    }
    out.gasUsed += exec.blockGasUsed
    this.receiptGas += exec.gasUsed
    out.blobGasUsed += exec.blobGasUsed
    out.raws.push(planned.raw)
    this.transactions.push(planned.raw)
    this.receiptEncodings.push(receiptRlp(exec.status, this.receiptGas, exec.bloom, exec.logs, fields.type))
    if (exec.logs.length > 0) {
      const bloom = out.logsBloom
      for (let b = 0; b < 256; b++) bloom[b]! |= exec.bloom[b]!
    }
    out.receipts.push({
      kind: 'receipt',
      txHash: to0x(planned.hash),
      block: this.block.toString(),
      blockHash: '',
      index: out.raws.length - 1,
      from: to0x(planned.sender),
      to: fields.to === undefined ? null : to0x(fields.to),
      contractAddress: exec.createdAddress ?? null,
      status: exec.status,
      cumulativeGasUsed: bigintToHex(this.receiptGas),
      gasUsed: bigintToHex(exec.gasUsed),
      effectiveGasPrice: bigintToHex(effectiveGasPrice(fields, this.baseFee)),
      // A receipt without logs has the zero bloom.
      logsBloom: exec.logs.length === 0 ? ZERO_BLOOM_HEX : to0x(exec.bloom),
      logs: exec.logs.map((l) => ({
        address: to0x(l[0] as Uint8Array),
        topics: (l[1] as Uint8Array[]).map(to0x),
        data: to0x(l[2] as Uint8Array),
      })),
      type: fields.type,
      ...(exec.blobGasUsed > 0n ? { blobGasUsed: bigintToHex(exec.blobGasUsed) } : {}),
      includedAtMs: this.clock.now(),
    })
  }
}

const EMPTY_BLOCK_HASH_JSON = '"blockHash":""'

/**
 * The receipts' JSON made as they settled, with the block's hash put in: what
 * `JSON.stringify(receipt)` gives once `receipt.blockHash` is set (the one `blockHash` key of a
 * receipt record is the top-level one; its logs have none).
 */
export function receiptJsonWithHash(json: readonly string[], blockHash: string): string[] {
  return json.map((j) => {
    const at = j.indexOf(EMPTY_BLOCK_HASH_JSON)
    if (at < 0) throw new InvariantError('a settled receipt\'s JSON has no empty blockHash')
    return `${j.slice(0, at)}"blockHash":"${blockHash}"${j.slice(at + EMPTY_BLOCK_HASH_JSON.length)}`
  })
}

/** Predicted sets this small are searched as arrays; larger ones as sets. */
const LINEAR_SEARCH_MAX = 16

/**
 * Count the actual keys (read or written, the beneficiary aside) the plan predicted; true when
 * the prediction covered every one and every written account or slot was predicted as written.
 */
export function scorePrediction(score: PredictionReport, planned: PlannedTx, access: TxAccess, coinbase: string): boolean {
  const { reads, writes } = access
  const small = planned.reads.length + planned.writes.length <= LINEAR_SEARCH_MAX
  const anySet = small ? undefined : new Set([...planned.reads, ...planned.writes])
  const writeSet = small ? undefined : new Set(planned.writes)
  const predicted = (key: StateKey): boolean => (anySet !== undefined ? anySet.has(key) : planned.reads.includes(key) || planned.writes.includes(key))
  const predictedWrite = (key: StateKey): boolean => (writeSet !== undefined ? writeSet.has(key) : planned.writes.includes(key))
  let full = true
  for (const key of reads.keys()) {
    if (key === coinbase) continue
    score.keysActual++
    if (predicted(key)) score.keysPredicted++
    else full = false
  }
  for (const key of writes.keys()) {
    if (key === coinbase) continue
    if (!reads.has(key)) {
      score.keysActual++
      if (predicted(key)) score.keysPredicted++
      else full = false
    }
    if (key.length >= ACCOUNT_KEY_LENGTH && !predictedWrite(key)) full = false
  }
  if (full) score.txsFullyPredicted++
  return full
}
