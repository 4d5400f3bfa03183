/**
 * The quantized model format and its integer semantics (shared/ai/model.ts), and the AI
 * precompile's ABI (shared/ai/precompile.ts).
 */
import { describe, expect, it } from 'vitest'

import {
  ACC_BOUND,
  decodeModel,
  encodeModel,
  evaluateCpu,
  MAX_MODEL_BYTES,
  ModelError,
  modelFromFile,
  modelToFile,
  randomModel,
  validateModel,
  type Layer,
} from '../../shared/ai/model.ts'
import { aiGas, decodeAiInput, decodeAiOutput, encodeAiInput, encodeAiOutput } from '../../shared/ai/precompile.ts'
import { createRng } from '../../shared/workload/generator.ts'

const SEED = Number(process.env['PAREVM_TEST_SEED'] ?? Math.floor(Math.random() * 2 ** 31))
console.log(`ai model tests: seed ${SEED}`)

function layer(inDim: number, outDim: number, weights: number[], biases: number[], shift: number, relu: boolean): Layer {
  return { inDim, outDim, shift, relu, weights: Int8Array.from(weights), biases: Int32Array.from(biases) }
}

describe('integer semantics', () => {
  it('rounds half up with an arithmetic shift, applies ReLU, clamps hidden layers to int8, not the output', () => {
    // acc = w * x + b; shift 2: (acc + 2) >> 2
    const one = validateModel({ inputDim: 1, layers: [layer(1, 4, [1, 1, 1, 1], [0, 0, 0, 0], 2, false)] })
    expect([...evaluateCpu(one, [6])]).toEqual([2, 2, 2, 2]) // 1.5 -> 2
    expect([...evaluateCpu(one, [-6])]).toEqual([-1, -1, -1, -1]) // -1.5 -> -1
    expect([...evaluateCpu(one, [-7])]).toEqual([-2, -2, -2, -2]) // -1.75 -> -2
    const relu = validateModel({ inputDim: 1, layers: [layer(1, 2, [100, -100], [0, 0], 0, true)] })
    expect([...evaluateCpu(relu, [100])]).toEqual([10_000, 0])
    const twoLayers = validateModel({
      inputDim: 1,
      layers: [layer(1, 2, [100, -100], [0, 0], 0, false), layer(2, 1, [1, 1], [1000], 0, false)],
    })
    // Hidden: 10000 -> 127, -10000 -> -128; output 127 - 128 + 1000, unclamped.
    expect([...evaluateCpu(twoLayers, [100])]).toEqual([999])
  })

  it('refuses models whose accumulator could leave the exact range, and bad shapes', () => {
    expect(() => validateModel({ inputDim: 512, layers: [layer(512, 1, new Array(512).fill(1), [1], 0, false)] })).toThrow(ModelError)
    expect(() => validateModel({ inputDim: 511, layers: [layer(511, 1, new Array(511).fill(1), [ACC_BOUND - 511 * 16384 + 1], 0, false)] })).toThrow(/exactness bound/)
    expect(() => validateModel({ inputDim: 2, layers: [layer(3, 1, [1, 1, 1], [0], 0, false)] })).toThrow(/takes 3 inputs but receives 2/)
    expect(() => validateModel({ inputDim: 1, layers: [layer(1, 1, [1], [0], 23, false)] })).toThrow(/shift/)
    expect(() => modelFromFile({ format: 'parevm-mlp-v1', input: 2, layers: [{ weights: [[1]], bias: [0], shift: 0, relu: false }] })).toThrow(/weight row 0 has 1 entries, expected 2/)
    expect(() => modelFromFile({ format: 'onnx', input: 2, layers: [] })).toThrow(/invalid model file/)
    expect(() => modelFromFile({ format: 'parevm-mlp-v1', input: 2, layers: [{ weights: [[300, 1]], bias: [0], shift: 0, relu: false }] })).toThrow(/layers.0.weights/)
  })
})

