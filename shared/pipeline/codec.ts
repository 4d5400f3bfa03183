/**
 * Compact binary (RLP) encodings of the pipeline's bulk records: shard plans and staged
 * results. A null state value is an empty RLP list, bytes are an RLP string.
 */
import { RLP } from '@ethereumjs/rlp'

import { ParevmError } from '../errors.ts'
import { bigintToMinimalBytes, bytesToBigint } from '../hex.ts'
import { decodeStateKey, encodeStateKey } from '../store/state-table.ts'

import type { TxExecution } from '../exec/executor.ts'
import type { StateKey } from '../state/keys.ts'
import type { StateValue, VersionedValue } from '../state/values.ts'
import type { Log } from '@ethereumjs/evm'

type Nested = Uint8Array | Nested[]

const num = (n: number | bigint): Uint8Array => bigintToMinimalBytes(BigInt(n))
const toNum = (b: Nested): number => Number(bytesToBigint(asBytes(b)))
const toBig = (b: Nested): bigint => bytesToBigint(asBytes(b))
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const toText = (b: Nested): string => new TextDecoder().decode(asBytes(b))

function asBytes(n: Nested | undefined): Uint8Array {
  if (!(n instanceof Uint8Array)) throw new ParevmError('malformed record: expected bytes')
  return n
}
function asList(n: Nested | undefined): Nested[] {
  if (!Array.isArray(n)) throw new ParevmError('malformed record: expected a list')
  return n
}
const encodeValue = (v: StateValue): Nested => (v === null ? [] : v)
const decodeValue = (n: Nested): StateValue => (Array.isArray(n) ? null : n)

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
  return RLP.encode(txs.map((t) => [num(t.index), t.raw, t.senderPubKey, t.reads.map(encodeStateKey), t.writes.map(encodeStateKey)]))
}

export function decodePlannedTxs(bytes: Uint8Array): PlannedTx[] {
  return asList(RLP.decode(bytes) as Nested).map((t) => {
    const [index, raw, pub, reads, writes] = asList(t)
    return {
      index: toNum(index!),
      raw: asBytes(raw),
      senderPubKey: asBytes(pub),
      reads: asList(reads).map((k) => decodeStateKey(asBytes(k))),
      writes: asList(writes).map((k) => decodeStateKey(asBytes(k))),
    }
  })
}

/** Encoded size estimate of a planned transaction, for splitting into parts. */
export function plannedTxSize(t: PlannedTx): number {
  return t.raw.length + 80 + (t.reads.length + t.writes.length) * 56
}

// ----- staged results --------------------------------------------------------------------

export interface StagedTx {
  index: number
  exec: TxExecution
}

export function encodeStagedTxs(txs: readonly StagedTx[]): Uint8Array {
  return RLP.encode(txs.map((t) => encodeStagedTx(t)))
}

function encodeStagedTx({ index, exec }: StagedTx): Nested {
  const { access } = exec
  return [
    num(index),
    num(exec.valid ? 1 : 0),
    text(exec.invalidCode ?? ''),
    text(exec.invalidReason ?? ''),
    num(exec.status),
    num(exec.gasUsed),
    num(exec.blockGasUsed),
    num(exec.blobGasUsed),
    exec.logs as unknown as Nested,
    exec.logs.length === 0 ? new Uint8Array(0) : exec.bloom,
    text(exec.createdAddress ?? ''),
    [...access.reads].map(([k, v]) => [encodeStateKey(k), encodeValue(v.value), num(v.version)]),
    [...access.writes].map(([k, v]) => [encodeStateKey(k), encodeValue(v)]),
    [...access.codes].map(([h, c]) => [text(h), c]),
    num(access.feeDelta),
  ]
}

export function decodeStagedTxs(bytes: Uint8Array): StagedTx[] {
  return asList(RLP.decode(bytes) as Nested).map(decodeStagedTx)
}

function decodeStagedTx(n: Nested): StagedTx {
  const f = asList(n)
  const reads = new Map<StateKey, VersionedValue>()
  for (const r of asList(f[11])) {
    const [k, v, ver] = asList(r)
    reads.set(decodeStateKey(asBytes(k)), { value: decodeValue(v!), version: toNum(ver!) })
  }
  const writes = new Map<StateKey, StateValue>()
  for (const w of asList(f[12])) {
    const [k, v] = asList(w)
    writes.set(decodeStateKey(asBytes(k)), decodeValue(v!))
  }
  const codes = new Map<string, Uint8Array>()
  for (const c of asList(f[13])) {
    const [h, code] = asList(c)
    codes.set(toText(h!), asBytes(code))
  }
  const bloom = asBytes(f[9])
  const exec: TxExecution = {
    valid: toNum(f[1]!) === 1,
    status: toNum(f[4]!) === 1 ? 1 : 0,
    gasUsed: toBig(f[5]!),
    blockGasUsed: toBig(f[6]!),
    blobGasUsed: toBig(f[7]!),
    logs: f[8] as unknown as Log[],
    bloom: bloom.length === 0 ? new Uint8Array(256) : bloom,
    access: { reads, writes, codes, feeDelta: toBig(f[14]!) },
  }
  const code = toText(f[2]!)
  if (code !== '') exec.invalidCode = code as NonNullable<TxExecution['invalidCode']>
  const reason = toText(f[3]!)
  if (reason !== '') exec.invalidReason = reason
  const created = toText(f[10]!)
  if (created !== '') exec.createdAddress = created
  return { index: toNum(f[0]!), exec }
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
