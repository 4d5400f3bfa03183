/**
 * The critical path of a block: the part of its wall time that no added worker can shorten.
 * The parallel part is what the workers do (reading the plan, prefetch, execution and staging
 * of their shards, added up per worker) and what the intake threads do while the sequencer
 * waits for them (decoding, sender recovery, hashing, the stateless checks: more threads, or
 * more ingress functions on AWS, shorten it); the rest (the sequencer's own part of intake,
 * prediction, partition, validation, re-execution, state root, apply, seal, waiting) is serial.
 * Amdahl's law then bounds the speedup any number of workers can give.
 */
export interface CriticalPath {
  /** Plan to seal. */
  wallMs: number
  /** The slowest worker's shard handling (plan, prefetch, execution, staging), plus the busiest intake thread's work (the parallel part as it ran). */
  slowestWorkerMs: number
  /** Every worker's shard handling and every intake thread's work added up (the parallel part on one worker). */
  workerMsSum: number
  /** Wall time minus the parallel part as it ran. */
  serialMs: number
  /** The serial share of the block on one worker: serial / (serial + all workers' work). */
  serialFraction: number
  /** Amdahl's bound on the speedup over one worker with 16 and 64 workers. */
  amdahl16: number
  amdahl64: number
}

export function amdahlBound(serialFraction: number, workers: number): number {
  return 1 / (serialFraction + (1 - serialFraction) / workers)
}

/** From a block report's timings (the coordinator's `workerPrefetchMs*`, `workerExecuteMs*`, the plan's `intakeThreadMs*`). */
export function criticalPath(timings: Record<string, number>, wallMs: number): CriticalPath {
  const slowestWorkerMs = Math.min(wallMs, (timings.workerPrefetchMsMax ?? 0) + (timings.workerExecuteMsMax ?? 0) + (timings.workerOtherMsMax ?? 0) + (timings.intakeThreadMsMax ?? 0))
  const workerMsSum = (timings.workerPrefetchMsSum ?? 0) + (timings.workerExecuteMsSum ?? 0) + (timings.workerOtherMsSum ?? 0) + (timings.intakeThreadMsSum ?? 0)
  return fromParts(wallMs, slowestWorkerMs, workerMsSum)
}

/** Several blocks together (a run's total). */
export function sumCriticalPaths(paths: readonly CriticalPath[]): CriticalPath {
  const add = (f: (p: CriticalPath) => number): number => paths.reduce((s, p) => s + f(p), 0)
  return fromParts(add((p) => p.wallMs), add((p) => p.slowestWorkerMs), add((p) => p.workerMsSum))
}

function fromParts(wallMs: number, slowestWorkerMs: number, workerMsSum: number): CriticalPath {
  const serialMs = Math.max(0, wallMs - slowestWorkerMs)
  const oneWorkerMs = serialMs + workerMsSum
  const serialFraction = oneWorkerMs === 0 ? 1 : serialMs / oneWorkerMs
  return { wallMs, slowestWorkerMs, workerMsSum, serialMs, serialFraction, amdahl16: amdahlBound(serialFraction, 16), amdahl64: amdahlBound(serialFraction, 64) }
}
