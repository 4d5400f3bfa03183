/** The injector behind one interface: in this thread over a Queue, or in its own thread over SQS. */
import { ParevmError } from '../errors.ts'
import { epochNow, runInjection, type InjectionResult } from './inject.ts'
import { rpcSender } from './rpc-send.ts'
import { loadtestThread } from './threads.ts'

import type { Queue, SendEntry } from '../ports/queue.ts'
import type { Worker } from 'node:worker_threads'

export type InjectorTarget =
  | { kind: 'queue'; queue: Queue }
  /** An SQS queue, reached from the injector's own thread with the SDK's usual configuration. */
  | { kind: 'sqs'; url: string; name: string; region: string }
  /** A JSON-RPC endpoint (eth_sendRawTransaction), from this thread. */
  | { kind: 'rpc'; url: string }

export interface InjectorOptions {
  perMessage: number
  maxInFlight: number
  tickMs: number
}

export interface InjectThreadData extends InjectorOptions {
  raws: readonly string[]
  offsetsMs: Float64Array
  controlSab: SharedArrayBuffer
  sentAtSab: SharedArrayBuffer
  failedSab: SharedArrayBuffer
  queue: { url: string; name: string; region: string }
}

export interface SendFailure {
  from: number
  count: number
  error: string
}

export interface InjectorOutcome extends InjectionResult {
  failures: SendFailure[]
}

export class Injector {
  /** Epoch ms at which each transaction's send call was made (0: not sent). */
  readonly sentAtMs: Float64Array
  /** 1 where the send call failed. */
  readonly failed: Uint8Array
  private readonly control: Int32Array
  private stopRequested = false
  private issuedHere = 0
  private readonly failuresHere: SendFailure[] = []

  private constructor(
    private readonly target: InjectorTarget,
    private readonly raws: readonly string[],
    private readonly offsetsMs: Float64Array,
    private readonly options: InjectorOptions,
    private readonly thread: Worker | undefined,
    buffers: { control: SharedArrayBuffer; sentAt: SharedArrayBuffer; failed: SharedArrayBuffer },
  ) {
    this.control = new Int32Array(buffers.control)
    this.sentAtMs = new Float64Array(buffers.sentAt)
    this.failed = new Uint8Array(buffers.failed)
  }

  /** Ready to start: a thread injector has started its thread and built its client. */
  static async prepare(target: InjectorTarget, raws: readonly string[], offsetsMs: Float64Array, options: InjectorOptions): Promise<Injector> {
    const buffers = {
      control: new SharedArrayBuffer(8),
      sentAt: new SharedArrayBuffer(8 * raws.length),
      failed: new SharedArrayBuffer(raws.length),
    }
    if (target.kind !== 'sqs') return new Injector(target, raws, offsetsMs, options, undefined, buffers)
    const data: InjectThreadData = {
      ...options,
      raws,
      offsetsMs,
      controlSab: buffers.control,
      sentAtSab: buffers.sentAt,
      failedSab: buffers.failed,
      queue: { url: target.url, name: target.name, region: target.region },
    }
    const thread = loadtestThread('inject-thread', { ...data })
    await new Promise<void>((resolve, reject) => {
      thread.once('message', () => resolve())
      thread.once('error', (error) => reject(new ParevmError(`the injector thread failed to start: ${error.message}`, { cause: error })))
    })
    return new Injector(target, raws, offsetsMs, options, thread, buffers)
  }

  /** Transactions handed to a send call so far. */
  issued(): number {
    return this.thread === undefined ? this.issuedHere : Atomics.load(this.control, 1)
  }

  /** Stop sending (calls already made complete). */
  stop(): void {
    this.stopRequested = true
    Atomics.store(this.control, 0, 1)
  }

  async run(startMs: number): Promise<InjectorOutcome> {
    if (this.thread === undefined) {
      const target = this.target as Exclude<InjectorTarget, { kind: 'sqs' }>
      const send = target.kind === 'rpc' ? rpcSender(target.url) : (entries: SendEntry[]) => target.queue.send(entries)
      const result = await runInjection({
        raws: this.raws,
        offsetsMs: this.offsetsMs,
        startMs,
        ...this.options,
        sentAtMs: this.sentAtMs,
        send,
        stopped: () => this.stopRequested,
        now: epochNow,
        onIssued: (count) => (this.issuedHere = count),
        onFailure: (from, count, error) => {
          this.failed.fill(1, from, from + count)
          if (this.failuresHere.length < 100) this.failuresHere.push({ from, count, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) })
        },
      })
      return { ...result, failures: this.failuresHere }
    }
    const thread = this.thread
    try {
      return await new Promise<InjectorOutcome>((resolve, reject) => {
        thread.on('message', (m: { result?: InjectionResult; failures?: SendFailure[]; error?: string }) => {
          if (m.result !== undefined) resolve({ ...m.result, failures: m.failures ?? [] })
          else if (m.error !== undefined) reject(new ParevmError('the injector thread failed', { details: m.error }))
        })
        thread.on('error', (error) => reject(new ParevmError(`the injector thread failed: ${error.message}`, { cause: error })))
        thread.on('exit', (code) => reject(new ParevmError(`the injector thread exited (${code}) before finishing`)))
        thread.postMessage({ startMs })
      })
    } finally {
      await thread.terminate()
    }
  }

  /** Release the thread without running (set-up failed before the start). */
  async close(): Promise<void> {
    await this.thread?.terminate()
  }
}
