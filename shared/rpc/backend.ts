/**
 * What the JSON-RPC handler needs from a chain: the head, sealed blocks and their
 * transactions, receipts and rejection records, block-start state, and a way to submit a raw
 * transaction. `StoreBackend` reads them from the engine's records and state table and submits
 * to the ingress queue, so one implementation serves the in-memory store and DynamoDB alike.
 */
import { ParevmError } from '../errors.ts'
import { Records, type HeadRecord, type ReceiptOrRejection, type SealedBlockRecord } from '../store/records.ts'
import { StateTable } from '../store/state-table.ts'

import type { ChainSpec } from '../exec/block-env.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import type { Queue } from '../ports/queue.ts'
import type { StateLoader } from '../state/view.ts'

export interface RpcBackend {
  readonly chain: ChainSpec
  readonly chainId: bigint
  /** The block beneficiary of the blocks this chain seals (for eth_call's environment). */
  readonly coinbase: string
  head(): Promise<HeadRecord>
  block(number: bigint): Promise<SealedBlockRecord | undefined>
  blockTxs(block: SealedBlockRecord): Promise<Uint8Array[]>
  /** The number of the sealed block with this hash (lowercase 0x-hex), if known. */
  blockNumberByHash(hash: string): Promise<bigint | undefined>
  receipts(ids: readonly string[]): Promise<(ReceiptOrRejection | undefined)[]>
  /** Latest sealed state. */
  readonly state: StateLoader
  /** Put one raw transaction (0x-hex) on the ingress queue. */
  submit(raw: string): Promise<void>
}

export interface StoreBackendOptions {
  kv: KeyValueStore
  ingress: Queue
  chain: ChainSpec
  chainId: bigint
  coinbase: string
  /** How far back from the head a block hash is looked up when it is not indexed yet. */
  hashScanDepth?: number
}

export class StoreBackend implements RpcBackend {
  readonly chain: ChainSpec
  readonly chainId: bigint
  readonly coinbase: string
  readonly state: StateLoader
  private readonly records: Records
  private readonly table: StateTable
  private readonly ingress: Queue
  /** Block hash → number, filled as blocks are read or announced (blocks never change once sealed). */
  private readonly hashIndex = new Map<string, bigint>()
  private scannedDownTo: bigint | undefined
  private scannedFrom: bigint | undefined
  private readonly hashScanDepth: bigint

  constructor(o: StoreBackendOptions) {
    this.chain = o.chain
    this.chainId = o.chainId
    this.coinbase = o.coinbase
    this.records = new Records(o.kv)
    this.table = new StateTable(o.kv)
    this.ingress = o.ingress
    this.hashScanDepth = BigInt(o.hashScanDepth ?? 100_000)
    this.state = { load: (keys) => this.table.load(keys), loadCode: (hashes) => this.table.loadCode(hashes) }
  }

  async head(): Promise<HeadRecord> {
    const head = await this.records.getHead()
    if (head === undefined) throw new ParevmError('the store has no chain head (no genesis)')
    return head
  }

  async block(number: bigint): Promise<SealedBlockRecord | undefined> {
    const record = await this.records.getBlock(number)
    if (record !== undefined) this.noteBlock(record)
    return record
  }

  blockTxs(block: SealedBlockRecord): Promise<Uint8Array[]> {
    return block.txParts === 0 ? Promise.resolve([]) : this.records.getBlockTxs(block.number, block.txParts)
  }

  /** Index a sealed block's hash (the node announces every block it seals). */
  noteBlock(record: Pick<SealedBlockRecord, 'hash' | 'number'>): void {
    this.hashIndex.set(record.hash.toLowerCase(), BigInt(record.number))
  }

  async blockNumberByHash(hash: string): Promise<bigint | undefined> {
    const known = this.hashIndex.get(hash)
    if (known !== undefined) return known
    // Not indexed: walk the blocks not yet seen, newest first (each block is read once per process).
    const head = BigInt((await this.head()).number)
    const floor = head - this.hashScanDepth < 0n ? 0n : head - this.hashScanDepth
    const ranges: [bigint, bigint][] = []
    if (this.scannedFrom === undefined || this.scannedDownTo === undefined) ranges.push([head, floor])
    else {
      if (head > this.scannedFrom) ranges.push([head, this.scannedFrom + 1n])
      if (this.scannedDownTo > floor) ranges.push([this.scannedDownTo - 1n, floor])
    }
    for (const [from, to] of ranges) {
      for (let n = from; n >= to; n--) {
        const record = await this.block(n)
        if (this.scannedFrom === undefined || n > this.scannedFrom) this.scannedFrom = n
        if (this.scannedDownTo === undefined || n < this.scannedDownTo) this.scannedDownTo = n
        if (record?.hash.toLowerCase() === hash) return n
      }
    }
    return undefined
  }

  receipts(ids: readonly string[]): Promise<(ReceiptOrRejection | undefined)[]> {
    if (ids.length === 0) return Promise.resolve([])
    return this.records.getReceipts(ids)
  }

  async submit(raw: string): Promise<void> {
    await this.ingress.send([{ body: JSON.stringify({ raw }) }])
  }
}
