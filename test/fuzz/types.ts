/** What every fuzz target reports. */
export interface FuzzFailure {
  target: string
  seed: number
  /** The input's index within its target (with the seed, enough to generate it again). */
  index: number
  kind: string
  /** The input, or its first 200 characters. */
  input: string
  inputLength: number
  error: string
}

export interface TargetStats {
  target: string
  inputs: number
  ms: number
  accepted: number
  rejectedByCode: Record<string, number>
  byKind: Record<string, number>
  /** Slowest single input (ms). */
  slowestMs: number
}

/** A call slower than this (each of three times) is a hang. */
export const HANG_MS = 1_000

/**
 * `firstMs` again, at most twice more, while it is over HANG_MS: the least of the times. A hang
 * is slow every time; a GC pause or a busy machine is not.
 */
export async function retimed(firstMs: number, again: () => Promise<unknown>): Promise<number> {
  let ms = firstMs
  for (let i = 0; i < 2 && ms > HANG_MS; i++) {
    const t0 = performance.now()
    await again().catch(() => {})
    ms = Math.min(ms, performance.now() - t0)
  }
  return ms
}

export function newStats(target: string): TargetStats {
  return { target, inputs: 0, ms: 0, accepted: 0, rejectedByCode: {}, byKind: {}, slowestMs: 0 }
}

export function count(map: Record<string, number>, key: string, n = 1): void {
  map[key] = (map[key] ?? 0) + n
}

export function failure(target: string, seed: number, index: number, kind: string, input: string, error: unknown): FuzzFailure {
  const details = error instanceof Error && typeof (error as { details?: unknown }).details === 'string' ? `\n${(error as unknown as { details: string }).details}` : ''
  const text = error instanceof Error ? `${error.name}: ${error.message}${details}${error.stack ? `\n${error.stack.split('\n').slice(1, 6).join('\n')}` : ''}` : String(error)
  return { target, seed, index, kind, input: input.length > 200 ? input.slice(0, 200) : input, inputLength: input.length, error: text }
}

export interface TargetRun {
  stats: TargetStats
  failures: FuzzFailure[]
}

export interface TargetOptions {
  seed: number
  count: number
  onProgress?: (done: number) => void
}
