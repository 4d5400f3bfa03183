/**
 * The stage gate decides, per stage and per call, whether the kernel or the CPU implementation
 * runs, and guards the kernel with its CPU twin:
 *
 * - `off`: always the CPU implementation.
 * - `on`: the kernel on whatever backend was chosen (cpu and webasm included), after its first
 *   call was checked against the CPU implementation.
 * - `auto` (default): the kernel only on a physical GPU and at or above the stage's minimum
 *   batch. The first CALIBRATION_RUNS eligible calls run both implementations, compare the
 *   results bit-for-bit (any difference switches the stage off for good, logged as an error)
 *   and time them; the stage stays on only if the kernel's median time beats the CPU's by
 *   AUTO_MARGIN. So the GPU path switches itself off wherever it does not pay.
 *
 * A gate belongs to one GpuContext (./context.ts): its decisions, checks and counters are that
 * context's, never the process's.
 */
import type { GpuBackend } from './backend.ts'
import type { GpuStageMode, GpuStageName } from './config.ts'

export const CALIBRATION_RUNS = 3
/** The kernel must take at most this share of the CPU time to stay on under `auto`. */
export const AUTO_MARGIN = 0.8

/** Smallest batch worth a kernel launch under `auto` (transactions, hashes, inference calls). */
export const STAGE_MIN_BATCH: Record<GpuStageName, number> = { conflict: 2048, keccak: 512, ai: 16 }

interface StageState {
  checked: boolean
  disabled: string | undefined
  gpuMs: number[]
  cpuMs: number[]
  decided: boolean | undefined
  gpuRuns: number
  cpuRuns: number
}

export interface StageRun<T> {
  /** Size of the batch (compared with the stage's minimum under auto). */
  size: number
  gpu: (backend: GpuBackend) => Promise<T>
  cpu: () => T | Promise<T>
  /** True when the kernel's result is acceptable given the CPU's (bit-identical, or a safe superset). */
  agree: (gpu: T, cpu: T) => boolean
}

export interface StageOutcome<T> {
  result: T
  /** Which implementation's result was returned. */
  ran: 'gpu' | 'cpu'
  /** Both ran (a check or calibration run). */
  compared: boolean
}

/** What a gate needs from its context: the stage modes, the backend, where decisions are shown. */
export interface StageHost {
  stageMode(stage: GpuStageName): GpuStageMode
  backend(): Promise<GpuBackend | undefined>
  recordStage(stage: GpuStageName, text: string): void
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[sorted.length >> 1] ?? 0
}

function firstLine(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error)
}

export class StageGate {
  private readonly states = new Map<GpuStageName, StageState>()

  constructor(private readonly host: StageHost) {}

  private state(stage: GpuStageName): StageState {
    let s = this.states.get(stage)
    if (s === undefined) {
      s = { checked: false, disabled: undefined, gpuMs: [], cpuMs: [], decided: undefined, gpuRuns: 0, cpuRuns: 0 }
      this.states.set(stage, s)
    }
    return s
  }

  /** Would this stage use the kernel for a batch of `size`? (No calibration side effects.) */
  async wouldUseGpu(stage: GpuStageName, size: number): Promise<boolean> {
    const mode = this.host.stageMode(stage)
    if (mode === 'off') return false
    const backend = await this.host.backend()
    if (backend === undefined || this.state(stage).disabled !== undefined) return false
    if (mode === 'on') return true
    if (!backend.isGpu) {
      this.host.recordStage(stage, `off (auto: ${backend.name} is not a GPU)`)
      return false
    }
    return size >= STAGE_MIN_BATCH[stage] && this.state(stage).decided !== false
  }

