/**
 * The one owner of gpu.js: picks a backend, applies the set-up WebGPU needs in Node, compiles
 * kernels behind a small interface, and reports what it chose and why. Nothing else in the
 * code base imports gpu.js or webgpu.
 *
 * Selection (GpuContext in context.ts, from a GpuConfig, see config.ts): `auto` tries `webgpu`
 * (the `webgpu` package's Dawn build must load, and an adapter must answer within
 * ADAPTER_TIMEOUT_MS), else `webasm` (WebAssembly, always present in Node), else `cpu`. Two set-up steps make gpu.js's webgpu
 * backend work in Node 20 (docs/gpu-and-ai.md): a `navigator.gpu` global from `webgpu`'s
 * `create()`, and an accessor on `GPUDevice.prototype.onuncapturederror`, because gpu.js assigns
 * that handler and webgpu@0.2.9 rejects the assignment.
 *
 * Kernel inputs are float32: callers pass 16-bit pieces or integers below 2^24 only.
 */
import { createRequire } from 'node:module'

import { ParevmError } from '../errors.ts'

import type { GpuBackendName } from './config.ts'

const ADAPTER_TIMEOUT_MS = 10_000
/** Compiled shapes kept per kernel on the cpu backend (bounded cache). */
const MAX_SHAPES_PER_KERNEL = 16

export interface KernelSettings {
  output: number[]
  constants?: Record<string, number>
  /** The output size may change between runs (setOutput). */
  dynamicOutput?: boolean
  /** Argument sizes may change between runs. */
  dynamicArguments?: boolean
}

/** A typed array with its logical dimensions, innermost first ([x] or [x, y]). */
export interface KernelInput {
  data: Float32Array
  size: number[]
}

export type KernelArg = number | Float32Array | KernelInput

export interface GpuKernel {
  /** Run; the result's shape follows gpu.js (Float32Array for 1-D, rows for 2-D). */
  run(...args: KernelArg[]): Promise<unknown>
  setOutput(output: number[]): void
  destroy(): void
}

export interface GpuBackend {
  readonly name: GpuBackendName
  /** A physical GPU answered (not Dawn's software fallback adapter, not a CPU backend). */
  readonly isGpu: boolean
  /** Why this backend, in words. */
  readonly reason: string
  /** The adapter, where webgpu runs. */
  readonly device: string | undefined
  kernel(source: string, settings: KernelSettings): GpuKernel
}

interface GpuJsModule {
  GPU: new (settings: { mode: string }) => { createKernel(source: string, settings: Record<string, unknown>): GpuJsKernel; destroy?(): unknown }
  input(value: Float32Array, size: number[]): unknown
}
interface GpuJsKernel {
  (...args: unknown[]): unknown
  setOutput(output: number[]): void
  destroy?(removeCanvasReferences?: boolean): void
}

/** The gpu.js module, loaded at the first kernel (a module cache, like `require`'s own). */
let gpuJs: GpuJsModule | undefined
function loadGpuJs(): GpuJsModule {
  if (gpuJs === undefined) {
    const require = createRequire(import.meta.url)
    gpuJs = require('gpu.js') as GpuJsModule
  }
  return gpuJs
}

class GpuJsBackend implements GpuBackend {
  private gpuInstance: InstanceType<GpuJsModule['GPU']> | undefined

  constructor(
    readonly name: GpuBackendName,
    readonly isGpu: boolean,
    readonly reason: string,
    readonly device: string | undefined,
  ) {}

  /** gpu.js is loaded at the first kernel: processes whose stages all stay on the CPU (a Lambda
   * function, every CPU machine under auto) never load it, and need not ship it. */
  private get gpu(): InstanceType<GpuJsModule['GPU']> {
    this.gpuInstance ??= new (loadGpuJs().GPU)({ mode: this.name })
    return this.gpuInstance
  }

