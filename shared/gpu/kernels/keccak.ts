/**
 * Batched keccak-256: one GPU thread group per message, messages of up to MAX_BLOCKS rate
 * blocks (136 bytes each; trie nodes are at most 532 bytes).
 *
 * Float32 cannot hold 64-bit lanes, so the 1600-bit state is 100 16-bit pieces (lane l, piece p
 * = bits 16p..16p+15 of lane l). XOR and AND act piecewise; NOT is `x ^ 65535`; a lane rotation
 * by r = 16q + s moves pieces by q and shifts by s with every intermediate below 2^16
 * (`((x & (2^(16-s) - 1)) << s) | (y >> (16 - s))`), exact on every backend. gpu.js has no
 * local arrays, so the kernel source is generated with one variable per piece.
 *
 * A kernel returns 4 numbers per thread, so each message has 4 threads, thread q returning lane
 * q of the digest (4 pieces); each recomputes the permutation (4x redundant work, in exchange
 * for no cross-thread communication). The CPU implementation and reference is @noble/hashes.
 */
import { keccak256 } from '../../crypto/keccak.ts'

import type { GpuBackend, GpuKernel } from '../backend.ts'

export const RATE_BYTES = 136
export const MAX_BLOCKS = 4
/** Longest message the kernel takes (longer ones are hashed on the CPU). */
export const MAX_KERNEL_MESSAGE = MAX_BLOCKS * RATE_BYTES - 1
/** Messages per launch (bounded; larger batches are split). */
export const MAX_HASH_BATCH = 65_536

const PIECES_PER_BLOCK = RATE_BYTES / 2

const RHO = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14]
const ROUND_CONSTANTS = [
  0x0000000000000001n, 0x0000000000008082n, 0x800000000000808an, 0x8000000080008000n, 0x000000000000808bn, 0x0000000080000001n,
  0x8000000080008081n, 0x8000000000008009n, 0x000000000000008an, 0x0000000000000088n, 0x0000000080008009n, 0x000000008000000an,
  0x000000008000808bn, 0x800000000000008bn, 0x8000000000008089n, 0x8000000000008003n, 0x8000000000008002n, 0x8000000000000080n,
  0x000000000000800an, 0x800000008000000an, 0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n,
]

/** Round constants as 24 x 4 pieces. */
export const ROUND_CONSTANT_PIECES = (() => {
  const out = new Float32Array(24 * 4)
  ROUND_CONSTANTS.forEach((rc, r) => {
    for (let p = 0; p < 4; p++) out[r * 4 + p] = Number((rc >> BigInt(16 * p)) & 0xffffn)
  })
  return out
})()

const piece = (lane: number, p: number): string => `a${lane}_${p}`

/** Expressions for a 64-bit lane (4 piece expressions, low first) rotated left by r. */
function rotate(src: string[], r: number): string[] {
  const q = r >> 4
  const s = r & 15
  const moved = [0, 1, 2, 3].map((i) => src[(i - q + 4) & 3]!)
  if (s === 0) return moved
  const mask = (1 << (16 - s)) - 1
  return [0, 1, 2, 3].map((i) => `(((${moved[i]} & ${mask}) << ${s}) | (${moved[(i + 3) & 3]} >> ${16 - s}))`)
}

/** Kernel source for messages of up to `maxBlocks` blocks. */
export function keccakKernelSource(maxBlocks: number): string {
  const L: string[] = []
  const names = (prefix: string, count: number): string[] => Array.from({ length: count * 4 }, (_, k) => `${prefix}${Math.floor(k / 4)}_${k % 4}`)
  for (const name of [...names('a', 25), ...names('c', 5), ...names('d', 5), ...names('b', 25)]) L.push(`let ${name} = 0;`)
  L.push('const m = this.thread.y;', 'const nb = nblocks[m];')
  L.push(`for (let blk = 0; blk < ${maxBlocks}; blk++) {`, 'if (blk < nb) {')
  for (let l = 0; l < 17; l++) for (let p = 0; p < 4; p++) L.push(`${piece(l, p)} = ${piece(l, p)} ^ msg[m][blk * ${PIECES_PER_BLOCK} + ${l * 4 + p}];`)
  L.push('for (let r = 0; r < 24; r++) {')
  // theta
  for (let x = 0; x < 5; x++) {
    for (let p = 0; p < 4; p++) L.push(`c${x}_${p} = ${[0, 5, 10, 15, 20].map((o) => piece(x + o, p)).join(' ^ ')};`)
  }
  for (let x = 0; x < 5; x++) {
    const rotated = rotate([0, 1, 2, 3].map((p) => `c${(x + 1) % 5}_${p}`), 1)
    for (let p = 0; p < 4; p++) L.push(`d${x}_${p} = c${(x + 4) % 5}_${p} ^ ${rotated[p]};`)
  }
  for (let l = 0; l < 25; l++) for (let p = 0; p < 4; p++) L.push(`${piece(l, p)} = ${piece(l, p)} ^ d${l % 5}_${p};`)
  // rho and pi
  for (let x = 0; x < 5; x++) {
    for (let y = 0; y < 5; y++) {
      const l = x + 5 * y
      const target = y + 5 * ((2 * x + 3 * y) % 5)
      const rotated = rotate([0, 1, 2, 3].map((p) => piece(l, p)), RHO[l]!)
      for (let p = 0; p < 4; p++) L.push(`b${target}_${p} = ${rotated[p]};`)
    }
  }
  // chi
  for (let x = 0; x < 5; x++) {
    for (let y = 0; y < 5; y++) {
      for (let p = 0; p < 4; p++) {
        L.push(`${piece(x + 5 * y, p)} = b${x + 5 * y}_${p} ^ ((b${((x + 1) % 5) + 5 * y}_${p} ^ 65535) & b${((x + 2) % 5) + 5 * y}_${p});`)
      }
    }
  }
  // iota
  for (let p = 0; p < 4; p++) L.push(`${piece(0, p)} = ${piece(0, p)} ^ rc[r][${p}];`)
  L.push('}', '}', '}')
  L.push('const q = this.thread.x;')
  L.push(`let o0 = ${piece(0, 0)};`, `let o1 = ${piece(0, 1)};`, `let o2 = ${piece(0, 2)};`, `let o3 = ${piece(0, 3)};`)
  for (let q = 1; q < 4; q++) L.push(`if (q === ${q}) { o0 = ${piece(q, 0)}; o1 = ${piece(q, 1)}; o2 = ${piece(q, 2)}; o3 = ${piece(q, 3)}; }`)
  L.push('return [o0, o1, o2, o3];')
  return `function keccakKernel(msg, nblocks, rc) {\n${L.join('\n')}\n}`
}

