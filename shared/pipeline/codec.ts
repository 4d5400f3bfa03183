/**
 * Binary encodings of the pipeline's bulk records: shard plans and staged results (the format
 * of shared/pipeline/binary.ts: varints, raw key bytes, values read back as views).
 */
import { MalformedInputError } from '../errors.ts'
import { BinaryReader, BinaryWriter } from './binary.ts'

import type { InvalidReasonCode, TxExecution } from '../exec/executor.ts'
import type { StateKey } from '../state/keys.ts'
import type { StateValue, VersionedValue } from '../state/values.ts'
import type { Log } from '@ethereumjs/evm'

const FORMAT_PLAN = 0x50
const FORMAT_STAGED = 0x53

function expectFormat(r: BinaryReader, format: number, what: string): void {
  const got = r.u8()
  if (got !== format) throw new MalformedInputError(`malformed ${what} record (format byte 0x${got.toString(16)})`)
}

// ----- shard plans -----------------------------------------------------------------------

export interface PlannedTx {
  /** Position in the block. */
  index: number
  /** The signed transaction as it is serialized (legacy RLP or typed envelope). */
  raw: Uint8Array
  /** Uncompressed public key without prefix (64 bytes), recovered by the sequencer. */
  senderPubKey: Uint8Array
  /** Predicted keys: all keys it may read, and those it may write. */
  reads: StateKey[]
  writes: StateKey[]
}

export function encodePlannedTxs(txs: readonly PlannedTx[]): Uint8Array {
  const w = new BinaryWriter(txs.length * 512 + 16)
  w.u8(FORMAT_PLAN)
  w.uint(txs.length)
  for (const t of txs) {
    w.uint(t.index)
    w.bytes(t.raw)
    w.bytes(t.senderPubKey)
    w.uint(t.reads.length)
    for (const k of t.reads) w.key(k)
    w.uint(t.writes.length)
    for (const k of t.writes) w.key(k)
  }
  return w.finish()
}

export function decodePlannedTxs(bytes: Uint8Array): PlannedTx[] {
  const r = new BinaryReader(bytes)
  expectFormat(r, FORMAT_PLAN, 'plan')
  const n = r.uint()
  const out: PlannedTx[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const index = r.uint()
    const raw = r.bytes()
    const senderPubKey = r.bytes()
    const reads: StateKey[] = new Array(r.uint())
    for (let k = 0; k < reads.length; k++) reads[k] = r.key()
    const writes: StateKey[] = new Array(r.uint())
    for (let k = 0; k < writes.length; k++) writes[k] = r.key()
    out[i] = { index, raw, senderPubKey, reads, writes }
  }
  return out
}

/** Encoded size estimate of a planned transaction, for splitting into parts. */
export function plannedTxSize(t: PlannedTx): number {
  return t.raw.length + 80 + (t.reads.length + t.writes.length) * 54
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
  const r = new BinaryReader(bytes)
  expectFormat(r, FORMAT_STAGED, 'staged')
  const n = r.uint()
  const out: StagedTx[] = new Array(n)
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
    out[i] = { index, exec }
  }
  if (!r.done) throw new MalformedInputError('malformed staged record: trailing bytes')
  return out
}

/** Split items into chunks whose encoded size stays under `maxBytes` (each chunk non-empty). */
export function chunkBySize<T>(items: readonly T[], sizeOf: (item: T) => number, maxBytes: number): T[][] {
  const chunks: T[][] = []
  let current: T[] = []
  let size = 0
  for (const item of items) {
    const s = sizeOf(item)
    if (current.length > 0 && size + s > maxBytes) {
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
