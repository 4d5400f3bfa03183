/**
 * A GPU context: one configuration, the backend chosen from it (once, at the first stage that
 * asks), what was chosen and why, and the stage gate with its checks and calibration. Every
 * user of the GPU path takes a context through its options: the sequencer's planner
 * (`conflict`), the coordinator's state root (`keccak`), the executors' inference service
 * (`ai`). Two contexts in one thread share nothing but the machine (gpu.js and Dawn, which are
 * loaded once per thread, see backend.ts), so a test, a benchmark setting or a simulated run
 * gets its own decisions.
 *
 * The entry points use the thread's default context, built from the environment once
 * (defaultGpuContext in ./defaults.ts).
 */
import { ConfigError } from '../errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import { firstLine, openBackend, probeWebGpu, type GpuBackend } from './backend.ts'
import { GPU_STAGES, gpuConfigOf, type GpuBackendName, type GpuBackendSetting, type GpuConfig, type GpuStageMode, type GpuStageName } from './config.ts'
import { StageGate, type StageOutcome, type StageRun } from './gate.ts'

export interface GpuStatus {
  setting: GpuBackendSetting
  backend: GpuBackendName | 'off' | 'not started'
  isGpu: boolean
  reason: string
  device?: string
  /** Per stage: what the gate decided so far, in words. */
  stages: Record<GpuStageName, string>
}

export interface GpuContextOptions {
  /** Backend and stage modes (default: auto everywhere, as an empty environment gives). */
  config?: GpuConfig
  /**
   * Use this backend instead of choosing one from `config.backend` (tests and benchmarks run a
   * stage on a given backend, or on a test double).
   */
  backend?: GpuBackend
  /** Where backend and gate decisions are logged (default: nowhere). */
  log?: Logger
}

export class GpuContext {
  readonly config: GpuConfig
  private readonly log: Logger
  private readonly gate: StageGate
  private selected: Promise<GpuBackend | undefined> | undefined
  private readonly current: GpuStatus

  constructor(options: GpuContextOptions = {}) {
    this.config = options.config ?? gpuConfigOf()
    this.log = options.log ?? silentLogger
    this.current = {
      setting: this.config.backend,
      backend: 'not started',
      isGpu: false,
      reason: 'no stage has asked for the GPU yet',
      stages: { conflict: 'auto', keccak: 'auto', ai: 'auto' },
    }
    this.gate = new StageGate({
      stageMode: (stage) => this.stageMode(stage),
      backend: () => this.backend(),
      recordStage: (stage, text) => this.recordStage(stage, text),
    })
    const given = options.backend
    if (given !== undefined) {
      this.selected = Promise.resolve(given)
      this.showStageModes()
      this.current.backend = given.name
      this.current.isGpu = given.isGpu
      this.current.reason = `${given.reason} (set by the caller)`
      if (given.device !== undefined) this.current.device = given.device
    }
  }

  /** Once a backend is chosen, the status shows each stage's configured mode until the gate decides. */
  private showStageModes(): void {
    for (const stage of GPU_STAGES) this.current.stages[stage] = this.config.stages[stage]
  }

  stageMode(stage: GpuStageName): GpuStageMode {
    return this.config.stages[stage]
  }

  /**
   * The backend of this context, chosen once from its configuration; undefined when the GPU
   * path is off. A forced backend that cannot start is a ConfigError.
   */
  backend(): Promise<GpuBackend | undefined> {
    this.selected ??= this.select()
    return this.selected
  }

  private async select(): Promise<GpuBackend | undefined> {
    const c = this.config
    const status = this.current
    this.showStageModes()
    let backend: GpuBackend | undefined
    if (c.backend === 'off') {
      status.backend = 'off'
      status.reason = 'PAREVM_GPU_BACKEND=off: every stage runs its CPU implementation'
    } else if (c.backend !== 'auto') {
      try {
        backend = await openBackend(c.backend, `forced by PAREVM_GPU_BACKEND=${c.backend}`, c.dawnFlags)
      } catch (error) {
        throw new ConfigError(`PAREVM_GPU_BACKEND=${c.backend}: ${firstLine(error)}`, { hint: 'use auto to fall back automatically' })
      }
    } else {
      const probe = await probeWebGpu(c.dawnFlags)
      if (probe.ok) backend = await openBackend('webgpu', 'auto', c.dawnFlags)
      else backend = await openBackend(typeof (globalThis as { WebAssembly?: unknown }).WebAssembly === 'object' ? 'webasm' : 'cpu', `auto: webgpu unavailable (${probe.reason})`)
    }
    if (backend !== undefined) {
      status.backend = backend.name
      status.isGpu = backend.isGpu
      status.reason = backend.reason
      if (backend.device !== undefined) status.device = backend.device
    }
    this.log.info('gpu backend chosen', { backend: status.backend, isGpu: status.isGpu, reason: status.reason, device: status.device })
    return backend
  }

