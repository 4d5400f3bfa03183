/**
 * The AI precompile at AI_PRECOMPILE_ADDRESS (outside Ethereum's precompile range 0x01..0x11
 * and the 0x100 range used by RIP-7212/EIP-7951).
 *
 * Input, ABI-encoded as `abi.encode(address model, int8[] input)`:
 *   word 0: the model account's address; word 1: 0x40; word 2: n; then n words, each a
 *   sign-extended int8. Anything else (other offsets, trailing bytes, out-of-range words) fails.
 * Output, ABI-encoded as `int32[]`: 0x20, m, then m sign-extended int32 words.
 * Gas: AI_GAS_BASE + AI_GAS_PER_MODEL_WORD per 32 bytes of model code + 1 per AI_MACS_PER_GAS
 * multiply-accumulates (rounded up). A failing call (malformed input, no model at the address,
 * an input length the model does not take) consumes all gas given to it, like other precompiles.
 *
 * The model is read through the EVM's state manager (`getAccount`, `getCode`), so the engine
 * records the read like any other (a model deployed earlier in the same block is validated by
 * the coordinator), and the sequential reference reads it from its own Merkle state.
 */
import { EVMError, type ExecResult, type PrecompileInput } from '@ethereumjs/evm'
import { Address } from '@ethereumjs/util'

import { bytesEqual, fromHex, toHex } from '../hex.ts'
import { KECCAK256_NULL } from '../state/values.ts'
import { decodeModel, evaluateCpu, type Model } from './model.ts'

import type { CustomPrecompile } from '@ethereumjs/evm'

export const AI_PRECOMPILE_ADDRESS = '0x00000000000000000000000000000000000a1000'
export const AI_GAS_BASE = 2_600n
export const AI_GAS_PER_MODEL_WORD = 3n
export const AI_MACS_PER_GAS = 8

/** What the precompile needs from the engine: evaluation (maybe from a batch cache) and learning. */
export interface InferenceHooks {
  evaluate(codeHash: string, model: Model, input: Int8Array): Int32Array
  /** Called with every well-formed input (the engine learns to predict inputs from calldata). */
  observe?(input: Uint8Array): void
  /** Parsed models by code hash (default: a cache of the precompile's own). */
  models?: ModelCache
}

/** The plain CPU implementation: what the sequential reference uses. */
export const cpuInference: InferenceHooks = {
  evaluate: (_codeHash, model, input) => evaluateCpu(model, input),
}

export interface DecodedCall {
  model: string
  input: Int8Array
}

/** Strict ABI decoding of `abi.encode(address, int8[])`; undefined when malformed. */
export function decodeAiInput(data: Uint8Array): DecodedCall | undefined {
  if (data.length < 96 || (data.length - 96) % 32 !== 0) return undefined
  for (let i = 0; i < 12; i++) if (data[i] !== 0) return undefined
  if (!isSmallWord(data, 32, 0x40)) return undefined
  const n = (data.length - 96) / 32
  if (!isSmallWord(data, 64, n)) return undefined
  const input = new Int8Array(n)
  for (let k = 0; k < n; k++) {
    const at = 96 + 32 * k
    const last = data[at + 31]!
    const fill = last >= 0x80 ? 0xff : 0
    for (let i = 0; i < 31; i++) if (data[at + i] !== fill) return undefined
    input[k] = last >= 0x80 ? last - 256 : last
  }
  return { model: `0x${toHex(data.subarray(12, 32))}`, input }
}

function isSmallWord(data: Uint8Array, at: number, value: number): boolean {
  for (let i = 0; i < 28; i++) if (data[at + i] !== 0) return false
  return new DataView(data.buffer, data.byteOffset + at + 28, 4).getUint32(0) === value
}

