/**
 * Intake off the sequencer's thread: a pool of intake threads (intake-thread.ts) that judge
 * batches of ingress message bodies or raw transactions (decode, recover the sender, hash, the
 * stateless checks) in parallel and hand back decoded transactions or rejections, exactly as
 * `judgeIngressBody` / `decodeRawTx` decide inline: the threads run the same code (batch.ts).
 * The sequencer only orders, predicts and partitions.
 *
 * A request is cut into chunks spread over the threads (the least busy first); answers come
 * back in input order. Inputs cross as one string per chunk, answers as transferred buffers.
 * A thread that fails (it crashed, it could not load) is dropped and its chunks are judged
 * inline, so a request always gets its answer; with no threads left the pool works inline.
 *
 * Size 0 is the inline runner (tests, the simulator): the same calls, no threads.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

import { ConfigError, ParevmError } from '../errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import { makeRequest, runIntakeJob, unpackJudgements, unpackResults, type IntakeRequest, type IntakeSpec, type PackedResults } from './batch.ts'
import { decodeRawTx, type IntakeResult } from './decode.ts'
import { judgeIngressBody, type MessageJudgement } from './ingress.ts'
import { intakeContext } from './batch.ts'

import type { TxView } from './tx-view.ts'

export type { IntakeSpec } from './batch.ts'

/** Judges intake batches; the sequencer and `runOrdered` call it instead of decoding inline. */
export interface IntakeRunner {
  /** Intake threads running (0: inline). */
  readonly threads: number
  /** Ingress message bodies: per body, its envelope's rejection or its transactions' results. */
  judgeBodies(bodies: readonly string[], spec: IntakeSpec, nowMs: number): Promise<MessageJudgement<TxView>[]>
  /** Raw transactions (`parevm run`'s lines), per input. */
  decodeInputs(inputs: readonly string[], spec: IntakeSpec, nowMs: number): Promise<IntakeResult<TxView>[]>
  /**
   * Milliseconds each intake thread has spent judging so far (empty inline: that work is the
   * caller's own). The parallel part of intake, for the critical path of a block.
   */
  busyMs(): number[]
  close(): Promise<void>
}

/** Most inputs in one chunk (one message to a thread). */
export const CHUNK_INPUTS_MAX = 256
/** Fewest inputs worth a chunk of their own when a request is spread over the threads. */
const CHUNK_INPUTS_MIN = 16
export const INTAKE_THREADS_MAX = 64

/**
 * The default pool size: PAREVM_INTAKE_THREADS if set, else the cores minus the threads that
 * are busy while intake runs (`busyThreads`: the sequencer/coordinator thread), at least 1.
 * Shard workers are not subtracted: a block's own intake runs while they wait for its plan, and
 * the next block's (prefetched) intake shares the cores with them.
 */
export function defaultIntakeThreads(busyThreads = 1, env: NodeJS.ProcessEnv = process.env): number {
  const configured = env.PAREVM_INTAKE_THREADS
  if (configured !== undefined && configured !== '') {
    const n = Number(configured)
    if (!Number.isInteger(n) || n < 0 || n > INTAKE_THREADS_MAX) throw new ConfigError(`PAREVM_INTAKE_THREADS must be an integer 0..${INTAKE_THREADS_MAX} (got ${JSON.stringify(configured)})`)
    return n
  }
  return Math.max(1, availableParallelism() - busyThreads)
}

/** The same judgements on the calling thread. */
export class InlineIntake implements IntakeRunner {
  readonly threads = 0

  async judgeBodies(bodies: readonly string[], spec: IntakeSpec, nowMs: number): Promise<MessageJudgement<TxView>[]> {
    const ctx = intakeContext(spec, () => nowMs)
    return bodies.map((body) => judgeIngressBody(body, ctx))
  }

  async decodeInputs(inputs: readonly string[], spec: IntakeSpec, nowMs: number): Promise<IntakeResult<TxView>[]> {
    const ctx = intakeContext(spec, () => nowMs)
    return inputs.map((input) => decodeRawTx(input, ctx))
  }

  busyMs(): number[] {
    return []
  }

  async close(): Promise<void> {}
}

/** The entry of an intake thread: bundled, `intake-thread.js` beside the bundle; from sources, through tsx. */
export function intakeThreadEntry(): { url: URL; data: Record<string, string> } {
  const self = import.meta.url
  if (self.endsWith('.ts')) {
    return { url: new URL('../cluster/ts-worker-bootstrap.mjs', self), data: { __entry: new URL('./intake-thread.ts', self).href } }
  }
  return { url: new URL('./intake-thread.js', self), data: {} }
}

