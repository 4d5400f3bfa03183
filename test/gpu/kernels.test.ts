/**
 * Every GPU kernel against its plain TypeScript reference, bit for bit, on every backend this
 * machine has (cpu and webasm everywhere; webgpu where an adapter answers, e.g. on the GPU
 * machine: `npx vitest run test/gpu`). Inputs are fresh random values each run (the seed is
 * printed; PAREVM_TEST_SEED repeats a run), including 32-bit words above 2^24 and 2^31 and
 * models at the accumulator bound.
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { beforeAll, describe, expect, it } from 'vitest'

import { ACC_BOUND, evaluateCpu, randomModel, validateModel, type Model } from '../../shared/ai/model.ts'
import type { GpuBackend } from '../../shared/gpu/backend.ts'
import { conflictRowsCpu, conflictRowsCpuWords, conflictRowsGpu, packedColumns, piecesToWords, PIECES, wordsToPieces } from '../../shared/gpu/kernels/conflict.ts'
import { keccakBatchGpu, MAX_KERNEL_MESSAGE } from '../../shared/gpu/kernels/keccak.ts'
import { mlpBatchGpu } from '../../shared/gpu/kernels/mlp.ts'
import { createRng } from '../../shared/workload/generator.ts'
import { openTestBackends } from '../helpers/gpu-backends.ts'

const SEED = Number(process.env['PAREVM_TEST_SEED'] ?? Math.floor(Math.random() * 2 ** 31))
console.log(`gpu kernel tests: seed ${SEED} (PAREVM_TEST_SEED=${SEED} repeats this run)`)

const backends: GpuBackend[] = []
beforeAll(async () => {
  backends.push(...(await openTestBackends('gpu kernel tests')))
})

/** 32-bit words, mostly zero, with bits 24..31 set often (values >= 2^24 and >= 2^31). */
function randomWords(rng: () => number, count: number, density: number): Uint32Array {
  const out = new Uint32Array(count)
  for (let i = 0; i < count; i++) {
    if (rng() >= density) continue
    out[i] = rng() < 0.5 ? (Math.floor(rng() * 2 ** 32) | 0x80000000) >>> 0 : 1 << Math.floor(rng() * 32)
  }
  return out
}

/** Independent reference on whole 32-bit words: cell (i, j), j < i, when W_j & R_i != 0. */
function conflictFromWords(W: Uint32Array, R: Uint32Array, n: number): Uint16Array {
  const words = PIECES / 2
  const cols = packedColumns(n)
  const out = new Uint16Array(n * cols)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      let hit = false
      for (let k = 0; k < words && !hit; k++) hit = (W[j * words + k]! & R[i * words + k]!) !== 0
      if (hit) out[i * cols + (j >> 4)]! |= 1 << (j & 15)
    }
  }
  return out
}

describe('conflict matrix kernel', () => {
  it('matches the reference bit for bit on random bitmaps with words above 2^24 and 2^31', async () => {
    const rng = createRng(SEED)
    for (const n of [1, 2, 16, 17, 45, 100]) {
      const W = randomWords(rng, n * (PIECES / 2), 0.03)
      const R = randomWords(rng, n * (PIECES / 2), 0.06)
      expect([...W].some((w) => w >= 2 ** 31) || n < 16, 'words >= 2^31 present').toBe(true)
      const Wp = wordsToPieces(W)
      const Rp = wordsToPieces(R)
      const reference = conflictRowsCpu(Wp, Rp, n)
      expect(reference, `pieces reference = word reference (n=${n})`).toEqual(conflictFromWords(W, R, n))
      expect(conflictRowsCpuWords(piecesToWords(Wp), piecesToWords(Rp), n), 'CPU word implementation').toEqual(reference)
      if (n >= 45) expect(reference.some((v) => v !== 0) && reference.some((v, k) => v === 0 && Math.floor(k / packedColumns(n)) > 16)).toBe(true)
      for (const backend of backends) {
        const got = await conflictRowsGpu(backend, Wp, Rp, n)
        expect(got, `${backend.name}, n=${n}`).toEqual(reference)
      }
    }
  })
})

