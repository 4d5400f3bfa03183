/**
 * Quantized models that contracts can run through the AI precompile: multilayer perceptrons
 * with int8 weights, int32 biases, exact integer accumulation and integer requantization.
 *
 * Semantics (the CPU reference, `evaluateCpu`), for each layer with `shift` s:
 *   acc[o] = bias[o] + sum_i W[o][i] * x[i]                      (exact integers)
 *   y[o]   = s > 0 ? (acc[o] + 2^(s-1)) >> s : acc[o]             (round half up; >> is floor)
 *   y[o]   = relu ? max(y[o], 0) : y[o]
 *   hidden layers: y[o] = clamp(y[o], -128, 127) (int8 activations); the last layer's outputs
 *   are the model's int32 output.
 * Inputs are int8. Every model is validated so that |acc| + 2^(s-1) < 2^24 for any input
 * (in * 128 * 128 + max|bias| <= ACC_BOUND = 2^23, s <= 22): every intermediate is then an
 * integer that float32 holds exactly, whatever the summation order, so a GPU kernel in float32
 * gives the same bits as this int32 reference.
 *
 * Models live on chain as the code of a "model account" (see docs/gpu-and-ai.md, "AI from contracts"):
 *   0xFE 'A' 'I' 'M' 0x01 | u8 layers | u16 input | per layer: u16 out, u8 shift, u8 flags(bit0 relu)
 *   | per layer: int8 weights [out][in] row-major, int32 big-endian biases [out]
 * The leading 0xFE (INVALID) makes a model account fail if called as a contract; code is
 * immutable, so an address names the same bits forever (its code hash is the content address).
 */
import { z } from 'zod'

import { keccak256 } from '../crypto/keccak.ts'
import { ParevmError } from '../errors.ts'
import { toHex } from '../hex.ts'

export const MODEL_MAGIC = Uint8Array.of(0xfe, 0x41, 0x49, 0x4d, 0x01)
export const MAX_LAYERS = 8
export const MAX_DIM = 1024
/** Largest |accumulator| any input may produce (keeps float32 exact with the rounding term). */
export const ACC_BOUND = 2 ** 23
export const MAX_SHIFT = 22
/** EIP-170: a model must be deployable as contract code. */
export const MAX_MODEL_BYTES = 24_576

export interface Layer {
  inDim: number
  outDim: number
  shift: number
  relu: boolean
  /** int8, row-major [out][in]. */
  weights: Int8Array
  biases: Int32Array
}

export interface Model {
  inputDim: number
  layers: Layer[]
  /** Multiply-accumulates per evaluation (gas is priced by it). */
  macs: number
  outputDim: number
}

export class ModelError extends ParevmError {
  constructor(message: string, hint?: string) {
    super(message, hint === undefined ? {} : { hint })
    this.name = 'ModelError'
  }
}

const int = z.number().int()
/** The model file `parevm models register` reads. */
export const modelFileSchema = z.object({
  format: z.literal('parevm-mlp-v1'),
  name: z.string().max(200).optional(),
  input: int.min(1).max(MAX_DIM),
  layers: z
    .array(
      z.object({
        weights: z.array(z.array(int.min(-128).max(127)).min(1).max(MAX_DIM)).min(1).max(MAX_DIM),
        bias: z.array(int.min(-ACC_BOUND).max(ACC_BOUND)),
        shift: int.min(0).max(MAX_SHIFT),
        relu: z.boolean(),
      }),
    )
    .min(1)
    .max(MAX_LAYERS),
})
export type ModelFile = z.infer<typeof modelFileSchema>

