/**
 * Inclusion of every injected transaction, read from the store the pipeline writes: sealed
 * blocks (the head, then each new block's record: its transaction hashes, rejected ids,
 * re-executions and seal time), the receipts of those transactions (status), and rejection
 * records (code and reason) - those of the sequencer belong to no block and are found by
 * sweeping the receipts table for transactions still pending.
 */
import { Records, type SealedBlockRecord } from '../store/records.ts'

import type { KeyValueStore } from '../ports/kv-store.ts'
import type { RejectionCode } from '../intake/rejection.ts'

export const TX_PENDING = 0
export const TX_INCLUDED = 1
export const TX_REJECTED = 2

export interface BlockSample {
  number: number
  sealedAtMs: number
  /** Transactions in the block (all senders). */
  txs: number
  /** Of those, this load test's. */
  ours: number
  rejected: number
  reexecuted: number
  shards: number
}

export interface TrackerOptions {
  /** Blocks after this one are followed. */
  afterBlock: bigint
  /** Most blocks read per poll. */
  blocksPerPollMax?: number
  /** Polls a block may wait for its receipts before it is counted from its record alone. */
  receiptWaitPollsMax?: number
  /** Most transactions one sweep looks up. */
  sweepTxsMax?: number
}

const RECEIPT_CHUNK = 100

export class InclusionTracker {
  readonly status: Uint8Array
  /** Epoch ms of inclusion (the block's seal) or rejection. */
  readonly doneAtMs: Float64Array
  readonly block: Float64Array
  /** 1 where the receipt says the transaction reverted (status 0). */
  readonly reverted: Uint8Array
  readonly rejections = new Map<number, { code: RejectionCode; reason: string }>()
  readonly blocks: BlockSample[] = []
  /** Included transactions whose receipt could not be read (counted from the block record). */
  receiptsMissing = 0
  resolved = 0
  private readonly records: Records
  private readonly index = new Map<string, number>()
  private nextBlock: bigint
  private receiptWaits = 0
  private sweepCursor = 0
  private readonly blocksPerPollMax: number
  private readonly receiptWaitPollsMax: number
  private readonly sweepTxsMax: number
  private readonly sealedAt = new Map<string, number>()

  constructor(
    kv: KeyValueStore,
    private readonly hashes: readonly string[],
    options: TrackerOptions,
  ) {
    this.records = new Records(kv)
    hashes.forEach((h, i) => this.index.set(h, i))
    this.status = new Uint8Array(hashes.length)
    this.doneAtMs = new Float64Array(hashes.length)
    this.block = new Float64Array(hashes.length).fill(-1)
    this.reverted = new Uint8Array(hashes.length)
    this.nextBlock = options.afterBlock + 1n
    this.blocksPerPollMax = options.blocksPerPollMax ?? 50
    this.receiptWaitPollsMax = options.receiptWaitPollsMax ?? 25
    this.sweepTxsMax = options.sweepTxsMax ?? 1000
  }

  get lastBlockSeen(): bigint {
    return this.nextBlock - 1n
  }

  private include(i: number, blockNumber: number, atMs: number, reverted: boolean): void {
    if (this.status[i] !== TX_PENDING) return
    this.status[i] = TX_INCLUDED
    this.doneAtMs[i] = atMs
    this.block[i] = blockNumber
    if (reverted) this.reverted[i] = 1
    this.resolved++
  }

  private reject(i: number, code: RejectionCode, reason: string, atMs: number, blockNumber?: string): void {
    if (this.status[i] !== TX_PENDING) return
    this.status[i] = TX_REJECTED
    this.doneAtMs[i] = atMs
    if (blockNumber !== undefined) this.block[i] = Number(blockNumber)
    this.rejections.set(i, { code, reason })
    this.resolved++
  }

  /** Follow newly sealed blocks (bounded per call). Returns the number of blocks read. */
  async pollBlocks(): Promise<number> {
    const head = await this.records.getHead()
    if (head === undefined) return 0
    let read = 0
    while (this.nextBlock <= BigInt(head.number) && read < this.blocksPerPollMax) {
      const record = await this.records.getBlock(this.nextBlock)
      if (record === undefined) break
      if (!(await this.takeBlock(record))) break
      this.nextBlock++
      read++
    }
    return read
  }