export function encodeAiInput(model: string, input: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(96 + 32 * input.length)
  const address = fromHex(model)
  if (address.length !== 20) throw new RangeError(`model must be a 20-byte address, got ${model}`)
  out.set(address, 12)
  out[63] = 0x40
  new DataView(out.buffer).setUint32(92, input.length)
  for (let k = 0; k < input.length; k++) {
    const v = input[k]!
    if (!Number.isInteger(v) || v < -128 || v > 127) throw new RangeError(`input ${k} is not an int8: ${v}`)
    const at = 96 + 32 * k
    if (v < 0) out.fill(0xff, at, at + 31)
    out[at + 31] = v & 0xff
  }
  return out
}

export function encodeAiOutput(values: Int32Array): Uint8Array {
  const out = new Uint8Array(64 + 32 * values.length)
  out[31] = 0x20
  new DataView(out.buffer).setUint32(60, values.length)
  values.forEach((v, k) => {
    const at = 64 + 32 * k
    if (v < 0) out.fill(0xff, at, at + 28)
    new DataView(out.buffer).setInt32(at + 28, v)
  })
  return out
}

export function decodeAiOutput(data: Uint8Array): Int32Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const m = view.getUint32(60)
  const out = new Int32Array(m)
  for (let k = 0; k < m; k++) out[k] = view.getInt32(64 + 32 * k + 28)
  return out
}

export function aiGas(model: Model, codeLength: number): bigint {
  return AI_GAS_BASE + AI_GAS_PER_MODEL_WORD * BigInt(Math.ceil(codeLength / 32)) + BigInt(Math.ceil(model.macs / AI_MACS_PER_GAS))
}

const MAX_PARSED_MODELS = 64

/** Parsed model code by code hash (bounded), one per inference service or precompile instance. */
export class ModelCache {
  private readonly parsed = new Map<string, Model | null>()

  /** The model in this code; undefined when the code is not a model. */
  get(codeHash: string, code: Uint8Array): Model | undefined {
    let model = this.parsed.get(codeHash)
    if (model === undefined) {
      if (this.parsed.size >= MAX_PARSED_MODELS) this.parsed.clear()
      model = decodeModel(code) ?? null
      this.parsed.set(codeHash, model)
    }
    return model ?? undefined
  }
}

function failure(gasLimit: bigint): ExecResult {
  return {
    returnValue: new Uint8Array(0),
    executionGasUsed: gasLimit,
    exceptionError: new EVMError(EVMError.errorMessages.INVALID_INPUTS as never),
  }
}

interface StateReader {
  getAccount(address: Address): Promise<{ codeHash: Uint8Array } | undefined>
  getCode(address: Address): Promise<Uint8Array>
}

export function aiPrecompileFunction(hooks: InferenceHooks): (opts: PrecompileInput) => Promise<ExecResult> {
  const models = hooks.models ?? new ModelCache()
  return async (opts) => {
    const call = decodeAiInput(opts.data)
    if (call === undefined) return failure(opts.gasLimit)
    hooks.observe?.(opts.data)
    const sm = ((opts as PrecompileInput & { stateManager?: StateReader }).stateManager ?? (opts._EVM as unknown as { stateManager: StateReader }).stateManager) as StateReader
    const address = new Address(fromHex(call.model))
    const account = await sm.getAccount(address)
    if (account === undefined || bytesEqual(account.codeHash, KECCAK256_NULL)) return failure(opts.gasLimit)
    const code = await sm.getCode(address)
    const codeHash = toHex(account.codeHash)
    const model = models.get(codeHash, code)
    if (model === undefined || model.inputDim !== call.input.length) return failure(opts.gasLimit)
    const gas = aiGas(model, code.length)
    if (gas > opts.gasLimit) {
      return { returnValue: new Uint8Array(0), executionGasUsed: opts.gasLimit, exceptionError: new EVMError(EVMError.errorMessages.OUT_OF_GAS as never) }
    }
    const output = hooks.evaluate(codeHash, model, call.input)
    return { executionGasUsed: gas, returnValue: encodeAiOutput(output) }
  }
}

/** The `customPrecompiles` entry for createVM's evmOpts. */
export function aiCustomPrecompiles(hooks: InferenceHooks = cpuInference): CustomPrecompile[] {
  return [{ address: AI_PRECOMPILE_ADDRESS, function: aiPrecompileFunction(hooks) }]
}
