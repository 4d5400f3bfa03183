/**
 * The GPU backend module and the stage gate: configuration, backend choice and its reason,
 * WGSL translation of every kernel (without a device), and the gate's on/off/auto behaviour
 * with its bit-for-bit check against the CPU implementation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'

import { ConfigError } from '../../shared/errors.ts'
import { openBackend, probeWebGpu, translateToWgsl, type GpuBackend } from '../../shared/gpu/backend.ts'
import { parseGpuConfig } from '../../shared/gpu/config.ts'
import { GpuContext } from '../../shared/gpu/context.ts'
import { CALIBRATION_RUNS, STAGE_MIN_BATCH } from '../../shared/gpu/gate.ts'
import { CONFLICT_KERNEL, packedColumns, PIECES } from '../../shared/gpu/kernels/conflict.ts'
import { keccakKernelSource, MAX_BLOCKS, ROUND_CONSTANT_PIECES } from '../../shared/gpu/kernels/keccak.ts'
import { mlpLayerKernelSource } from '../../shared/gpu/kernels/mlp.ts'

afterEach(() => {
  vi.restoreAllMocks()
})

/** A context from environment variables as the default one reads them. */
const fromEnv = (env: Record<string, string>, backend?: GpuBackend): GpuContext => new GpuContext({ config: parseGpuConfig(env), ...(backend !== undefined ? { backend } : {}) })

describe('GPU configuration', () => {
  it('defaults to auto everywhere and reads backend, stages and Dawn flags', () => {
    expect(parseGpuConfig({})).toEqual({ backend: 'auto', stages: { conflict: 'auto', keccak: 'auto', ai: 'auto' }, dawnFlags: [] })
    const c = parseGpuConfig({ PAREVM_GPU_BACKEND: 'WebAsm', PAREVM_GPU_STAGES: 'all=off, ai=on', PAREVM_DAWN_FLAGS: 'backend=vulkan  x=1' })
    expect(c).toEqual({ backend: 'webasm', stages: { conflict: 'off', keccak: 'off', ai: 'on' }, dawnFlags: ['backend=vulkan', 'x=1'] })
  })

  it('rejects unknown backends, stages and modes with a ConfigError and a hint', () => {
    expect(() => parseGpuConfig({ PAREVM_GPU_BACKEND: 'cuda' })).toThrow(ConfigError)
    expect(() => parseGpuConfig({ PAREVM_GPU_STAGES: 'conflict=fast' })).toThrow(/PAREVM_GPU_STAGES: cannot read 'conflict=fast'/)
    expect(() => parseGpuConfig({ PAREVM_GPU_STAGES: 'sort=on' })).toThrow(ConfigError)
    expect(() => parseGpuConfig({ PAREVM_GPU_STAGES: 'ai' })).toThrow(ConfigError)
  })
})

describe('backend selection', () => {
  it('auto takes webgpu where an adapter answers, else webasm, and says why', async () => {
    const gpu = fromEnv({})
    const backend = await gpu.backend()
    const probe = await probeWebGpu()
    console.log(`gpu backend tests: auto chose ${backend?.name ?? 'none'}${probe.ok ? '' : `; webgpu NOT run: ${probe.reason}`}`)
    if (probe.ok) {
      expect(backend?.name).toBe('webgpu')
    } else {
      expect(backend?.name).toBe('webasm')
      expect(backend?.isGpu).toBe(false)
      expect(gpu.status().reason).toContain('webgpu unavailable')
      expect(gpu.status().reason).toContain(probe.reason)
    }
    expect(gpu.statusLine()).toContain(gpu.status().backend)
  })

  it('a forced CPU backend is used; off means no backend; a forced webgpu without an adapter is a ConfigError', async () => {
    const cpu = fromEnv({ PAREVM_GPU_BACKEND: 'cpu' })
    expect((await cpu.backend())?.name).toBe('cpu')
    expect(cpu.status().reason).toContain('forced by PAREVM_GPU_BACKEND=cpu')
    const off = fromEnv({ PAREVM_GPU_BACKEND: 'off' })
    expect(await off.backend()).toBeUndefined()
    expect(off.status().backend).toBe('off')
    if (!(await probeWebGpu()).ok) {
      await expect(fromEnv({ PAREVM_GPU_BACKEND: 'webgpu' }).backend()).rejects.toThrow(/PAREVM_GPU_BACKEND=webgpu: the webgpu backend cannot start/)
    }
  })
})

