/**
 * Threads of the in-process pipelines, started and stopped in one place: the entry of a thread
 * (bundled or from sources), and the pool of shard workers that the embedded cluster and replay
 * run (worker_threads reaching the store and queues over RPC, or async loops in this thread).
 */
import { Worker, type MessagePort } from 'node:worker_threads'

import { ParevmError } from '../errors.ts'
import { silentLogger, type Logger } from '../log.ts'
import { ShardWorker } from '../worker/shard-worker.ts'
import { withinClock } from './driver.ts'
import { serveRpc } from './rpc.ts'
import { runWorkerLoop, type StopSignal } from './worker-loop.ts'

import type { Accelerators } from '../gpu/accelerators.ts'
import type { Clock } from '../ports/clock.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import type { Queue } from '../ports/queue.ts'

export interface ThreadEntry {
  url: URL
  data: Record<string, string>
}

/**
 * A thread's entry: bundled (dist/), `<bundledName>.js` beside the bundle; from sources, a
 * bootstrap that registers tsx and loads `<dir><name>.ts` (`dir` relative to this folder).
 */
export function threadEntry(name: string, dir = './', bundledName = name): ThreadEntry {
  const self = import.meta.url
  if (self.endsWith('.ts')) {
    return { url: new URL('./ts-worker-bootstrap.mjs', self), data: { __entry: new URL(`${dir}${name}.ts`, self).href } }
  }
  return { url: new URL(`./${bundledName}.js`, self), data: {} }
}

/** Start a thread at `entry` with `workerData`. */
export function startThread(entry: ThreadEntry, workerData: Record<string, unknown>, transferList: ArrayBuffer[] = []): Worker {
  return new Worker(entry.url, { workerData: { ...workerData, ...entry.data }, transferList })
}

/** The shard worker thread's entry (also used by the AWS-backed integration runs). */
export function workerEntry(): ThreadEntry {
  return threadEntry('worker-thread')
}

export interface WorkerPorts {
  kv: KeyValueStore
  shardQueue: Queue
  doneQueue: Queue
}

export interface ShardWorkerPoolOptions {
  workers: number
  /** worker_threads (true) or async loops in this thread. */
  threads: boolean
  ports: WorkerPorts
  visibilityTimeoutMs: number
  /** A thread's receive wait (default 200 ms). */
  threadWaitMs?: number
  /** Loops in this thread: receive wait, retry of a shard whose block is not ready, logger, and ports of their own (fault injection). */
  inline?: {
    waitMs: number
    notReadyRetryMs?: number
    log?: (worker: number) => Logger
    ports?: (worker: number, ports: WorkerPorts) => WorkerPorts
  }
  onThreadError?: (worker: number, error: Error) => void
  /** The GPU path: loops here use its inference service, threads make their own from its settings (default: each thread's, from the environment). */
  accelerators?: Accelerators
}

const CONTROL_STOP = { control: 'stop' }

export class ShardWorkerPool {
  private readonly threads: Worker[] = []
  /** Threads that have exited (by index). */
  private readonly exited = new Set<number>()
  private readonly loops: Promise<void>[] = []
  private readonly started: Promise<void>[] = []
  private readonly signal: StopSignal = { stopped: false }

  private constructor(private readonly options: ShardWorkerPoolOptions) {}

  static start(options: ShardWorkerPoolOptions): ShardWorkerPool {
    if (!Number.isInteger(options.workers) || options.workers < 1 || options.workers > 256) {
      throw new ParevmError(`workers must be 1..256 (got ${options.workers})`)
    }
    const pool = new ShardWorkerPool(options)
    for (let i = 0; i < options.workers; i++) {
      if (options.threads) pool.startThread(i)
      else pool.startLoop(i)
    }
    return pool
  }

