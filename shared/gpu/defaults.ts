/**
 * The thread's default instances of the GPU path, for the entry points (the `parevm` CLI, the
 * Lambda functions, the ECS worker, embedded worker threads): built from the environment here,
 * the one place in shared/gpu, shared/ai and shared/schedule that reads `process.env`
 * (PAREVM_GPU_BACKEND, PAREVM_GPU_STAGES, PAREVM_DAWN_FLAGS, PAREVM_DAG_SPLIT; see config.ts).
 * The environment is read at first use and kept for the thread (worker threads have their own
 * copy of it and their own defaults).
 *
 * The engine's roles take their context, inference service and planner through their options
 * and fall back to these; tests, benchmarks and the simulator pass fresh ones
 * (createAccelerators in ./accelerators.ts) instead.
 */
import { acceleratorSettingsFromEnv, type AcceleratorSettings } from './config.ts'
import { GpuContext } from './context.ts'

let settings: AcceleratorSettings | undefined
let context: GpuContext | undefined

/** The settings the environment gives this thread (read once; a bad value is a ConfigError). */
export function defaultAcceleratorSettings(): AcceleratorSettings {
  settings ??= acceleratorSettingsFromEnv(process.env)
  return settings
}

/** The thread's default GPU context, from defaultAcceleratorSettings(). */
export function defaultGpuContext(): GpuContext {
  context ??= new GpuContext({ config: defaultAcceleratorSettings().gpu })
  return context
}