describe('the summary line', () => {
  it('says in one short line what was found and where the stages run; the details stay in the status', async () => {
    expect(fromEnv({}).summaryLine()).toBe('not started (no stage asked for it)')
    const off = fromEnv({ PAREVM_GPU_BACKEND: 'off' })
    await off.backend()
    expect(off.summaryLine()).toBe('off (PAREVM_GPU_BACKEND=off); every stage on the CPU')
    const auto = fromEnv({})
    await auto.backend()
    if (!(await probeWebGpu()).ok) {
      expect(auto.summaryLine()).toBe('none found (webgpu unavailable); every stage on the CPU')
      expect(auto.statusLine()).toContain((await probeWebGpu()).reason)
    }
    expect(auto.summaryLine().length).toBeLessThan(120)
    const forced = fromEnv({ PAREVM_GPU_BACKEND: 'cpu', PAREVM_GPU_STAGES: 'ai=on' })
    await forced.backend()
    expect(forced.summaryLine()).toBe('none used (cpu: forced by PAREVM_GPU_BACKEND=cpu); ai as cpu kernels on the CPU; conflict, keccak on the CPU')
    expect(fromEnv({}, await fakeGpu()).summaryLine()).toBe('test (webgpu); conflict, keccak, ai on the GPU where it pays (auto)')
    // Each context keeps its own status: the first ones did not change.
    expect(off.summaryLine()).toBe('off (PAREVM_GPU_BACKEND=off); every stage on the CPU')
  })
})

