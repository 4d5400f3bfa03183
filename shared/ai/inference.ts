/**
 * The engine's side of the AI precompile: a cache of results by (model code hash, input), a
 * predictor of precompile inputs from transaction calldata, and `prepare`, which evaluates all
 * predicted calls of a shard for each model in one batch before the shard executes (on the GPU
 * where the `ai` stage gate allows it). The precompile then answers from the cache, or computes
 * on the CPU on a miss. Results are pure functions of (model bits, input) and the kernel's bits
 * equal the CPU reference's, so a cached, batched, mispredicted or missed input never changes
 * what a transaction sees: only where the arithmetic ran.
 *
 * Predicting inputs: a direct call to the precompile carries its input as calldata. A contract
 * call is predicted from a template learned when the precompile ran inside a transaction to
 * (contract, selector): the precompile input's longest common suffix with the calldata (the
 * ABI-encoded array, copied through) plus the constant prefix before it (the model address and
 * the offset). A wrong prediction only wastes one evaluation.
 *
 * A service holds its own cache, templates and parsed models, and batches through the GPU
 * context it was given (none: every call computes on demand on the CPU). The executors of one
 * worker share one service; the entry points use the thread's default (defaultInferenceService).
 */
import { decodeAccount, KECCAK256_NULL } from '../state/values.ts'
import { bytesEqual, toHex } from '../hex.ts'
import { defaultGpuContext } from '../gpu/defaults.ts'
import { mlpBatchGpu } from '../gpu/kernels/mlp.ts'
import { evaluateCpu, type Model } from './model.ts'
import { AI_PRECOMPILE_ADDRESS, decodeAiInput, ModelCache, type InferenceHooks } from './precompile.ts'

import type { GpuContext } from '../gpu/context.ts'
import type { BlockView } from '../state/view.ts'

export const MAX_CACHE_ENTRIES = 65_536
export const MAX_CALL_TEMPLATES = 4_096
/** Distinct inputs pre-evaluated per shard (bound). */
export const MAX_PREPARED_INPUTS = 65_536

export interface InferenceStats {
  /** Precompile evaluations asked for. */
  calls: number
  /** Answered from the batch cache. */
  cacheHits: number
  /** Computed on the CPU on demand. */
  cpuEvaluations: number
  /** Inputs predicted from calldata by prepare(). */
  predicted: number
  /** Batches evaluated by prepare() (one per model per shard), and the inputs in them. */
  batches: number
  batchedInputs: number
  /** Batches that ran on the kernel. */
  kernelBatches: number
}

interface CallTemplate {
  prefix: Uint8Array
  dataStart: number
}

/** A transaction as the predictor sees it. */
export interface CallTx {
  to?: { bytes: Uint8Array } | undefined
  data: Uint8Array
}

/** How prepare() reads a model account: its code hash and code, or undefined. */
export type ModelLoader = (address: string) => Promise<{ codeHash: string; code: Uint8Array } | undefined>

const AI_ADDRESS_HEX = AI_PRECOMPILE_ADDRESS.slice(2)

export interface InferenceServiceOptions {
  /** The GPU context whose `ai` stage batches evaluate on (default: none, no batching). */
  gpu?: GpuContext
}

export class InferenceService {
  readonly stats: InferenceStats = { calls: 0, cacheHits: 0, cpuEvaluations: 0, predicted: 0, batches: 0, batchedInputs: 0, kernelBatches: 0 }
  private readonly cache = new Map<string, Int32Array>()
  private readonly templates = new Map<string, CallTemplate>()
  private readonly models = new ModelCache()
  private readonly gpu: GpuContext | undefined

  constructor(options: InferenceServiceOptions = {}) {
    this.gpu = options.gpu
  }

  evaluate(codeHash: string, model: Model, input: Int8Array): Int32Array {
    this.stats.calls++
    const key = cacheKey(codeHash, input)
    const hit = this.cache.get(key)
    if (hit !== undefined) {
      this.stats.cacheHits++
      return hit
    }
    this.stats.cpuEvaluations++
    const result = evaluateCpu(model, input)
    this.remember(key, result)
    return result
  }

  /** Learn how `tx`'s calldata predicts the precompile input it passed. */
  learn(tx: CallTx, input: Uint8Array): void {
    if (tx.to === undefined || tx.data.length < 4) return
    const to = toHex(tx.to.bytes)
    if (to === AI_ADDRESS_HEX) return
    let common = 0
    const max = Math.min(input.length, tx.data.length - 4)
    while (common < max && input[input.length - 1 - common] === tx.data[tx.data.length - 1 - common]) common++
    // The copied part starts on an ABI word boundary of the input.
    common -= (input.length - common) % 32 === 0 ? 0 : 32 - ((input.length - common) % 32)
    if (common < 64) return
    if (this.templates.size >= MAX_CALL_TEMPLATES) this.templates.clear()
    this.templates.set(`${to}:${toHex(tx.data.subarray(0, 4))}`, { prefix: input.slice(0, input.length - common), dataStart: tx.data.length - common })
  }

