/**
 * Settings of the GPU path and the schedule stage, and how they read from environment
 * variables. Nothing here reads `process.env`: the default instances (./defaults.ts) read it
 * once per thread; tests, benchmarks and the simulator build their settings directly.
 *
 * - `PAREVM_GPU_BACKEND` = `auto` (default) | `off` | `webgpu` | `webasm` | `cpu`:
 *   `auto` takes `webgpu` where a WebGPU adapter answers, else `webasm`; a named backend is
 *   forced (an error if it cannot start); `off` runs every stage on its CPU implementation.
 * - `PAREVM_GPU_STAGES` = comma-separated `stage=mode` (`conflict`, `keccak`, `ai`, or `all`;
 *   mode `auto` | `on` | `off`), for example `all=off` or `conflict=on,ai=auto`. Default `auto`:
 *   a stage runs on the GPU only on a physical GPU, above its minimum batch, after its first
 *   runs were checked bit-for-bit against the CPU implementation and measured faster. `on` uses
 *   the kernel on whatever backend was chosen (tests use it to run kernels on cpu/webasm).
 * - `PAREVM_DAWN_FLAGS`: space-separated flags for Dawn (`webgpu.create`), e.g. `backend=vulkan`.
 * - `PAREVM_DAG_SPLIT` = `auto` (default: split heavy groups where the model predicts a gain,
 *   shared/schedule/planner.ts) | `off`.
 */
import { ConfigError } from '../errors.ts'

export const GPU_BACKENDS = ['webgpu', 'webasm', 'cpu'] as const
export type GpuBackendName = (typeof GPU_BACKENDS)[number]
export type GpuBackendSetting = 'auto' | 'off' | GpuBackendName

export const GPU_STAGES = ['conflict', 'keccak', 'ai'] as const
export type GpuStageName = (typeof GPU_STAGES)[number]
export type GpuStageMode = 'auto' | 'on' | 'off'

export interface GpuConfig {
  backend: GpuBackendSetting
  stages: Record<GpuStageName, GpuStageMode>
  dawnFlags: string[]
}

const STAGE_MODES: readonly GpuStageMode[] = ['auto', 'on', 'off']

/** Environment variables as the parsers read them (`process.env` or a plain record). */
export type EnvRecord = Readonly<Record<string, string | undefined>>

/** Every stage `auto`, backend `auto`: what an empty environment gives. */
export function defaultGpuConfig(): GpuConfig {
  return { backend: 'auto', stages: { conflict: 'auto', keccak: 'auto', ai: 'auto' }, dawnFlags: [] }
}

/** A configuration from a partial one (unset fields as in defaultGpuConfig()). */
export function gpuConfigOf(partial: { backend?: GpuBackendSetting; stages?: Partial<Record<GpuStageName, GpuStageMode>>; dawnFlags?: readonly string[] } = {}): GpuConfig {
  const base = defaultGpuConfig()
  return {
    backend: partial.backend ?? base.backend,
    stages: { ...base.stages, ...partial.stages },
    dawnFlags: [...(partial.dawnFlags ?? base.dawnFlags)],
  }
}

export function parseGpuConfig(env: EnvRecord): GpuConfig {
  const backendRaw = (env['PAREVM_GPU_BACKEND'] ?? 'auto').trim().toLowerCase() || 'auto'
  const backends: readonly string[] = ['auto', 'off', ...GPU_BACKENDS]
  if (!backends.includes(backendRaw)) {
    throw new ConfigError(`PAREVM_GPU_BACKEND must be one of ${backends.join(', ')} (got '${backendRaw}')`, {
      hint: 'unset it for automatic selection (webgpu where an adapter is found, else webasm)',
    })
  }
  const stages: Record<GpuStageName, GpuStageMode> = { conflict: 'auto', keccak: 'auto', ai: 'auto' }
  const stagesRaw = (env['PAREVM_GPU_STAGES'] ?? '').trim()
  if (stagesRaw !== '') {
    const entries = stagesRaw.split(',').map((s) => s.trim()).filter((s) => s !== '')
    if (entries.length > GPU_STAGES.length + 1) throw new ConfigError(`PAREVM_GPU_STAGES has too many entries (${entries.length})`)
    for (const entry of entries) {
      const [name, mode, extra] = entry.split('=').map((s) => s.trim().toLowerCase())
      const validName = name === 'all' || (GPU_STAGES as readonly string[]).includes(name ?? '')
      if (!validName || mode === undefined || extra !== undefined || !STAGE_MODES.includes(mode as GpuStageMode)) {
        throw new ConfigError(`PAREVM_GPU_STAGES: cannot read '${entry}'`, {
          hint: `use stage=mode pairs, stages ${['all', ...GPU_STAGES].join(', ')}, modes ${STAGE_MODES.join(', ')}; e.g. PAREVM_GPU_STAGES=conflict=on,ai=off`,
        })
      }
      if (name === 'all') for (const s of GPU_STAGES) stages[s] = mode as GpuStageMode
      else stages[name as GpuStageName] = mode as GpuStageMode
    }
  }
  const dawnFlags = (env['PAREVM_DAWN_FLAGS'] ?? '').split(/\s+/).filter((s) => s !== '')
  return { backend: backendRaw as GpuBackendSetting, stages, dawnFlags }
}

/** Whether the sequencer's dependency stage may split heavy groups (shared/schedule/planner.ts). */
export type SplitSetting = 'auto' | 'off'

export function parseSplitSetting(env: EnvRecord): SplitSetting {
  const raw = (env['PAREVM_DAG_SPLIT'] ?? 'auto').trim().toLowerCase() || 'auto'
  if (raw !== 'auto' && raw !== 'off') throw new ConfigError(`PAREVM_DAG_SPLIT must be auto or off (got '${raw}')`, { hint: 'unset it for auto' })
  return raw
}

/** Everything the GPU path and the schedule stage are configured by. */
export interface AcceleratorSettings {
  gpu: GpuConfig
  split: SplitSetting
}

/** The settings these environment variables give (ConfigError on a bad value). */
export function acceleratorSettingsFromEnv(env: EnvRecord): AcceleratorSettings {
  return { gpu: parseGpuConfig(env), split: parseSplitSetting(env) }
}