describe('WGSL translation (no device needed)', () => {
  it('every kernel translates to a WGSL compute shader', () => {
    const n = 20
    const conflict = translateToWgsl(CONFLICT_KERNEL, { output: [packedColumns(n), n] }, [
      { data: new Float32Array(n * PIECES), size: [PIECES, n] },
      { data: new Float32Array(n * PIECES), size: [PIECES, n] },
    ])
    expect(conflict).toContain('@compute')
    expect(conflict).toMatch(/i32\(get_user_W/)
    for (let blocks = 1; blocks <= MAX_BLOCKS; blocks++) {
      const wgsl = translateToWgsl(keccakKernelSource(blocks), { output: [4, 3] }, [
        { data: new Float32Array(3 * blocks * 68), size: [blocks * 68, 3] },
        new Float32Array(3),
        { data: ROUND_CONSTANT_PIECES, size: [4, 24] },
      ])
      expect(wgsl).toContain('@compute')
    }
    const mlp = translateToWgsl(mlpLayerKernelSource(5), { output: [4, 2] }, [
      { data: new Float32Array(10), size: [5, 2] },
      { data: new Float32Array(20), size: [5, 4] },
      new Float32Array(4),
      new Float32Array(5),
    ])
    expect(mlp).toContain('floor(')
  })
})

/** A backend that claims to be a GPU and runs kernels on the cpu backend (gate tests). */
async function fakeGpu(): Promise<GpuBackend> {
  const cpu = await openBackend('cpu', 'test')
  return { name: 'webgpu', isGpu: true, reason: 'test double', device: 'test', kernel: (s, k) => cpu.kernel(s, k) }
}

/** performance.now() advancing by scripted steps (so calibration never depends on real time). */
function scriptedClock(steps: number[]): void {
  let t = 0
  let k = 0
  vi.spyOn(performance, 'now').mockImplementation(() => (t += steps[k++ % steps.length]!))
}

describe('stage gate', () => {
  const job = (gpu: () => number, cpu: () => number, size = 10_000) => ({ size, gpu: async () => gpu(), cpu, agree: (a: number, b: number) => a === b })

  it('off never runs the kernel; on runs it after checking its first result', async () => {
    const gpu = fromEnv({ PAREVM_GPU_STAGES: 'conflict=off,ai=on' }, await fakeGpu())
    let kernelCalls = 0
    const off = await gpu.runStage('conflict', job(() => ++kernelCalls, () => 7))
    expect(off).toMatchObject({ result: 7, ran: 'cpu' })
    expect(kernelCalls).toBe(0)
    const first = await gpu.runStage('ai', job(() => 5, () => 5))
    expect(first).toMatchObject({ ran: 'gpu', compared: true })
    const second = await gpu.runStage('ai', job(() => 6, () => 5))
    expect(second).toMatchObject({ result: 6, ran: 'gpu', compared: false })
  })

  it('a kernel that disagrees with the CPU is switched off for good and its result never used', async () => {
    const gpu = fromEnv({ PAREVM_GPU_STAGES: 'keccak=on' }, await fakeGpu())
    const out = await gpu.runStage('keccak', job(() => 1, () => 2))
    expect(out).toMatchObject({ result: 2, ran: 'cpu', compared: true })
    expect(gpu.stageCounters('keccak').disabled).toMatch(/differs from the CPU/)
    expect((await gpu.runStage('keccak', job(() => 1, () => 2))).ran).toBe('cpu')
    expect(gpu.status().stages.keccak).toMatch(/^off/)
  })

  it('a kernel that cannot run (gpu.js missing, device lost) leaves the stage on the CPU, with the reason', async () => {
    const broken: GpuBackend = { name: 'webgpu', isGpu: true, reason: 'test double', device: undefined, kernel: () => { throw new Error("Cannot find module 'gpu.js'") } }
    const gpu = fromEnv({ PAREVM_GPU_STAGES: 'ai=on' }, broken)
    const out = await gpu.runStage('ai', { size: 100, gpu: async (b) => (b.kernel('x', { output: [1] }), 1), cpu: () => 2, agree: (a, b) => a === b })
    expect(out).toMatchObject({ result: 2, ran: 'cpu' })
    expect(gpu.stageCounters('ai').disabled).toMatch(/kernel failed on webgpu: Cannot find module 'gpu.js'/)
  })

  it('auto: CPU backends never run kernels; on a GPU, calibration keeps the faster implementation', async () => {
    const webasm = fromEnv({}, await openBackend('webasm', 'test'))
    expect((await webasm.runStage('ai', job(() => 1, () => 1))).ran).toBe('cpu')
    expect(webasm.status().stages.ai).toMatch(/not a GPU/)

    const fast = fromEnv({}, await fakeGpu())
    expect((await fast.runStage('conflict', job(() => 1, () => 1, STAGE_MIN_BATCH.conflict - 1))).ran).toBe('cpu')
    // Each calibration run reads the clock three times: kernel 1 unit, CPU 10 units.
    scriptedClock([0, 1, 10])
    for (let k = 0; k < CALIBRATION_RUNS; k++) expect((await fast.runStage('conflict', job(() => 1, () => 1))).compared).toBe(true)
    expect(fast.status().stages.conflict).toMatch(/^on \(auto/)
    expect(await fast.runStage('conflict', job(() => 3, () => 1))).toMatchObject({ result: 3, ran: 'gpu', compared: false })

    // The same stage measured slower than the CPU in another context: switched off there after
    // calibration, while the first context keeps its decision.
    const slow = fromEnv({}, await fakeGpu())
    scriptedClock([0, 10, 1])
    for (let k = 0; k < CALIBRATION_RUNS; k++) await slow.runStage('conflict', job(() => 1, () => 1))
    expect(slow.status().stages.conflict).toMatch(/^off \(auto: kernel median/)
    expect((await slow.runStage('conflict', job(() => 3, () => 1))).ran).toBe('cpu')
    expect(await fast.runStage('conflict', job(() => 3, () => 1))).toMatchObject({ result: 3, ran: 'gpu' })
  })
})