  kernel(source: string, settings: KernelSettings): GpuKernel {
    // gpu.js's cpu backend computes wrong results (NaN) when argument sizes change under
    // dynamicArguments (seen with 2.24.1): there, compile one kernel per shape instead.
    if (this.name === 'cpu' && (settings.dynamicArguments === true || settings.dynamicOutput === true)) return this.perShapeKernel(source, settings)
    return this.compile(source, settings)
  }

  private compile(source: string, settings: KernelSettings): GpuKernel {
    const lib = loadGpuJs()
    const k = this.gpu.createKernel(source, {
      output: settings.output,
      ...(settings.constants !== undefined ? { constants: settings.constants } : {}),
      ...(settings.dynamicOutput === true ? { dynamicOutput: true } : {}),
      ...(settings.dynamicArguments === true ? { dynamicArguments: true } : {}),
      tactic: 'precision',
    })
    const convert = (a: KernelArg): unknown => (typeof a === 'number' || a instanceof Float32Array ? a : lib.input(a.data, a.size))
    return {
      run: async (...args: KernelArg[]) => await k(...args.map(convert)),
      setOutput: (output) => k.setOutput(output),
      destroy: () => k.destroy?.(),
    }
  }

  private perShapeKernel(source: string, settings: KernelSettings): GpuKernel {
    const compiled = new Map<string, GpuKernel>()
    let output = settings.output
    const fixed: KernelSettings = { output }
    if (settings.constants !== undefined) fixed.constants = settings.constants
    return {
      run: async (...args: KernelArg[]) => {
        const key = JSON.stringify([output, args.map((a) => (typeof a === 'number' ? 'n' : a instanceof Float32Array ? a.length : a.size))])
        let k = compiled.get(key)
        if (k === undefined) {
          if (compiled.size >= MAX_SHAPES_PER_KERNEL) {
            for (const old of compiled.values()) old.destroy()
            compiled.clear()
          }
          k = this.compile(source, { ...fixed, output })
          compiled.set(key, k)
        }
        return k.run(...args)
      },
      setOutput: (next) => {
        output = next
      },
      destroy: () => {
        for (const k of compiled.values()) k.destroy()
        compiled.clear()
      },
    }
  }
}

interface WebGpuProbe {
  ok: boolean
  reason: string
  device?: string
  fallback?: boolean
}

/**
 * Dawn is process-wide by nature: the probe installs `navigator.gpu` and an accessor on
 * `GPUDevice.prototype` in this thread's globals, which gpu.js then uses. So it runs once per
 * thread, and the first caller's Dawn flags hold for the thread (every GpuContext shares the
 * machine's answer; what each context chose and decided stays its own).
 */
let webGpuProbe: Promise<WebGpuProbe> | undefined

