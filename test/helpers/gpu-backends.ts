/**
 * The GPU backends a test file runs on, said once in the output: which ran, and why webgpu did
 * not where no adapter answers (so a run without webgpu is visible, not silent).
 */
import { availableBackends, openBackend, probeWebGpu, type GpuBackend } from '../../shared/gpu/backend.ts'
import { defaultAcceleratorSettings } from '../../shared/gpu/defaults.ts'

/** Open every backend this machine has (cpu, webasm; webgpu where an adapter answers) and print them. */
export async function openTestBackends(label: string): Promise<GpuBackend[]> {
  const backends: GpuBackend[] = []
  for (const name of await availableBackends(defaultAcceleratorSettings().gpu.dawnFlags)) backends.push(await openBackend(name, 'test'))
  await reportBackends(label, backends.map((b) => b.name))
  return backends
}

/** One line: the backends that ran, and the webgpu probe's reason when webgpu is not among them. */
export async function reportBackends(label: string, ran: readonly string[]): Promise<void> {
  const probe = await probeWebGpu(defaultAcceleratorSettings().gpu.dawnFlags)
  const webgpu = ran.includes('webgpu') ? '' : probe.ok ? '; webgpu: adapter present, not exercised by this file' : `; webgpu NOT run: ${probe.reason}`
  console.log(`${label}: GPU backends run: ${ran.join(', ')}${webgpu}`)
}