  /** Run one batch of a stage on the implementation the gate chooses. */
  async run<T>(stage: GpuStageName, job: StageRun<T>): Promise<StageOutcome<T>> {
    const s = this.state(stage)
    const host = this.host
    const mode = host.stageMode(stage)
    const cpuOnly = async (why: string): Promise<StageOutcome<T>> => {
      s.cpuRuns++
      host.recordStage(stage, why)
      return { result: await job.cpu(), ran: 'cpu', compared: false }
    }
    if (mode === 'off') return cpuOnly('off (PAREVM_GPU_STAGES)')
    const backend = await host.backend()
    if (backend === undefined) return cpuOnly('off (no GPU backend)')
    if (s.disabled !== undefined) return cpuOnly(`off (${s.disabled})`)
    if (mode === 'auto') {
      if (!backend.isGpu) return cpuOnly(`off (auto: ${backend.name} is not a GPU)`)
      if (job.size < STAGE_MIN_BATCH[stage]) {
        s.cpuRuns++
        return { result: await job.cpu(), ran: 'cpu', compared: false }
      }
      if (s.decided === false) return cpuOnly(`off (auto: measured slower than the CPU, ${describeTimes(s)})`)
      if (s.decided === true) return this.gpuOnly(stage, s, backend, job)
    } else if (s.checked) {
      return this.gpuOnly(stage, s, backend, job)
    }
    // A check (mode on, first call) or a calibration run (auto): both, compared and timed.
    const t0 = performance.now()
    let gpuResult: T
    try {
      gpuResult = await job.gpu(backend)
    } catch (error) {
      s.disabled = `kernel failed on ${backend.name}: ${firstLine(error)}`
      return cpuOnly(`off (${s.disabled})`)
    }
    const t1 = performance.now()
    const cpuResult = await job.cpu()
    const t2 = performance.now()
    if (!job.agree(gpuResult, cpuResult)) {
      s.disabled = `kernel result on ${backend.name} differs from the CPU implementation`
      host.recordStage(stage, `off (${s.disabled}: a bug, reported)`)
      return { result: cpuResult, ran: 'cpu', compared: true }
    }
    s.checked = true
    s.gpuMs.push(t1 - t0)
    s.cpuMs.push(t2 - t1)
    if (mode === 'auto' && s.gpuMs.length >= CALIBRATION_RUNS) {
      s.decided = median(s.gpuMs) <= median(s.cpuMs) * AUTO_MARGIN
      host.recordStage(stage, `${s.decided ? 'on' : 'off'} (auto: ${describeTimes(s)})`)
    } else {
      host.recordStage(stage, mode === 'on' ? `on (${backend.name}, checked against CPU)` : `calibrating on ${backend.name} (${describeTimes(s)})`)
    }
    s.gpuRuns++
    return { result: gpuResult, ran: 'gpu', compared: true }
  }

  private async gpuOnly<T>(stage: GpuStageName, s: StageState, backend: GpuBackend, job: StageRun<T>): Promise<StageOutcome<T>> {
    try {
      const result = await job.gpu(backend)
      s.gpuRuns++
      return { result, ran: 'gpu', compared: false }
    } catch (error) {
      s.disabled = `kernel failed on ${backend.name}: ${firstLine(error)}`
      this.host.recordStage(stage, `off (${s.disabled})`)
      s.cpuRuns++
      return { result: await job.cpu(), ran: 'cpu', compared: false }
    }
  }

  /** Counters per stage (summaries, tests). */
  counters(stage: GpuStageName): { gpuRuns: number; cpuRuns: number; disabled: string | undefined } {
    const s = this.state(stage)
    return { gpuRuns: s.gpuRuns, cpuRuns: s.cpuRuns, disabled: s.disabled }
  }

  /** Forget checks, calibration and counters (a benchmark that recalibrates). */
  forget(): void {
    this.states.clear()
  }
}

function describeTimes(s: StageState): string {
  if (s.gpuMs.length === 0) return 'not measured'
  return `kernel median ${median(s.gpuMs).toFixed(1)} ms vs CPU ${median(s.cpuMs).toFixed(1)} ms over ${s.gpuMs.length} run(s)`
}