  /** The precompile input this transaction is expected to pass, if it can be predicted. */
  predictInput(tx: CallTx): Uint8Array | undefined {
    if (tx.to === undefined) return undefined
    const to = toHex(tx.to.bytes)
    if (to === AI_ADDRESS_HEX) return tx.data
    if (tx.data.length < 4) return undefined
    const template = this.templates.get(`${to}:${toHex(tx.data.subarray(0, 4))}`)
    if (template === undefined || tx.data.length < template.dataStart) return undefined
    const tail = tx.data.subarray(template.dataStart)
    const out = new Uint8Array(template.prefix.length + tail.length)
    out.set(template.prefix, 0)
    out.set(tail, template.prefix.length)
    return out
  }

  /**
   * Evaluate the predicted calls of these transactions, one batch per model, where the `ai`
   * stage runs on the GPU; otherwise nothing happens here and calls compute on demand.
   */
  async prepare(txs: readonly CallTx[], loadModel: ModelLoader): Promise<void> {
    const gpu = this.gpu
    if (gpu === undefined || !(await gpu.stageWouldUseGpu('ai', Number.MAX_SAFE_INTEGER))) return
    const byModel = new Map<string, Map<string, Int8Array>>()
    let count = 0
    for (const tx of txs) {
      const predicted = this.predictInput(tx)
      const call = predicted === undefined ? undefined : decodeAiInput(predicted)
      if (call === undefined) continue
      let inputs = byModel.get(call.model)
      if (inputs === undefined) {
        inputs = new Map()
        byModel.set(call.model, inputs)
      }
      inputs.set(toHex(new Uint8Array(call.input.buffer, call.input.byteOffset, call.input.length)), call.input)
      this.stats.predicted++
      if (++count >= MAX_PREPARED_INPUTS) break
    }
    for (const [address, inputs] of byModel) {
      const loaded = await loadModel(address)
      if (loaded === undefined) continue
      const model = this.models.get(loaded.codeHash, loaded.code)
      if (model === undefined) continue
      const batch = [...inputs.values()].filter((x) => x.length === model.inputDim && !this.cache.has(cacheKey(loaded.codeHash, x)))
      if (batch.length === 0 || !(await gpu.stageWouldUseGpu('ai', batch.length))) continue
      const outcome = await gpu.runStage('ai', {
        size: batch.length,
        gpu: (backend) => mlpBatchGpu(backend, model, batch),
        cpu: () => batch.map((x) => evaluateCpu(model, x)),
        agree: (a, b) => a.length === b.length && a.every((v, i) => bytesEqual(new Uint8Array(v.buffer), new Uint8Array(b[i]!.buffer))),
      })
      this.stats.batches++
      this.stats.batchedInputs += batch.length
      if (outcome.ran === 'gpu') this.stats.kernelBatches++
      batch.forEach((x, i) => this.remember(cacheKey(loaded.codeHash, x), outcome.result[i]!))
    }
  }

  /** The precompile's hooks for an executor: `currentTx` names the transaction running. */
  hooks(currentTx: () => CallTx | undefined): InferenceHooks {
    return {
      models: this.models,
      evaluate: (codeHash, model, input) => this.evaluate(codeHash, model, input),
      observe: (input) => {
        const tx = currentTx()
        if (tx !== undefined) this.learn(tx, input)
      },
    }
  }

  private remember(key: string, result: Int32Array): void {
    if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear()
    this.cache.set(key, result)
  }
}

function cacheKey(codeHash: string, input: Int8Array): string {
  return `${codeHash}:${toHex(new Uint8Array(input.buffer, input.byteOffset, input.length))}`
}

/** prepare()'s model loader over a block view (block-start state plus the shard's writes). */
export function viewModelLoader(view: BlockView): ModelLoader {
  return async (address) => {
    const entry = await view.get(address.replace(/^0x/, '').toLowerCase())
    const account = decodeAccount(entry.value)
    if (account === undefined || bytesEqual(account.codeHash, KECCAK256_NULL)) return undefined
    const codeHash = toHex(account.codeHash)
    return { codeHash, code: await view.getCode(codeHash) }
  }
}

let defaultService: InferenceService | undefined
/**
 * The thread's default service, on the thread's default GPU context (shared/gpu/defaults.ts):
 * what an Executor uses when it is given none.
 */
export function defaultInferenceService(): InferenceService {
  defaultService ??= new InferenceService({ gpu: defaultGpuContext() })
  return defaultService
}
