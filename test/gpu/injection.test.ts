/**
 * The GPU path has no process-wide state (issue 17): two GPU contexts in one thread keep their
 * own backend, stage decisions, checks and counters; two inference services their own caches;
 * a planner takes its settings from its options, never from `process.env`. Only the thread's
 * default instances read the environment, once (shared/gpu/defaults.ts).
 */
import { afterEach, describe, expect, it } from 'vitest'

import { InferenceService } from '../../shared/ai/inference.ts'
import { randomModel } from '../../shared/ai/model.ts'
import { createAccelerators } from '../../shared/gpu/accelerators.ts'
import { openBackend, type GpuBackend } from '../../shared/gpu/backend.ts'
import { acceleratorSettingsFromEnv, gpuConfigOf } from '../../shared/gpu/config.ts'
import { GpuContext } from '../../shared/gpu/context.ts'
import { defaultAcceleratorSettings, defaultGpuContext } from '../../shared/gpu/defaults.ts'
import { DependencyPlanner, defaultDependencyPlanner } from '../../shared/schedule/planner.ts'
import { createRng } from '../../shared/workload/generator.ts'

import type { AccessSets } from '../../shared/schedule/dependencies.ts'

const ENV_KEYS = ['PAREVM_GPU_BACKEND', 'PAREVM_GPU_STAGES', 'PAREVM_DAG_SPLIT'] as const
const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]))
afterEach(() => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k]
    else process.env[k] = saved[k]
  }
})

/** A backend that claims to be a GPU and runs kernels on gpu.js's cpu backend. */
async function fakeGpu(): Promise<GpuBackend> {
  const cpu = await openBackend('cpu', 'test')
  return { name: 'webgpu', isGpu: true, reason: 'test double', device: 'test', kernel: (s, k) => cpu.kernel(s, k) }
}

const job = (gpu: number, cpu: number) => ({ size: 10_000, gpu: async () => gpu, cpu: () => cpu, agree: (a: number, b: number) => a === b })

/** Two transfer chains (A and B) bridged by one transaction: one heavy group that splits in two. */
function bridgedBlock(k: number): (AccessSets & { gas: number })[] {
  const txs: (AccessSets & { gas: number })[] = []
  for (let i = 0; i < k; i++) {
    txs.push({ reads: [`a${i}`, 'A'], writes: [`a${i}`, 'A'], gas: 21_000 })
    txs.push({ reads: [`b${i}`, 'B'], writes: [`b${i}`, 'B'], gas: 21_000 })
  }
  txs.push({ reads: ['x', 'A', 'B'], writes: ['x', 'A', 'B'], gas: 21_000 })
  return txs
}

describe('GPU contexts share nothing', () => {
  it('two contexts with different stage settings in one thread give their own decisions', async () => {
    const on = new GpuContext({ config: gpuConfigOf({ stages: { ai: 'on' } }), backend: await fakeGpu() })
    const off = new GpuContext({ config: gpuConfigOf({ stages: { ai: 'off' } }), backend: await fakeGpu() })
    expect(await on.runStage('ai', job(5, 5))).toMatchObject({ ran: 'gpu', compared: true })
    expect(await off.runStage('ai', job(5, 5))).toMatchObject({ ran: 'cpu', compared: false })
    expect(on.stageCounters('ai')).toMatchObject({ gpuRuns: 1, cpuRuns: 0 })
    expect(off.stageCounters('ai')).toMatchObject({ gpuRuns: 0, cpuRuns: 1 })
    expect(on.status().stages.ai).toMatch(/^on/)
    expect(off.status().stages.ai).toMatch(/^off/)
  })

  it('a kernel switched off in one context stays on in another with the same settings', async () => {
    const config = gpuConfigOf({ stages: { keccak: 'on' } })
    const broken = new GpuContext({ config, backend: await fakeGpu() })
    const healthy = new GpuContext({ config, backend: await fakeGpu() })
    // The first context's kernel disagrees with the CPU: switched off for good, there.
    expect(await broken.runStage('keccak', job(1, 2))).toMatchObject({ result: 2, ran: 'cpu', compared: true })
    expect(broken.stageCounters('keccak').disabled).toMatch(/differs from the CPU/)
    expect(await broken.stageWouldUseGpu('keccak', 10_000)).toBe(false)
    // The second context never saw that: its first call is checked, then the kernel runs.
    expect(healthy.stageCounters('keccak').disabled).toBeUndefined()
    expect(await healthy.stageWouldUseGpu('keccak', 10_000)).toBe(true)
    expect(await healthy.runStage('keccak', job(3, 3))).toMatchObject({ ran: 'gpu', compared: true })
    expect(await healthy.runStage('keccak', job(4, 3))).toMatchObject({ result: 4, ran: 'gpu', compared: false })
  })

  it('two contexts choose their own backends and report their own status', async () => {
    const cpu = new GpuContext({ config: gpuConfigOf({ backend: 'cpu' }) })
    const off = new GpuContext({ config: gpuConfigOf({ backend: 'off' }) })
    expect((await cpu.backend())?.name).toBe('cpu')
    expect(await off.backend()).toBeUndefined()
    expect(cpu.status().backend).toBe('cpu')
    expect(off.status().backend).toBe('off')
    expect(new GpuContext().status().backend).toBe('not started')
  })
})

