/**
 * The three instances of the GPU path that the roles take, made together over one GPU context:
 * the context itself (the coordinator's `keccak` stage, through the state trie), the inference
 * service (executors: the AI precompile's cache and `ai` batches) and the dependency planner
 * (the sequencer: `conflict` stage and DAG split). A cluster, a benchmark setting or a
 * simulated run makes its own with createAccelerators; the entry points use
 * defaultAccelerators(), the thread's defaults from the environment (./defaults.ts).
 */
import { defaultInferenceService, InferenceService } from '../ai/inference.ts'
import { defaultDependencyPlanner, DependencyPlanner } from '../schedule/planner.ts'
import { gpuConfigOf, type AcceleratorSettings, type GpuConfig, type SplitSetting } from './config.ts'
import { GpuContext } from './context.ts'
import { defaultAcceleratorSettings, defaultGpuContext } from './defaults.ts'

import type { GpuBackend } from './backend.ts'
import type { Logger } from '../log.ts'

export interface Accelerators {
  /** What they were made from (worker threads make their own from these). */
  settings: AcceleratorSettings
  gpu: GpuContext
  inference: InferenceService
  planner: DependencyPlanner
}

export interface CreateAcceleratorsOptions {
  /** Backend and stage modes (default: auto everywhere). */
  gpu?: GpuConfig
  /** DAG split (default: auto). */
  split?: SplitSetting
  /** A given backend instead of choosing one (tests: a test double, a forced gpu.js backend). */
  backend?: GpuBackend
  log?: Logger
}

/** Fresh instances that share nothing with any other. */
export function createAccelerators(options: CreateAcceleratorsOptions = {}): Accelerators {
  const settings: AcceleratorSettings = { gpu: options.gpu ?? gpuConfigOf(), split: options.split ?? 'auto' }
  const gpu = new GpuContext({
    config: settings.gpu,
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
    ...(options.log !== undefined ? { log: options.log } : {}),
  })
  return { settings, gpu, inference: new InferenceService({ gpu }), planner: new DependencyPlanner({ split: settings.split, gpu }) }
}

/** The thread's defaults (built from the environment once): the entry points' instances. */
export function defaultAccelerators(): Accelerators {
  return { settings: defaultAcceleratorSettings(), gpu: defaultGpuContext(), inference: defaultInferenceService(), planner: defaultDependencyPlanner() }
}