describe('encoding', () => {
  it('round-trips random models through the code encoding and the model file', () => {
    const rng = createRng(SEED)
    for (const dims of [[1, 1], [16, 32, 4], [Math.ceil(rng() * 100), Math.ceil(rng() * 50), Math.ceil(rng() * 9)]]) {
      const model = randomModel(rng, dims)
      const code = encodeModel(model)
      expect(code[0]).toBe(0xfe)
      const decoded = decodeModel(code)!
      expect(decoded).toEqual(model)
      expect(modelFromFile(JSON.parse(JSON.stringify(modelToFile(model, 'x'))))).toEqual(model)
      const x = Array.from({ length: dims[0]! }, () => Math.floor(rng() * 256) - 128)
      expect([...evaluateCpu(decoded, x)]).toEqual([...evaluateCpu(model, x)])
    }
  })

  it('code that is not exactly a valid model decodes to nothing', () => {
    const code = encodeModel(randomModel(createRng(SEED + 1), [4, 3, 2]))
    expect(decodeModel(code.slice(0, -1))).toBeUndefined()
    expect(decodeModel(Uint8Array.of(...code, 0))).toBeUndefined()
    const badMagic = code.slice()
    badMagic[1] = 0
    expect(decodeModel(badMagic)).toBeUndefined()
    const badFlags = code.slice()
    badFlags[8 + 3] = 2
    expect(decodeModel(badFlags)).toBeUndefined()
    const hugeBias = code.slice()
    new DataView(hugeBias.buffer).setInt32(hugeBias.length - 4, ACC_BOUND)
    expect(decodeModel(hugeBias)).toBeUndefined()
    expect(decodeModel(new Uint8Array(0))).toBeUndefined()
  })

  it('refuses models above the EIP-170 code size', () => {
    const model = randomModel(createRng(SEED + 2), [200, 130])
    expect(() => encodeModel(model)).toThrow(new RegExp(`above the ${MAX_MODEL_BYTES}-byte`))
  })
})

describe('precompile ABI', () => {
  const model = '0x' + 'ab'.repeat(20)
  it('encodes and strictly decodes abi.encode(address, int8[])', () => {
    const input = Int8Array.of(-128, -1, 0, 1, 127)
    const data = encodeAiInput(model, input)
    expect(data.length).toBe(96 + 5 * 32)
    expect(decodeAiInput(data)).toEqual({ model, input })
    const badOffset = data.slice()
    badOffset[63] = 0x20
    expect(decodeAiInput(badOffset)).toBeUndefined()
    const badSign = data.slice()
    badSign[96 + 32 * 4] = 0xff // 127 with a negative fill
    expect(decodeAiInput(badSign)).toBeUndefined()
    const highAddress = data.slice()
    highAddress[0] = 1
    expect(decodeAiInput(highAddress)).toBeUndefined()
    expect(decodeAiInput(Uint8Array.of(...data, 0))).toBeUndefined()
    expect(decodeAiInput(data.subarray(0, 64))).toBeUndefined()
    const wrongLength = data.slice()
    wrongLength[95] = 6
    expect(decodeAiInput(wrongLength)).toBeUndefined()
    expect(() => encodeAiInput(model, [128])).toThrow(RangeError)
  })

  it('encodes int32[] outputs sign-extended, and prices calls by multiply-accumulates', () => {
    const out = Int32Array.of(-(2 ** 24), -1, 0, 2 ** 24)
    const data = encodeAiOutput(out)
    expect(data.length).toBe(64 + 4 * 32)
    expect([...decodeAiOutput(data)]).toEqual([...out])
    expect(data.subarray(64, 64 + 28).every((b) => b === 0xff)).toBe(true)
    const m = randomModel(createRng(SEED + 3), [16, 32, 4])
    expect(m.macs).toBe(16 * 32 + 32 * 4)
    expect(aiGas(m, 800)).toBe(2600n + 3n * 25n + BigInt(Math.ceil(640 / 8)))
  })
})
