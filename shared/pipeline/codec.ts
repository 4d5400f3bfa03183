/**
 * Binary encodings of the pipeline's bulk records: shard plans and staged results (the format
 * of shared/pipeline/binary.ts: varints, raw key bytes, values read back as views).
 */
import { InvariantError, MalformedInputError } from '../errors.ts'
import { BinaryReader, BinaryWriter } from './binary.ts'

import type { InvalidReasonCode, TxExecution } from '../exec/executor.ts'
import type { StateKey } from '../state/keys.ts'
import type { StateValue, VersionedValue } from '../state/values.ts'
import type { Log } from '@ethereumjs/evm'

/** 0x50 was the plan format before hash, sender and fields travelled with it. */
const FORMAT_PLAN = 0x51
const FORMAT_STAGED = 0x53

function expectFormat(r: BinaryReader, format: number, what: string): void {
  const got = r.u8()
  if (got !== format) throw new MalformedInputError(`malformed ${what} record (format byte 0x${got.toString(16)})`)
}

// ----- shard plans -----------------------------------------------------------------------

/**
 * What a receipt or a rejection needs of a transaction, read once at intake so that the
 * coordinator never decodes the RLP again: the type, the nonce, the recipient and the fee fields
 * (`gasPrice` for types 0 and 1, the EIP-1559 pair for later types).
 */
export interface PlannedTxFields {
  type: number
  nonce: bigint
  /** Undefined for contract creation. */
  to: Uint8Array | undefined
  gasPrice?: bigint
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
}

export interface PlannedTx {
  /** Position in the block. */
  index: number
  /** The signed transaction as it is serialized (legacy RLP or typed envelope). */
  raw: Uint8Array
  /** keccak-256 of `raw` (the transaction hash), computed at intake. */
  hash: Uint8Array
  /** The sender's address (20 bytes), recovered at intake. */
  sender: Uint8Array
  /** Uncompressed public key without prefix (64 bytes), recovered by the sequencer. */
  senderPubKey: Uint8Array
  fields: PlannedTxFields
  /** Predicted keys: all keys it may read, and those it may write. */
  reads: StateKey[]
  writes: StateKey[]
}

/** The members of a decoded transaction (an `@ethereumjs/tx` object or intake's view) a plan takes. */
interface FieldSource {
  readonly type: number
  readonly nonce: bigint
  readonly to?: { bytes: Uint8Array } | undefined
  readonly gasPrice?: bigint | undefined
  readonly maxFeePerGas?: bigint | undefined
  readonly maxPriorityFeePerGas?: bigint | undefined
}

/** A transaction as intake decoded it: raw bytes, hash, sender (see shared/intake/decode.ts). */
export interface PlannableTx {
  raw: Uint8Array
  hash: Uint8Array
  sender: Uint8Array
  senderPubKey: Uint8Array
  tx: FieldSource
}

/** A shard plan's entry for transaction `index` of the block, from what intake decoded. */
export function plannedTxOf(index: number, decoded: PlannableTx, prediction: { reads: StateKey[]; writes: StateKey[] }): PlannedTx {
  return {
    index,
    raw: decoded.raw,
    hash: decoded.hash,
    sender: decoded.sender,
    senderPubKey: decoded.senderPubKey,
    fields: plannedFieldsOf(decoded.tx),
    reads: prediction.reads,
    writes: prediction.writes,
  }
}

function plannedFieldsOf(tx: FieldSource): PlannedTxFields {
  const fields: PlannedTxFields = { type: tx.type, nonce: tx.nonce, to: tx.to?.bytes }
  if (tx.type === 0 || tx.type === 1) {
    if (tx.gasPrice === undefined) throw new InvariantError(`a type ${tx.type} transaction without gasPrice`)
    fields.gasPrice = tx.gasPrice
  } else {
    if (tx.maxFeePerGas === undefined || tx.maxPriorityFeePerGas === undefined) throw new InvariantError(`a type ${tx.type} transaction without its fee fields`)
    fields.maxFeePerGas = tx.maxFeePerGas
    fields.maxPriorityFeePerGas = tx.maxPriorityFeePerGas
  }
  return fields
}

const FIELD_TO = 1
const FIELD_GAS_PRICE = 2
const FIELD_FEE_MARKET = 4

