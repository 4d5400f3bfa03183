/**
 * The pairwise read-after-write matrix of a block's predicted access sets, as bitmaps.
 *
 * Each transaction i has a read bitmap R_i and a write bitmap W_i of BITMAP_BITS bits, given as
 * PIECES 16-bit pieces (float32 holds 16-bit values exactly; gpu.js casts operands of `&` to
 * i32, so wider words would lose bits: docs/gpu-and-ai.md). Cell (i, j) is set when j < i and
 * W_j & R_i != 0: transaction i may read what an earlier j wrote. The output is packed: row i,
 * column c holds the 16 cells j = 16c .. 16c+15 as a 16-bit number (bit b = cell 16c + b), so
 * the readback is n * n / 16 floats instead of n * n.
 *
 * `conflictRowsCpu` is the plain TypeScript reference; the kernel must match it bit for bit.
 */
import type { GpuBackend, GpuKernel } from '../backend.ts'

export const BITMAP_BITS = 1024
export const PIECES = BITMAP_BITS / 16

/** Kernel source (gpu.js JavaScript subset; translated to WGSL on webgpu). */
export const CONFLICT_KERNEL = `function conflictKernel(W, R) {
  const i = this.thread.y;
  const c = this.thread.x;
  let acc = 0;
  let p = 1;
  for (let b = 0; b < 16; b++) {
    const j = c * 16 + b;
    if (j < i) {
      let hit = 0;
      for (let k = 0; k < ${PIECES}; k++) {
        if ((W[j][k] & R[i][k]) !== 0) {
          hit = 1;
          break;
        }
      }
      acc = acc + hit * p;
    }
    p = p * 2;
  }
  return acc;
}`

/** Columns of the packed output for n transactions. */
export function packedColumns(n: number): number {
  return Math.ceil(n / 16)
}

/**
 * Reference: packed rows (n * packedColumns(n) values, each 0..65535) from bitmaps given as
 * 16-bit pieces (n * PIECES values each).
 */
export function conflictRowsCpu(W: Uint16Array | Float32Array, R: Uint16Array | Float32Array, n: number): Uint16Array {
  const cols = packedColumns(n)
  const out = new Uint16Array(n * cols)
  for (let i = 0; i < n; i++) {
    const ri = i * PIECES
    for (let j = 0; j < i; j++) {
      const wj = j * PIECES
      for (let k = 0; k < PIECES; k++) {
        if ((W[wj + k]! & R[ri + k]!) !== 0) {
          out[i * cols + (j >> 4)]! |= 1 << (j & 15)
          break
        }
      }
    }
  }
  return out
}

/**
 * The CPU implementation of the same algorithm on its natural data: 32-bit words (n x
 * PIECES / 2 each); same output as the reference. The benchmark's CPU baseline for the kernel.
 */
export function conflictRowsCpuWords(W: Uint32Array, R: Uint32Array, n: number): Uint16Array {
  const words = PIECES / 2
  const cols = packedColumns(n)
  const out = new Uint16Array(n * cols)
  for (let i = 0; i < n; i++) {
    const ri = i * words
    for (let j = 0; j < i; j++) {
      const wj = j * words
      for (let k = 0; k < words; k++) {
        if ((W[wj + k]! & R[ri + k]!) !== 0) {
          out[i * cols + (j >> 4)]! |= 1 << (j & 15)
          break
        }
      }
    }
  }
  return out
}

/** 16-bit pieces (as the kernel takes them) back into 32-bit words. */
export function piecesToWords(pieces: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(pieces.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = (pieces[2 * i]! | (pieces[2 * i + 1]! << 16)) >>> 0
  return out
}

const kernels = new WeakMap<GpuBackend, GpuKernel>()

/** The kernel on a backend: same output layout as the reference. */
export async function conflictRowsGpu(backend: GpuBackend, W: Float32Array, R: Float32Array, n: number): Promise<Uint16Array> {
  const cols = packedColumns(n)
  if (n === 0) return new Uint16Array(0)
  let kernel = kernels.get(backend)
  if (kernel === undefined) {
    kernel = backend.kernel(CONFLICT_KERNEL, { output: [cols, n], dynamicOutput: true, dynamicArguments: true })
    kernels.set(backend, kernel)
  }
  kernel.setOutput([cols, n])
  const raw = await kernel.run({ data: W.subarray(0, n * PIECES), size: [PIECES, n] }, { data: R.subarray(0, n * PIECES), size: [PIECES, n] })
  return packRows(raw, n, cols)
}

/** gpu.js returns rows (2-D) or one row (1-D when n = 1): copy into one Uint16Array. */
function packRows(raw: unknown, n: number, cols: number): Uint16Array {
  const out = new Uint16Array(n * cols)
  const rows = n === 1 && raw instanceof Float32Array ? [raw] : (raw as ArrayLike<number>[])
  for (let i = 0; i < n; i++) {
    const row = rows[i]!
    for (let c = 0; c < cols; c++) out[i * cols + c] = row[c]!
  }
  return out
}

/** Split 32-bit words into 16-bit pieces (low half first), as float32 for the kernel. */
export function wordsToPieces(words: Uint32Array): Float32Array {
  const out = new Float32Array(words.length * 2)
  for (let i = 0; i < words.length; i++) {
    out[2 * i] = words[i]! & 0xffff
    out[2 * i + 1] = words[i]! >>> 16
  }
  return out
}