/** Pad (keccak pad10*1, domain byte 0x01) into pieces: M x maxBlocks*68 values, and block counts. */
export function padMessages(messages: readonly Uint8Array[], maxBlocks: number): { pieces: Float32Array; blocks: Float32Array } {
  const stride = maxBlocks * PIECES_PER_BLOCK
  const pieces = new Float32Array(messages.length * stride)
  const blocks = new Float32Array(messages.length)
  const buf = new Uint8Array(maxBlocks * RATE_BYTES)
  messages.forEach((m, i) => {
    const n = Math.floor(m.length / RATE_BYTES) + 1
    if (n > maxBlocks) throw new RangeError(`message of ${m.length} bytes needs ${n} blocks (kernel built for ${maxBlocks})`)
    blocks[i] = n
    buf.fill(0, 0, n * RATE_BYTES)
    buf.set(m)
    buf[m.length]! ^= 0x01
    buf[n * RATE_BYTES - 1]! ^= 0x80
    const base = i * stride
    for (let k = 0; k < n * PIECES_PER_BLOCK; k++) pieces[base + k] = buf[2 * k]! | (buf[2 * k + 1]! << 8)
  })
  return { pieces, blocks }
}

/** CPU implementation (and reference): @noble/hashes, one message at a time. */
export function keccakBatchCpu(messages: readonly Uint8Array[]): Uint8Array[] {
  return messages.map((m) => keccak256(m))
}

const EMPTY = new Uint8Array(0)
const kernels = new WeakMap<GpuBackend, Map<number, GpuKernel>>()

function kernelFor(backend: GpuBackend, maxBlocks: number, count: number): GpuKernel {
  let byBlocks = kernels.get(backend)
  if (byBlocks === undefined) {
    byBlocks = new Map()
    kernels.set(backend, byBlocks)
  }
  let kernel = byBlocks.get(maxBlocks)
  if (kernel === undefined) {
    kernel = backend.kernel(keccakKernelSource(maxBlocks), { output: [4, count], dynamicOutput: true, dynamicArguments: true })
    byBlocks.set(maxBlocks, kernel)
  }
  kernel.setOutput([4, count])
  return kernel
}

/** Hash a batch with the kernel (messages longer than MAX_KERNEL_MESSAGE go to the CPU). */
export async function keccakBatchGpu(backend: GpuBackend, messages: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = new Array(messages.length)
  const onKernel: number[] = []
  for (let i = 0; i < messages.length; i++) {
    if (messages[i]!.length > MAX_KERNEL_MESSAGE) out[i] = keccak256(messages[i]!)
    else onKernel.push(i)
  }
  for (let start = 0; start < onKernel.length; start += MAX_HASH_BATCH) {
    const chunk = onKernel.slice(start, start + MAX_HASH_BATCH)
    const batch = chunk.map((i) => messages[i]!)
    let maxBlocks = 1
    for (const m of batch) maxBlocks = Math.max(maxBlocks, Math.floor(m.length / RATE_BYTES) + 1)
    // Launch sizes in powers of two (few distinct shapes to compile); padding rows hash nothing.
    const launch = Math.max(32, 2 ** Math.ceil(Math.log2(batch.length)))
    const padded = batch.length === launch ? batch : [...batch, ...new Array<Uint8Array>(launch - batch.length).fill(EMPTY)]
    const { pieces, blocks } = padMessages(padded, maxBlocks)
    const kernel = kernelFor(backend, maxBlocks, launch)
    const raw = await kernel.run({ data: pieces, size: [maxBlocks * PIECES_PER_BLOCK, launch] }, blocks, { data: ROUND_CONSTANT_PIECES, size: [4, 24] })
    const rows = raw as ArrayLike<ArrayLike<number>>[]
    chunk.forEach((index, k) => {
      const digest = new Uint8Array(32)
      const row = rows[k]!
      for (let q = 0; q < 4; q++) {
        const lane = row[q]!
        for (let p = 0; p < 4; p++) {
          const v = lane[p]!
          digest[q * 8 + 2 * p] = v & 0xff
          digest[q * 8 + 2 * p + 1] = v >>> 8
        }
      }
      out[index] = digest
    })
  }
  return out
}