  private startThread(i: number): void {
    const { ports, visibilityTimeoutMs } = this.options
    const accelerators = this.options.accelerators?.settings
    const thread = startThread(workerEntry(), { visibilityTimeoutMs, waitMs: this.options.threadWaitMs ?? 200, ...(accelerators !== undefined ? { accelerators } : {}) })
    serveRpc(thread as unknown as MessagePort, { kv: ports.kv, shards: ports.shardQueue, done: ports.doneQueue })
    thread.on('error', (error) => this.options.onThreadError?.(i, error))
    thread.once('exit', () => this.exited.add(i))
    // A thread has started when it first polls the shard queue (its modules are loaded).
    this.started.push(
      new Promise<void>((resolve) => {
        const onMessage = (m: { rpc?: string; target?: string }): void => {
          if (m?.rpc === 'call' && m.target === 'shards') {
            thread.off('message', onMessage)
            resolve()
          }
        }
        thread.on('message', onMessage)
      }),
    )
    this.threads.push(thread)
  }

  private startLoop(i: number): void {
    const inline = this.options.inline ?? { waitMs: 20 }
    const ports = inline.ports?.(i, this.options.ports) ?? this.options.ports
    const log = inline.log?.(i) ?? silentLogger
    const inference = this.options.accelerators?.inference
    const worker = new ShardWorker({ kv: ports.kv, shardQueue: ports.shardQueue, doneQueue: ports.doneQueue, log, ...(inference !== undefined ? { inference } : {}) })
    this.loops.push(
      runWorkerLoop(worker, ports.shardQueue, this.signal, {
        visibilityTimeoutMs: this.options.visibilityTimeoutMs,
        waitMs: inline.waitMs,
        log,
        ...(inline.notReadyRetryMs !== undefined ? { notReadyRetryMs: inline.notReadyRetryMs } : {}),
      }),
    )
  }

  /** Resolves once every thread polls the shard queue (loops in this thread at once); fails after `timeoutMs`. */
  async ready(clock: Clock, timeoutMs: number): Promise<void> {
    const all = await withinClock(clock, clock.now() + timeoutMs, Promise.all(this.started).then(() => true as const))
    if (all === undefined) throw new ParevmError(`worker threads did not start within ${timeoutMs} ms`)
  }

  /**
   * Send `message` to every worker thread and resolve once each has answered with a message whose
   * `control` is `reply` and whose `block` is `message.block`; loops in this thread get nothing
   * (they read the store directly). Fails after `timeoutMs`.
   */
  async tellThreads(message: { control: string; block: string }, reply: string, clock: Clock, timeoutMs: number): Promise<void> {
    const cleanups: (() => void)[] = []
    const answers = this.threads.map(
      (thread, i) =>
        new Promise<void>((resolve, reject) => {
          if (this.exited.has(i)) {
            reject(new ParevmError(`worker thread ${i} has exited; it cannot answer ${message.control}`))
            return
          }
          const onMessage = (m: { control?: string; block?: string }): void => {
            if (m?.control === reply && m.block === message.block) resolve()
          }
          // A thread that dies instead of answering (its error also goes to onThreadError).
          const onExit = (code: number): void => reject(new ParevmError(`worker thread ${i} exited (code ${code}) before it answered ${message.control}`))
          thread.on('message', onMessage)
          thread.once('exit', onExit)
          cleanups.push(() => {
            thread.off('message', onMessage)
            thread.off('exit', onExit)
          })
          thread.postMessage(message)
        }),
    )
    try {
      const all = await withinClock(clock, clock.now() + timeoutMs, Promise.all(answers).then(() => true as const))
      if (all === undefined) throw new ParevmError(`worker threads did not answer ${message.control} within ${timeoutMs} ms`)
    } finally {
      for (const cleanup of cleanups) cleanup()
    }
  }

  async stop(): Promise<void> {
    this.signal.stopped = true
    for (const thread of this.threads) thread.postMessage(CONTROL_STOP)
    await Promise.all(this.threads.map((t) => t.terminate()))
    await Promise.allSettled(this.loops)
  }
}