/** Load Dawn, install the two set-up steps, ask for an adapter. Never throws. */
export function probeWebGpu(flags: readonly string[] = []): Promise<WebGpuProbe> {
  webGpuProbe ??= (async (): Promise<WebGpuProbe> => {
    let mod: { create(flags: string[]): unknown; globals: Record<string, unknown> }
    try {
      const specifier = 'webgpu'
      mod = (await import(specifier)) as typeof mod
    } catch (error) {
      return { ok: false, reason: `the webgpu package (Dawn) did not load: ${firstLine(error)}` }
    }
    try {
      const g = globalThis as Record<string, unknown>
      for (const [name, value] of Object.entries(mod.globals)) if (g[name] === undefined) g[name] = value
      const proto = (g['GPUDevice'] as { prototype?: object } | undefined)?.prototype
      if (proto !== undefined && Object.getOwnPropertyDescriptor(proto, 'onuncapturederror')?.get?.name !== 'parevmOnUncapturedError') {
        const handlers = new WeakMap<object, unknown>()
        Object.defineProperty(proto, 'onuncapturederror', {
          configurable: true,
          get: function parevmOnUncapturedError(this: object) {
            return handlers.get(this) ?? null
          },
          set(this: object, fn: unknown) {
            handlers.set(this, fn)
          },
        })
      }
      const gpu = mod.create([...flags]) as { requestAdapter(o?: unknown): Promise<unknown> }
      const adapter = (await withTimeout(gpu.requestAdapter({ powerPreference: 'high-performance' }), ADAPTER_TIMEOUT_MS, 'requestAdapter')) as {
        info?: { vendor?: string; device?: string; description?: string; architecture?: string }
        isFallbackAdapter?: boolean
      } | null
      if (adapter === null || adapter === undefined) {
        return { ok: false, reason: 'Dawn loaded but found no WebGPU adapter (no Vulkan driver/ICD visible; see docs/gpu-and-ai.md)' }
      }
      const nav = g['navigator'] as Record<string, unknown> | undefined
      if (nav === undefined) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true })
      else if (nav['gpu'] === undefined) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true })
      const info = adapter.info ?? {}
      const device = [info.vendor, info.device || info.description || info.architecture].filter((s) => s !== undefined && s !== '').join(' ')
      const fallback = adapter.isFallbackAdapter === true
      return { ok: true, reason: fallback ? 'WebGPU adapter is a software fallback' : 'WebGPU adapter found', device, fallback }
    } catch (error) {
      return { ok: false, reason: `WebGPU set-up failed: ${firstLine(error)}` }
    }
  })()
  return webGpuProbe
}

export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n')[0]!.slice(0, 200)
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Open a named backend (tests and benchmarks use this to run kernels on each backend). */
export async function openBackend(name: GpuBackendName, why = 'requested', dawnFlags: readonly string[] = []): Promise<GpuBackend> {
  if (name === 'webgpu') {
    const probe = await probeWebGpu(dawnFlags)
    if (!probe.ok) throw new ParevmError(`the webgpu backend cannot start: ${probe.reason}`, { hint: 'set PAREVM_GPU_BACKEND=auto to fall back to webasm, or see docs/gpu-and-ai.md' })
    return new GpuJsBackend('webgpu', probe.fallback !== true, `${why}; ${probe.reason}`, probe.device)
  }
  if (name === 'webasm' && typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== 'object') throw new ParevmError('the webasm backend needs WebAssembly, which this runtime lacks')
  return new GpuJsBackend(name, false, why, undefined)
}

/** The CPU-side backends available on this machine, and webgpu where it starts (tests, bench). */
export async function availableBackends(dawnFlags: readonly string[] = []): Promise<GpuBackendName[]> {
  const names: GpuBackendName[] = ['cpu', 'webasm']
  if ((await probeWebGpu(dawnFlags)).ok) names.push('webgpu')
  return names
}

/**
 * The WGSL gpu.js generates for a kernel, without a device (the translation is pure JS). Tests
 * use it to prove every kernel translates for webgpu on machines that have no adapter.
 */
export function translateToWgsl(source: string, settings: KernelSettings, args: KernelArg[]): string {
  const require = createRequire(import.meta.url)
  const { WebGPUKernel } = require('gpu.js/src/backend/web-gpu/kernel') as {
    WebGPUKernel: new (source: string, settings: Record<string, unknown>) => { build(...args: unknown[]): Promise<unknown>; compiledSource: string }
  }
  const lib = loadGpuJs()
  const kernel = new WebGPUKernel(source, { output: settings.output, ...(settings.constants !== undefined ? { constants: settings.constants } : {}) })
  const converted = args.map((a) => (typeof a === 'number' || a instanceof Float32Array ? a : lib.input(a.data, a.size)))
  // build() translates synchronously, then asks for a device; without one that part rejects.
  kernel.build(...converted).catch(() => {})
  if (typeof kernel.compiledSource !== 'string' || kernel.compiledSource === '') throw new ParevmError('gpu.js produced no WGSL for the kernel')
  return kernel.compiledSource
}