describe('keccak kernel', () => {
  it('hashes random messages of 0..544 bytes exactly as @noble/hashes does', async () => {
    const rng = createRng(SEED + 1)
    const lengths = [0, 1, 31, 32, 55, 64, 135, 136, 137, 271, 272, 407, 408, 532, MAX_KERNEL_MESSAGE, MAX_KERNEL_MESSAGE + 1, 600]
    for (let k = 0; k < 20; k++) lengths.push(Math.floor(rng() * 545))
    const messages = lengths.map((len) => Uint8Array.from({ length: len }, () => Math.floor(rng() * 256)))
    const expected = messages.map((m) => keccak_256(m))
    for (const backend of backends) {
      const got = await keccakBatchGpu(backend, messages)
      got.forEach((digest, i) => expect(Buffer.from(digest).toString('hex'), `${backend.name}: ${lengths[i]} bytes`).toBe(Buffer.from(expected[i]!).toString('hex')))
      // A batch of one, and one message per length class, exercise the shape edge cases.
      expect(Buffer.from((await keccakBatchGpu(backend, [messages[2]!]))[0]!)).toEqual(Buffer.from(expected[2]!))
    }
  })
})

function randomInputs(rng: () => number, count: number, dim: number): Int8Array[] {
  return Array.from({ length: count }, () => Int8Array.from({ length: dim }, () => Math.floor(rng() * 256) - 128))
}

describe('quantized MLP kernel', () => {
  it('gives the CPU reference bits on random models and inputs', async () => {
    const rng = createRng(SEED + 2)
    const shapes = [[1, 1], [4, 3], [16, 32, 4], [40, 7, 9, 2], [Math.ceil(rng() * 120), Math.ceil(rng() * 60), Math.ceil(rng() * 10)]]
    for (const dims of shapes) {
      const model = randomModel(rng, dims)
      const inputs = randomInputs(rng, 1 + Math.floor(rng() * 12), dims[0]!)
      const expected = inputs.map((x) => evaluateCpu(model, x))
      for (const backend of backends) {
        const got = await mlpBatchGpu(backend, model, inputs)
        expect(got.map((v) => [...v]), `${backend.name} ${dims.join('-')}`).toEqual(expected.map((v) => [...v]))
      }
    }
  })

  it('stays exact at the accumulator bound (511 inputs of -128 times weights of -128, extreme biases)', async () => {
    const inDim = 511
    const rng = createRng(SEED + 3)
    const room = ACC_BOUND - inDim * 128 * 128
    const layers = [
      { inDim, outDim: 3, shift: 0, relu: false, weights: new Int8Array(inDim * 3).fill(-128), biases: Int32Array.of(room, -room, 0) },
      { inDim: 3, outDim: 2, shift: 22, relu: false, weights: Int8Array.of(127, -128, 1, -1, 5, 127), biases: Int32Array.of(-7, 3) },
    ]
    // The first layer's raw accumulator reaches the bound; as a hidden layer it is clamped to int8.
    const model: Model = validateModel({ inputDim: inDim, layers })
    const wide = validateModel({ inputDim: inDim, layers: [layers[0]!] })
    const inputs = [new Int8Array(inDim).fill(-128), new Int8Array(inDim).fill(127), ...randomInputs(rng, 3, inDim)]
    expect(evaluateCpu(wide, inputs[0]!)[0]).toBe(ACC_BOUND)
    expect(evaluateCpu(wide, inputs[0]!)[0]).toBeGreaterThan(2 ** 23 - 1)
    for (const m of [model, wide]) {
      const expected = inputs.map((x) => [...evaluateCpu(m, x)])
      for (const backend of backends) expect((await mlpBatchGpu(backend, m, inputs)).map((v) => [...v]), backend.name).toEqual(expected)
    }
  })
})