  /** False when receipts are not written yet (they follow the seal): read the block again later. */
  private async takeBlock(record: SealedBlockRecord): Promise<boolean> {
    const number = Number(record.number)
    this.sealedAt.set(record.number, record.sealedAtMs)
    const ours = record.txHashes.filter((h) => this.index.has(h))
    const oursRejected = record.rejected.filter((h) => this.index.has(h))
    const ids = [...ours, ...oursRejected]
    const found = await this.getReceipts(ids)
    const missing = found.filter((r) => r === undefined).length
    if (missing > 0 && this.receiptWaits < this.receiptWaitPollsMax) {
      this.receiptWaits++
      return false
    }
    this.receiptWaits = 0
    ours.forEach((hash, k) => {
      const receipt = found[k]
      if (receipt === undefined) this.receiptsMissing++
      this.include(this.index.get(hash)!, number, record.sealedAtMs, receipt?.kind === 'receipt' && receipt.status === 0)
    })
    oursRejected.forEach((hash, k) => {
      const r = found[ours.length + k]
      if (r?.kind === 'rejection') this.reject(this.index.get(hash)!, r.code, r.reason, r.atMs, record.number)
      else this.reject(this.index.get(hash)!, 'invalid-at-execution', 'listed as rejected in its block (no rejection record found)', record.sealedAtMs, record.number)
    })
    const stats = record.stats
    this.blocks.push({
      number,
      sealedAtMs: record.sealedAtMs,
      txs: record.txHashes.length,
      ours: ours.length,
      rejected: record.rejected.length,
      reexecuted: Number(stats['reexecuted'] ?? 0),
      shards: Number(stats['shards'] ?? 0),
    })
    return true
  }

  private async getReceipts(ids: readonly string[]): Promise<Awaited<ReturnType<Records['getReceipts']>>> {
    const out: Awaited<ReturnType<Records['getReceipts']>> = []
    for (let i = 0; i < ids.length; i += RECEIPT_CHUNK) out.push(...(await this.records.getReceipts(ids.slice(i, i + RECEIPT_CHUNK))))
    return out
  }

  /**
   * Look up pending transactions among the first `issued` whose send is older than `olderThanMs`
   * (at most sweepTxsMax per call, round robin): rejection records resolve them; receipts are
   * left to block polling unless `acceptReceipts` (the final accounting).
   */
  async sweep(issued: number, sentAtMs: Float64Array, olderThanMs: number, acceptReceipts = false, limit = this.sweepTxsMax): Promise<number> {
    const candidates: number[] = []
    const n = Math.min(issued, this.hashes.length)
    for (let scanned = 0; scanned < n && candidates.length < limit; scanned++) {
      const i = (this.sweepCursor + scanned) % n
      if (this.status[i] === TX_PENDING && sentAtMs[i]! > 0 && sentAtMs[i]! <= olderThanMs) candidates.push(i)
    }
    if (n > 0 && candidates.length > 0) this.sweepCursor = (candidates[candidates.length - 1]! + 1) % n
    if (candidates.length === 0) return 0
    const found = await this.getReceipts(candidates.map((i) => this.hashes[i]!))
    let resolved = 0
    for (let k = 0; k < candidates.length; k++) {
      const r = found[k]
      const i = candidates[k]!
      if (r?.kind === 'rejection') {
        this.reject(i, r.code, r.reason, r.atMs, r.block)
        resolved++
      } else if (r?.kind === 'receipt' && acceptReceipts) {
        const sealedAtMs = await this.blockSealTime(r.block)
        this.include(i, Number(r.block), sealedAtMs ?? r.includedAtMs, r.status === 0)
        resolved++
      }
    }
    return resolved
  }

  private async blockSealTime(block: string): Promise<number | undefined> {
    const known = this.sealedAt.get(block)
    if (known !== undefined) return known
    const record = await this.records.getBlock(block)
    if (record !== undefined) this.sealedAt.set(block, record.sealedAtMs)
    return record?.sealedAtMs
  }

  /** Pending transactions among the first `issued`. */
  pending(issued: number): number {
    let n = 0
    for (let i = 0; i < Math.min(issued, this.status.length); i++) if (this.status[i] === TX_PENDING) n++
    return n
  }
}