  /** Record a stage's current decision (the gate calls this). */
  recordStage(stage: GpuStageName, text: string): void {
    if (this.current.stages[stage] !== text) {
      this.current.stages[stage] = text
      this.log.info('gpu stage', { stage, decision: text })
    }
  }

  /** Run one batch of a stage on the implementation this context's gate chooses. */
  runStage<T>(stage: GpuStageName, job: StageRun<T>): Promise<StageOutcome<T>> {
    return this.gate.run(stage, job)
  }

  /** Would this stage use the kernel for a batch of `size`? (No calibration side effects.) */
  stageWouldUseGpu(stage: GpuStageName, size: number): Promise<boolean> {
    return this.gate.wouldUseGpu(stage, size)
  }

  /** Counters per stage (summaries, tests). */
  stageCounters(stage: GpuStageName): { gpuRuns: number; cpuRuns: number; disabled: string | undefined } {
    return this.gate.counters(stage)
  }

  status(): GpuStatus {
    return { ...this.current, stages: { ...this.current.stages } }
  }

  /**
   * A short line for run summaries: what was found and where the stages run, e.g.
   * `none found (webgpu unavailable); every stage on the CPU`. The loader's details are in
   * statusLine() and status().reason.
   */
  summaryLine(): string {
    const s = this.status()
    if (s.backend === 'not started') return 'not started (no stage asked for it)'
    let found: string
    if (s.backend === 'off') found = 'off (PAREVM_GPU_BACKEND=off)'
    else if (s.isGpu) found = `${s.device !== undefined && s.device !== '' ? s.device : 'WebGPU adapter'} (${s.backend})`
    else if (s.backend === 'webgpu') found = 'none found (a software WebGPU adapter only)'
    else if (s.reason.startsWith('auto: webgpu unavailable')) found = 'none found (webgpu unavailable)'
    else found = `none used (${s.backend}: ${s.reason})`
    const kernels: GpuStageName[] = []
    const auto: GpuStageName[] = []
    const cpu: GpuStageName[] = []
    for (const g of GPU_STAGES) {
      const text = s.stages[g]
      if (s.backend === 'off' || text.startsWith('off')) cpu.push(g)
      else if (text.startsWith('on') || text.startsWith('calibrating')) kernels.push(g)
      else if (text === 'auto' && !s.isGpu) cpu.push(g)
      else auto.push(g)
    }
    const where = s.isGpu ? 'on the GPU' : `as ${s.backend} kernels on the CPU`
    const parts: string[] = []
    if (kernels.length > 0) parts.push(`${kernels.join(', ')} ${where}`)
    if (auto.length > 0) parts.push(`${auto.join(', ')} on the GPU where it pays (auto)`)
    if (cpu.length > 0) parts.push(kernels.length + auto.length === 0 ? 'every stage on the CPU' : `${cpu.join(', ')} on the CPU`)
    return `${found}; ${parts.join('; ')}`
  }

  /** One line with every detail: the backend, the loader's reason, each stage's decision. */
  statusLine(): string {
    const s = this.status()
    const head = s.backend === 'not started' ? 'not started (no stage asked for it)' : `${s.backend}${s.device !== undefined ? ` (${s.device})` : ''}: ${s.reason}`
    const stage = (g: GpuStageName): string => {
      const text = s.stages[g]
      if (text !== 'auto') return text
      if (s.backend === 'off') return 'off'
      if (s.backend !== 'not started' && !s.isGpu) return `off (auto: ${s.backend} is not a GPU)`
      return 'auto (not used yet)'
    }
    return `${head}; stages: ${GPU_STAGES.map((g) => `${g} ${stage(g)}`).join(', ')}`
  }
}