/** Validate bounds and shapes; throws ModelError naming the first problem. */
export function validateModel(model: Omit<Model, 'macs' | 'outputDim'>): Model {
  if (model.layers.length < 1 || model.layers.length > MAX_LAYERS) throw new ModelError(`a model has 1..${MAX_LAYERS} layers (got ${model.layers.length})`)
  if (!(model.inputDim >= 1 && model.inputDim <= MAX_DIM)) throw new ModelError(`input dimension must be 1..${MAX_DIM} (got ${model.inputDim})`)
  let inDim = model.inputDim
  let macs = 0
  model.layers.forEach((layer, l) => {
    const where = `layer ${l}`
    if (layer.inDim !== inDim) throw new ModelError(`${where}: takes ${layer.inDim} inputs but receives ${inDim}`)
    if (!(layer.outDim >= 1 && layer.outDim <= MAX_DIM)) throw new ModelError(`${where}: output dimension must be 1..${MAX_DIM} (got ${layer.outDim})`)
    if (!(Number.isInteger(layer.shift) && layer.shift >= 0 && layer.shift <= MAX_SHIFT)) throw new ModelError(`${where}: shift must be 0..${MAX_SHIFT} (got ${layer.shift})`)
    if (layer.weights.length !== layer.inDim * layer.outDim) throw new ModelError(`${where}: expected ${layer.inDim * layer.outDim} weights, got ${layer.weights.length}`)
    if (layer.biases.length !== layer.outDim) throw new ModelError(`${where}: expected ${layer.outDim} biases, got ${layer.biases.length}`)
    let maxBias = 0
    for (const b of layer.biases) maxBias = Math.max(maxBias, Math.abs(b))
    const worst = layer.inDim * 128 * 128 + maxBias
    if (worst > ACC_BOUND) {
      throw new ModelError(`${where}: the accumulator can reach ${worst}, above the exactness bound ${ACC_BOUND}`, 'use fewer inputs per layer (at most 511 with zero biases) or smaller biases')
    }
    macs += layer.inDim * layer.outDim
    inDim = layer.outDim
  })
  return { inputDim: model.inputDim, layers: model.layers, macs, outputDim: inDim }
}

export function modelFromFile(input: unknown): Model {
  const parsed = modelFileSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new ModelError(`invalid model file at ${issue.path.join('.') || '(root)'}: ${issue.message}`, 'see docs/gpu-and-ai.md, "AI from contracts", for the format')
  }
  const f = parsed.data
  let inDim = f.input
  const layers: Layer[] = f.layers.map((layer, l) => {
    const outDim = layer.weights.length
    const weights = new Int8Array(outDim * inDim)
    layer.weights.forEach((row, o) => {
      if (row.length !== inDim) throw new ModelError(`layer ${l}: weight row ${o} has ${row.length} entries, expected ${inDim}`)
      weights.set(row, o * inDim)
    })
    const result: Layer = { inDim, outDim, shift: layer.shift, relu: layer.relu, weights, biases: Int32Array.from(layer.bias) }
    inDim = outDim
    return result
  })
  return validateModel({ inputDim: f.input, layers })
}

export function modelToFile(model: Model, name?: string): ModelFile {
  return {
    format: 'parevm-mlp-v1',
    ...(name !== undefined ? { name } : {}),
    input: model.inputDim,
    layers: model.layers.map((l) => ({
      weights: Array.from({ length: l.outDim }, (_, o) => Array.from(l.weights.subarray(o * l.inDim, (o + 1) * l.inDim))),
      bias: Array.from(l.biases),
      shift: l.shift,
      relu: l.relu,
    })),
  }
}

/** The on-chain encoding (the model account's code). */
export function encodeModel(model: Model): Uint8Array {
  const header = MODEL_MAGIC.length + 3 + model.layers.length * 4
  let size = header
  for (const l of model.layers) size += l.weights.length + l.biases.length * 4
  if (size > MAX_MODEL_BYTES) throw new ModelError(`the encoded model is ${size} bytes, above the ${MAX_MODEL_BYTES}-byte code size limit (EIP-170)`, 'use fewer or smaller layers')
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out.set(MODEL_MAGIC, 0)
  let at = MODEL_MAGIC.length
  out[at++] = model.layers.length
  view.setUint16(at, model.inputDim)
  at += 2
  for (const l of model.layers) {
    view.setUint16(at, l.outDim)
    out[at + 2] = l.shift
    out[at + 3] = l.relu ? 1 : 0
    at += 4
  }
  for (const l of model.layers) {
    out.set(new Uint8Array(l.weights.buffer, l.weights.byteOffset, l.weights.length), at)
    at += l.weights.length
    for (const b of l.biases) {
      view.setInt32(at, b)
      at += 4
    }
  }
  return out
}

