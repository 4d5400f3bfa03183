/**
 * Read-after-write dependencies among a group of transactions (block order), from their
 * predicted access sets, as a lower-triangular bit matrix: bit j of row i (j < i) says that i
 * may read a key j wrote. Only read-after-write matters in this engine: a transaction placed on
 * another shard than an earlier writer of a key it reads sees a stale value and is re-executed
 * by the coordinator; write-after-read and write-after-write across shards are harmless (the
 * coordinator validates reads by value and applies writes in block order).
 *
 * Two builders, either may be used:
 * - `exactDependencies` (CPU): per key its last writer so far; row i gets the last writer of
 *   each key it reads. O(keys + n^2/32). The exact key sets are the source of truth.
 * - `bitmapDependencies` (the `conflict` GPU stage): each transaction's reads and writes as
 *   1024-bit bitmaps, then the pairwise kernel (shared/gpu/kernels/conflict.ts). Only keys that
 *   some member writes and some member reads get bits; up to 1024 such keys each get their own
 *   bit (exact), more share bits by hash, which can only add edges. Its rows hold every earlier
 *   writer of a key read (a superset of the last writers), never fewer.
 */
import { conflictRowsGpu, packedColumns, PIECES, BITMAP_BITS } from '../gpu/kernels/conflict.ts'

import type { GpuBackend } from '../gpu/backend.ts'
import type { StateKey } from '../state/keys.ts'

export interface AccessSets {
  reads: readonly StateKey[]
  writes: readonly StateKey[]
}

/** Lower-triangular bit matrix over members 0..n-1 (local indices, block order). */
export interface DependencyMatrix {
  n: number
  /** 32-bit words per row. */
  words: number
  rows: Uint32Array
}

export function emptyMatrix(n: number): DependencyMatrix {
  const words = Math.ceil(n / 32)
  return { n, words, rows: new Uint32Array(n * words) }
}

export function hasEdge(m: DependencyMatrix, i: number, j: number): boolean {
  return (m.rows[i * m.words + (j >>> 5)]! & (1 << (j & 31))) !== 0
}

function setEdge(m: DependencyMatrix, i: number, j: number): void {
  m.rows[i * m.words + (j >>> 5)]! |= 1 << (j & 31)
}

/** Edges in the matrix (tests, statistics). */
export function edgeCount(m: DependencyMatrix): number {
  let count = 0
  for (let w = 0; w < m.rows.length; w++) {
    let v = m.rows[w]!
    while (v !== 0) {
      v &= v - 1
      count++
    }
  }
  return count
}

/** The CPU builder: the last writer of every key read. */
export function exactDependencies(txs: readonly AccessSets[]): DependencyMatrix {
  const m = emptyMatrix(txs.length)
  const lastWriter = new Map<StateKey, number>()
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i]!
    for (const key of tx.reads) {
      const w = lastWriter.get(key)
      if (w !== undefined && w !== i) setEdge(m, i, w)
    }
    for (const key of tx.writes) lastWriter.set(key, i)
  }
  return m
}

/** FNV-1a of a key, for bitmaps with more than BITMAP_BITS relevant keys. */
function keyHash(key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** Reads and writes as bitmaps of 16-bit pieces (n x PIECES each, float32 for the kernel). */
export function accessBitmaps(txs: readonly AccessSets[]): { W: Float32Array; R: Float32Array; relevantKeys: number; exact: boolean } {
  const written = new Set<StateKey>()
  for (const tx of txs) for (const key of tx.writes) written.add(key)
  const bit = new Map<StateKey, number>()
  for (const tx of txs) for (const key of tx.reads) if (written.has(key) && !bit.has(key)) bit.set(key, bit.size)
  const exact = bit.size <= BITMAP_BITS
  if (!exact) for (const key of bit.keys()) bit.set(key, keyHash(key) % BITMAP_BITS)
  const W = new Uint16Array(txs.length * PIECES)
  const R = new Uint16Array(txs.length * PIECES)
  txs.forEach((tx, i) => {
    for (const key of tx.writes) {
      const b = bit.get(key)
      if (b !== undefined) W[i * PIECES + (b >>> 4)]! |= 1 << (b & 15)
    }
    for (const key of tx.reads) {
      const b = bit.get(key)
      if (b !== undefined) R[i * PIECES + (b >>> 4)]! |= 1 << (b & 15)
    }
  })
  return { W: Float32Array.from(W), R: Float32Array.from(R), relevantKeys: bit.size, exact }
}

/** Packed kernel rows (16 cells per value) into a DependencyMatrix. */
export function matrixFromPackedRows(packed: Uint16Array, n: number): DependencyMatrix {
  const m = emptyMatrix(n)
  const cols = packedColumns(n)
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < cols; c++) {
      const v = packed[i * cols + c]!
      if (v !== 0) m.rows[i * m.words + (c >>> 1)]! |= (c & 1) === 0 ? v : v << 16
    }
  }
  return m
}

/** The GPU builder (the `conflict` stage's kernel). */
export async function bitmapDependencies(backend: GpuBackend, txs: readonly AccessSets[]): Promise<DependencyMatrix> {
  const { W, R } = accessBitmaps(txs)
  return matrixFromPackedRows(await conflictRowsGpu(backend, W, R, txs.length), txs.length)
}

/**
 * A bitmap matrix is acceptable when it has every edge of the exact one (it may have more:
 * every earlier writer, hash collisions) and nothing on or above the diagonal.
 */
export function coversExact(candidate: DependencyMatrix, exact: DependencyMatrix): boolean {
  if (candidate.n !== exact.n || candidate.words !== exact.words) return false
  for (let w = 0; w < exact.rows.length; w++) if ((exact.rows[w]! & ~candidate.rows[w]!) !== 0) return false
  for (let i = 0; i < candidate.n; i++) {
    for (let w = i >>> 5; w < candidate.words; w++) {
      const mask = w === i >>> 5 ? ~((1 << (i & 31)) - 1) : -1
      if ((candidate.rows[i * candidate.words + w]! & mask) !== 0) return false
    }
  }
  return true
}
