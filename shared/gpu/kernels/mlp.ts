/**
 * Batched exact inference of a quantized MLP (shared/ai/model.ts): one launch per layer for the
 * whole batch, thread (o, b) computing output o of batch element b. Every value is an integer
 * below 2^24 in magnitude (the model validator guarantees it), so float32 arithmetic is exact
 * in any order, and `floor((acc + 2^(s-1)) * 2^-s)` equals the reference's `(acc + 2^(s-1)) >> s`
 * (multiplying by a power of two is exact; WGSL division is not required to be).
 *
 * The reference is `evaluateCpu` in shared/ai/model.ts.
 */
import type { Model } from '../../ai/model.ts'
import type { GpuBackend, GpuKernel } from '../backend.ts'

/** Batch elements per launch (bounded; larger batches are split). */
export const MAX_INFERENCE_BATCH = 4096

/** `p` = [2^(s-1) or 0, 2^-s, relu (0/1), low clamp, high clamp] (an array: stable argument types). */
const LAYER_KERNEL = (inDim: number): string => `function mlpLayer(x, W, bias, p) {
  const o = this.thread.x;
  const b = this.thread.y;
  let acc = bias[o];
  for (let i = 0; i < ${inDim}; i++) {
    acc = acc + W[o][i] * x[b][i];
  }
  let y = Math.floor((acc + p[0]) * p[1]);
  if (p[2] > 0 && y < 0) {
    y = 0;
  }
  if (y < p[3]) {
    y = p[3];
  }
  if (y > p[4]) {
    y = p[4];
  }
  return y;
}`

export function mlpLayerKernelSource(inDim: number): string {
  return LAYER_KERNEL(inDim)
}

const kernels = new WeakMap<GpuBackend, Map<number, GpuKernel>>()
const MAX_KERNELS_PER_BACKEND = 32

function kernelFor(backend: GpuBackend, inDim: number, outDim: number, batch: number): GpuKernel {
  let byDim = kernels.get(backend)
  if (byDim === undefined) {
    byDim = new Map()
    kernels.set(backend, byDim)
  }
  let kernel = byDim.get(inDim)
  if (kernel === undefined) {
    if (byDim.size >= MAX_KERNELS_PER_BACKEND) {
      for (const k of byDim.values()) k.destroy()
      byDim.clear()
    }
    kernel = backend.kernel(LAYER_KERNEL(inDim), { output: [outDim, batch], dynamicOutput: true, dynamicArguments: true })
    byDim.set(inDim, kernel)
  }
  kernel.setOutput([outDim, batch])
  return kernel
}

/** Evaluate `inputs` (each model.inputDim int8 values) with the kernel; same bits as evaluateCpu. */
export async function mlpBatchGpu(backend: GpuBackend, model: Model, inputs: readonly ArrayLike<number>[]): Promise<Int32Array[]> {
  const results: Int32Array[] = []
  for (let start = 0; start < inputs.length; start += MAX_INFERENCE_BATCH) {
    const chunk = inputs.slice(start, start + MAX_INFERENCE_BATCH)
    // Launch sizes in powers of two (few distinct shapes to compile); padding rows are zeros.
    const batch = Math.max(8, 2 ** Math.ceil(Math.log2(chunk.length)))
    let x: Float32Array = new Float32Array(batch * model.inputDim)
    chunk.forEach((v, b) => {
      if (v.length !== model.inputDim) throw new RangeError(`input ${start + b} has ${v.length} values, the model takes ${model.inputDim}`)
      for (let i = 0; i < v.length; i++) x[b * model.inputDim + i] = v[i]!
    })
    for (let l = 0; l < model.layers.length; l++) {
      const layer = model.layers[l]!
      const last = l === model.layers.length - 1
      const kernel = kernelFor(backend, layer.inDim, layer.outDim, batch)
      const raw = await kernel.run(
        { data: x, size: [layer.inDim, batch] },
        { data: Float32Array.from(layer.weights), size: [layer.inDim, layer.outDim] },
        Float32Array.from(layer.biases),
        Float32Array.of(layer.shift > 0 ? 2 ** (layer.shift - 1) : 0, 2 ** -layer.shift, layer.relu ? 1 : 0, last ? -(2 ** 24) : -128, last ? 2 ** 24 : 127),
      )
      x = flatten(raw, batch, layer.outDim)
    }
    for (let b = 0; b < chunk.length; b++) results.push(Int32Array.from(x.subarray(b * model.outputDim, (b + 1) * model.outputDim)))
  }
  return results
}

/** gpu.js 2-D output (rows), or 1-D when one dimension is 1: into one Float32Array. */
function flatten(raw: unknown, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols)
  if (raw instanceof Float32Array) {
    out.set(raw.subarray(0, rows * cols))
    return out
  }
  const list = raw as ArrayLike<number>[]
  for (let r = 0; r < rows; r++) {
    const row = list[r]!
    for (let c = 0; c < cols; c++) out[r * cols + c] = row[c]!
  }
  return out
}