export function encodePlannedTxs(txs: readonly PlannedTx[]): Uint8Array {
  const w = new BinaryWriter(txs.length * 600 + 16)
  w.u8(FORMAT_PLAN)
  w.uint(txs.length)
  for (const t of txs) {
    w.uint(t.index)
    w.bytes(t.raw)
    if (t.hash.length !== 32 || t.sender.length !== 20) throw new InvariantError(`planned transaction ${t.index}: hash or sender of the wrong length`)
    w.fixed(t.hash)
    w.fixed(t.sender)
    w.bytes(t.senderPubKey)
    const f = t.fields
    const gasPrice = f.gasPrice !== undefined
    const feeMarket = f.maxFeePerGas !== undefined && f.maxPriorityFeePerGas !== undefined
    w.uint(f.type)
    w.u8((f.to !== undefined ? FIELD_TO : 0) | (gasPrice ? FIELD_GAS_PRICE : 0) | (feeMarket ? FIELD_FEE_MARKET : 0))
    w.bigint(f.nonce)
    if (f.to !== undefined) w.bytes(f.to)
    if (gasPrice) w.bigint(f.gasPrice!)
    if (feeMarket) {
      w.bigint(f.maxFeePerGas!)
      w.bigint(f.maxPriorityFeePerGas!)
    }
    w.uint(t.reads.length)
    for (const k of t.reads) w.key(k)
    w.uint(t.writes.length)
    for (const k of t.writes) w.key(k)
  }
  return w.finish()
}

export function decodePlannedTxs(bytes: Uint8Array): PlannedTx[] {
  return [...plannedTxsOf(bytes)]
}

/** The planned transactions of a plan part, decoded one at a time (a caller may pause between them). */
export function* plannedTxsOf(bytes: Uint8Array): Generator<PlannedTx> {
  const r = new BinaryReader(bytes)
  expectFormat(r, FORMAT_PLAN, 'plan')
  const n = r.uint()
  for (let i = 0; i < n; i++) {
    const index = r.uint()
    const raw = r.bytes()
    const hash = r.fixed(32)
    const sender = r.fixed(20)
    const senderPubKey = r.bytes()
    const type = r.uint()
    const flags = r.u8()
    const fields: PlannedTxFields = { type, nonce: r.bigint(), to: (flags & FIELD_TO) !== 0 ? r.bytes() : undefined }
    if ((flags & FIELD_GAS_PRICE) !== 0) fields.gasPrice = r.bigint()
    if ((flags & FIELD_FEE_MARKET) !== 0) {
      fields.maxFeePerGas = r.bigint()
      fields.maxPriorityFeePerGas = r.bigint()
    }
    const reads: StateKey[] = new Array(r.uint())
    for (let k = 0; k < reads.length; k++) reads[k] = r.key()
    const writes: StateKey[] = new Array(r.uint())
    for (let k = 0; k < writes.length; k++) writes[k] = r.key()
    yield { index, raw, hash, sender, senderPubKey, fields, reads, writes }
  }
  if (!r.done) throw new MalformedInputError('malformed plan record: trailing bytes')
}

/** Encoded size estimate of a planned transaction, for splitting into parts. */
export function plannedTxSize(t: PlannedTx): number {
  return t.raw.length + 200 + (t.reads.length + t.writes.length) * 54
}

// ----- staged results --------------------------------------------------------------------

export interface StagedTx {
  index: number
  exec: TxExecution
}

const FLAG_VALID = 1
const FLAG_STATUS = 2
const FLAG_CREATED = 4
const FLAG_INVALID_INFO = 8

export function encodeStagedTxs(txs: readonly StagedTx[]): Uint8Array {
  const w = new BinaryWriter(txs.length * 1024 + 16)
  w.u8(FORMAT_STAGED)
  w.uint(txs.length)
  for (const { index, exec } of txs) {
    const { access } = exec
    const flags =
      (exec.valid ? FLAG_VALID : 0) |
      (exec.status === 1 ? FLAG_STATUS : 0) |
      (exec.createdAddress !== undefined ? FLAG_CREATED : 0) |
      (exec.invalidCode !== undefined || exec.invalidReason !== undefined ? FLAG_INVALID_INFO : 0)
    w.uint(index)
    w.u8(flags)
    if ((flags & FLAG_INVALID_INFO) !== 0) {
      w.text(exec.invalidCode ?? '')
      w.text(exec.invalidReason ?? '')
    }
    w.bigint(exec.gasUsed)
    w.bigint(exec.blockGasUsed)
    w.bigint(exec.blobGasUsed)
    w.uint(exec.logs.length)
    for (const log of exec.logs) {
      w.bytes(log[0] as Uint8Array)
      const topics = log[1] as Uint8Array[]
      w.uint(topics.length)
      for (const topic of topics) w.bytes(topic)
      w.bytes(log[2] as Uint8Array)
    }
    if (exec.logs.length > 0) w.fixed(exec.bloom)
    if (exec.createdAddress !== undefined) w.text(exec.createdAddress)
    w.uint(access.reads.size)
    for (const [k, v] of access.reads) {
      w.key(k)
      w.value(v.value)
      w.uint(v.version)
    }
    w.uint(access.writes.size)
    for (const [k, v] of access.writes) {
      w.key(k)
      w.value(v)
    }
    w.uint(access.codes.size)
    for (const [hash, code] of access.codes) {
      w.text(hash)
      w.bytes(code)
    }
    w.bigint(access.feeDelta)
  }
  return w.finish()
}