describe('inference services share nothing', () => {
  it('a result cached by one service is a miss in another', () => {
    const model = randomModel(createRng(7), [4, 3])
    const input = Int8Array.of(1, -2, 3, -4)
    const a = new InferenceService()
    const b = new InferenceService()
    const first = a.evaluate('0xmodel', model, input)
    expect(a.evaluate('0xmodel', model, input)).toEqual(first)
    expect(a.stats).toMatchObject({ calls: 2, cacheHits: 1, cpuEvaluations: 1 })
    expect(b.evaluate('0xmodel', model, input)).toEqual(first)
    expect(b.stats).toMatchObject({ calls: 1, cacheHits: 0, cpuEvaluations: 1 })
  })
})

describe('settings come from options, the environment only through the defaults', () => {
  it('a planner and fresh accelerators ignore process.env; the thread defaults read it once', async () => {
    process.env['PAREVM_DAG_SPLIT'] = 'off'
    process.env['PAREVM_GPU_BACKEND'] = 'off'
    // Options decide: split auto although the environment says off.
    const planner = new DependencyPlanner({ split: 'auto' })
    expect(planner.setting).toBe('auto')
    const options = await planner.analyse(bridgedBlock(20), 2)
    expect(options.splitGroup).toBeDefined()
    expect(planner.lastStats).toMatchObject({ groupsAnalysed: 1, groupsSplit: 1, cpuMatrices: 1 })
    const fresh = createAccelerators()
    expect(fresh.settings).toEqual({ gpu: gpuConfigOf(), split: 'auto' })
    expect(fresh.planner.setting).toBe('auto')
    // The same environment as data gives the same settings the defaults will read.
    expect(acceleratorSettingsFromEnv(process.env)).toEqual({ gpu: gpuConfigOf({ backend: 'off' }), split: 'off' })
    // The defaults read the environment at first use and keep it for the thread.
    expect(defaultAcceleratorSettings().split).toBe('off')
    expect(defaultDependencyPlanner().setting).toBe('off')
    expect(await defaultGpuContext().backend()).toBeUndefined()
    process.env['PAREVM_DAG_SPLIT'] = 'auto'
    expect(defaultDependencyPlanner().setting).toBe('off')
    expect(defaultGpuContext()).toBe(defaultGpuContext())
    expect(fresh.gpu).not.toBe(defaultGpuContext())
  })

  it('a bad value is a ConfigError that names the variable', () => {
    expect(() => acceleratorSettingsFromEnv({ PAREVM_DAG_SPLIT: 'sometimes' })).toThrow(/PAREVM_DAG_SPLIT must be auto or off/)
    expect(() => acceleratorSettingsFromEnv({ PAREVM_GPU_BACKEND: 'cuda' })).toThrow(/PAREVM_GPU_BACKEND must be one of/)
  })
})