interface Job {
  request: IntakeRequest
  resolve(packed: PackedResults): void
  reject(error: Error): void
}

interface PoolThread {
  worker: Worker
  jobs: Map<number, Job>
  failed: boolean
  busyMs: number
}

export class IntakePool implements IntakeRunner {
  private readonly pool: PoolThread[] = []
  private nextId = 1
  private closed = false

  private constructor(
    size: number,
    private readonly log: Logger,
  ) {
    for (let i = 0; i < size; i++) this.pool.push(this.spawn(i))
  }

  /** `threads` intake threads; 0 gives the inline runner. */
  static start(threads: number, log: Logger = silentLogger): IntakeRunner {
    if (!Number.isInteger(threads) || threads < 0 || threads > INTAKE_THREADS_MAX) throw new ConfigError(`intake threads must be 0..${INTAKE_THREADS_MAX} (got ${threads})`)
    return threads === 0 ? new InlineIntake() : new IntakePool(threads, log)
  }

  get threads(): number {
    return this.pool.filter((t) => !t.failed).length
  }

  private spawn(index: number): PoolThread {
    const entry = intakeThreadEntry()
    const worker = new Worker(entry.url, { workerData: entry.data })
    const thread: PoolThread = { worker, jobs: new Map(), failed: false, busyMs: 0 }
    worker.on('message', (m: { id?: number; packed?: PackedResults; error?: string; ready?: boolean; ms?: number }) => {
      if (m.id === undefined) return
      thread.busyMs += m.ms ?? 0
      const job = thread.jobs.get(m.id)
      if (job === undefined) return
      thread.jobs.delete(m.id)
      if (m.packed !== undefined) job.resolve(m.packed)
      else this.runHere(job, `intake thread ${index} failed on a batch: ${m.error}`)
    })
    const fail = (why: string): void => {
      if (thread.failed) return
      thread.failed = true
      if (!this.closed) this.log.error('intake thread failed; its batches are judged inline', { thread: index, why })
      for (const job of thread.jobs.values()) this.runHere(job, why)
      thread.jobs.clear()
    }
    worker.on('error', (error) => fail(error.message))
    worker.on('exit', (code) => fail(`exited with code ${code}`))
    return thread
  }

  /** Judge a chunk on this thread (a thread failed): the same function, the same answer. */
  private runHere(job: Job, why: string): void {
    try {
      job.resolve(runIntakeJob(job.request))
    } catch (error) {
      job.reject(new ParevmError(`intake failed (${why}): ${(error as Error).message}`))
    }
  }

  private run(request: IntakeRequest): Promise<PackedResults> {
    const live = this.pool.filter((t) => !t.failed)
    if (live.length === 0 || this.closed) return Promise.resolve(runIntakeJob(request))
    let thread = live[0]!
    for (const t of live) if (t.jobs.size < thread.jobs.size) thread = t
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      thread.jobs.set(id, { request, resolve, reject })
      thread.worker.postMessage({ id, request })
    })
  }

  /** Cut a request into chunks over the live threads; answers in input order. */
  private async chunked<T>(inputs: readonly string[], judge: (chunk: readonly string[]) => Promise<T[]>): Promise<T[]> {
    const lanes = Math.max(1, this.threads)
    const size = Math.min(CHUNK_INPUTS_MAX, Math.max(CHUNK_INPUTS_MIN, Math.ceil(inputs.length / lanes)))
    const parts: Promise<T[]>[] = []
    for (let i = 0; i < inputs.length; i += size) parts.push(judge(inputs.slice(i, i + size)))
    return (await Promise.all(parts)).flat()
  }

  judgeBodies(bodies: readonly string[], spec: IntakeSpec, nowMs: number): Promise<MessageJudgement<TxView>[]> {
    return this.chunked(bodies, async (chunk) => unpackJudgements(await this.run(makeRequest('bodies', chunk, spec, nowMs))))
  }

  decodeInputs(inputs: readonly string[], spec: IntakeSpec, nowMs: number): Promise<IntakeResult<TxView>[]> {
    return this.chunked(inputs, async (chunk) => unpackResults(await this.run(makeRequest('inputs', chunk, spec, nowMs))))
  }

  busyMs(): number[] {
    return this.pool.map((t) => t.busyMs)
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all(this.pool.map((t) => t.worker.terminate()))
  }
}