export function decodeStagedTxs(bytes: Uint8Array): StagedTx[] {
  return [...stagedTxsOf(bytes)]
}

/** The results of a staged part, decoded one at a time (a caller may pause between them). */
export function* stagedTxsOf(bytes: Uint8Array): Generator<StagedTx> {
  const r = new BinaryReader(bytes)
  expectFormat(r, FORMAT_STAGED, 'staged')
  const n = r.uint()
  for (let i = 0; i < n; i++) {
    const index = r.uint()
    const flags = r.u8()
    let invalidCode = ''
    let invalidReason = ''
    if ((flags & FLAG_INVALID_INFO) !== 0) {
      invalidCode = r.text()
      invalidReason = r.text()
    }
    const gasUsed = r.bigint()
    const blockGasUsed = r.bigint()
    const blobGasUsed = r.bigint()
    const logs: Log[] = new Array(r.uint())
    for (let l = 0; l < logs.length; l++) {
      const address = r.bytes()
      const topics: Uint8Array[] = new Array(r.uint())
      for (let t = 0; t < topics.length; t++) topics[t] = r.bytes()
      logs[l] = [address, topics, r.bytes()]
    }
    const bloom = logs.length > 0 ? r.fixed(256) : new Uint8Array(256)
    const createdAddress = (flags & FLAG_CREATED) !== 0 ? r.text() : undefined
    const reads = new Map<StateKey, VersionedValue>()
    for (let k = r.uint(); k > 0; k--) {
      const key = r.key()
      const value = r.value()
      reads.set(key, { value, version: r.uint() })
    }
    const writes = new Map<StateKey, StateValue>()
    for (let k = r.uint(); k > 0; k--) {
      const key = r.key()
      writes.set(key, r.value())
    }
    const codes = new Map<string, Uint8Array>()
    for (let k = r.uint(); k > 0; k--) {
      const hash = r.text()
      codes.set(hash, r.bytes())
    }
    const exec: TxExecution = {
      valid: (flags & FLAG_VALID) !== 0,
      status: (flags & FLAG_STATUS) !== 0 ? 1 : 0,
      gasUsed,
      blockGasUsed,
      blobGasUsed,
      logs,
      bloom,
      access: { reads, writes, codes, feeDelta: r.bigint() },
    }
    if (invalidCode !== '') exec.invalidCode = invalidCode as InvalidReasonCode
    if (invalidReason !== '') exec.invalidReason = invalidReason
    if (createdAddress !== undefined) exec.createdAddress = createdAddress
    yield { index, exec }
  }
  if (!r.done) throw new MalformedInputError('malformed staged record: trailing bytes')
}

/**
 * Split items, in order, into chunks whose encoded size stays under `maxBytes` and that hold at
 * most `maxItems` items (each chunk non-empty; an item larger than `maxBytes` is a chunk alone).
 * No items give one empty chunk.
 */
export function chunkBySize<T>(items: readonly T[], sizeOf: (item: T) => number, maxBytes: number, maxItems: number = Infinity): T[][] {
  const chunks: T[][] = []
  let current: T[] = []
  let size = 0
  for (const item of items) {
    const s = sizeOf(item)
    if (current.length > 0 && (current.length >= maxItems || size + s > maxBytes)) {
      chunks.push(current)
      current = []
      size = 0
    }
    current.push(item)
    size += s
  }
  if (current.length > 0 || chunks.length === 0) chunks.push(current)
  return chunks
}

/**
 * `chunkBySize` as items come, each chunk encoded once it is closed: `finish` (which closes the
 * last chunk) gives the encodings of the chunks `chunkBySize` makes of the same items, no items
 * at all being one empty chunk.
 */
export class PartsBySize<T> {
  private readonly done: Uint8Array[] = []
  private current: T[] = []
  private size = 0
  private finished = false

  constructor(
    private readonly sizeOf: (item: T) => number,
    private readonly maxBytes: number,
    private readonly encode: (chunk: T[]) => Uint8Array,
  ) {}

  add(item: T): void {
    if (this.finished) throw new InvariantError('parts added to after they were finished')
    const s = this.sizeOf(item)
    if (this.current.length > 0 && this.size + s > this.maxBytes) {
      this.done.push(this.encode(this.current))
      this.current = []
      this.size = 0
    }
    this.current.push(item)
    this.size += s
  }

  finish(): Uint8Array[] {
    if (!this.finished) {
      this.finished = true
      if (this.current.length > 0 || this.done.length === 0) this.done.push(this.encode(this.current))
      this.current = []
    }
    return this.done
  }
}