/** Parse model code; undefined when the code is not a valid model (the precompile then fails). */
export function decodeModel(code: Uint8Array): Model | undefined {
  try {
    if (code.length < MODEL_MAGIC.length + 3 || code.length > MAX_MODEL_BYTES) return undefined
    for (let i = 0; i < MODEL_MAGIC.length; i++) if (code[i] !== MODEL_MAGIC[i]) return undefined
    const view = new DataView(code.buffer, code.byteOffset, code.byteLength)
    let at = MODEL_MAGIC.length
    const count = code[at++]!
    const inputDim = view.getUint16(at)
    at += 2
    if (count < 1 || count > MAX_LAYERS || code.length < at + count * 4) return undefined
    const shapes: { outDim: number; shift: number; relu: boolean }[] = []
    for (let l = 0; l < count; l++) {
      const flags = code[at + 3]!
      if (flags > 1) return undefined
      shapes.push({ outDim: view.getUint16(at), shift: code[at + 2]!, relu: flags === 1 })
      at += 4
    }
    let inDim = inputDim
    const layers: Layer[] = []
    for (const s of shapes) {
      const n = inDim * s.outDim
      if (code.length < at + n + s.outDim * 4) return undefined
      const weights = new Int8Array(code.slice(at, at + n).buffer)
      at += n
      const biases = new Int32Array(s.outDim)
      for (let o = 0; o < s.outDim; o++, at += 4) biases[o] = view.getInt32(at)
      layers.push({ inDim, outDim: s.outDim, shift: s.shift, relu: s.relu, weights, biases })
      inDim = s.outDim
    }
    if (at !== code.length) return undefined
    return validateModel({ inputDim, layers })
  } catch (error) {
    if (error instanceof ModelError) return undefined
    throw error
  }
}

/** The exact integer reference. Inputs must be int8 values. */
export function evaluateCpu(model: Model, input: ArrayLike<number>): Int32Array {
  if (input.length !== model.inputDim) throw new ModelError(`the model takes ${model.inputDim} inputs, got ${input.length}`)
  let x = Int32Array.from(input)
  model.layers.forEach((layer, l) => {
    const last = l === model.layers.length - 1
    const y = new Int32Array(layer.outDim)
    const half = layer.shift > 0 ? 1 << (layer.shift - 1) : 0
    for (let o = 0; o < layer.outDim; o++) {
      let acc = layer.biases[o]!
      const row = o * layer.inDim
      for (let i = 0; i < layer.inDim; i++) acc = (acc + Math.imul(layer.weights[row + i]!, x[i]!)) | 0
      let v = layer.shift > 0 ? (acc + half) >> layer.shift : acc
      if (layer.relu && v < 0) v = 0
      if (!last) v = v < -128 ? -128 : v > 127 ? 127 : v
      y[o] = v
    }
    x = y
  })
  return x
}

/** The content address of a model's code, hex without 0x (the code hash of its account). */
export function modelCodeHash(code: Uint8Array): string {
  return toHex(keccak256(code))
}

/** The address `parevm models register` gives a model in a genesis: derived from its content. */
export function modelAddress(code: Uint8Array): string {
  const tag = new TextEncoder().encode('parevm-model:')
  const buf = new Uint8Array(tag.length + code.length)
  buf.set(tag, 0)
  buf.set(code, tag.length)
  return `0x${toHex(keccak256(buf).subarray(12))}`
}

/** A random valid model (tests, the workload): weights span the full int8 range. */
export function randomModel(rng: () => number, dims: readonly number[], options: { shift?: number; relu?: boolean } = {}): Model {
  const layers: Layer[] = []
  for (let l = 0; l + 1 < dims.length; l++) {
    const inDim = dims[l]!
    const outDim = dims[l + 1]!
    const weights = new Int8Array(inDim * outDim)
    for (let k = 0; k < weights.length; k++) weights[k] = Math.floor(rng() * 256) - 128
    const room = ACC_BOUND - inDim * 128 * 128
    const biases = new Int32Array(outDim)
    for (let o = 0; o < outDim; o++) biases[o] = Math.floor((rng() * 2 - 1) * Math.min(room, 2 ** 20))
    const shift = options.shift ?? Math.min(MAX_SHIFT, Math.max(0, Math.ceil(Math.log2(inDim * 128)) - 1))
    layers.push({ inDim, outDim, shift, relu: options.relu ?? l + 2 < dims.length, weights, biases })
  }
  return validateModel({ inputDim: dims[0]!, layers })
}
