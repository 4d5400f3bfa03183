/**
 * Seeded fault injection for the in-process pipeline: duplicated and delayed messages on any
 * queue, and workers that "crash" after staging a shard but before reporting it done, or after
 * reporting it but before acknowledging its message (so the shard is delivered again after its
 * visibility timeout). A failing seed replays exactly. The faults wrap the ports a worker is
 * given; the worker itself has no hook for them.
 */
import { ParevmError } from '../errors.ts'
import { createRng } from '../workload/generator.ts'

import type { KeyValueStore, WriteOp } from '../ports/kv-store.ts'
import type { Queue, QueueDepth, QueueMessage, ReceiveOptions, SendEntry } from '../ports/queue.ts'
import type { WorkerPorts } from './threads.ts'

export interface FaultOptions {
  seed: number
  /** Probability that a sent message is delivered twice. */
  duplicate: number
  /** Probability that a sent message is delayed, and the longest delay. */
  delay: number
  delayMsMax: number
  /** Probability that a worker crashes after reporting its shard done, before deleting its message. */
  workerCrash: number
  /** Probability that a worker crashes after staging, before reporting the shard done. */
  afterStageCrash?: number
}

export const NO_FAULTS: FaultOptions = { seed: 0, duplicate: 0, delay: 0, delayMsMax: 0, workerCrash: 0 }

/** A queue that passes every call on; a fault (or a test's counter) overrides the call it changes. */
export class ForwardingQueue implements Queue {
  readonly name: string

  constructor(protected readonly inner: Queue) {
    this.name = inner.name
  }

  get innerQueue(): Queue {
    return this.inner
  }

  send(entries: readonly SendEntry[]): Promise<void> {
    return this.inner.send(entries)
  }
  receive(options: ReceiveOptions): Promise<QueueMessage[]> {
    return this.inner.receive(options)
  }
  delete(receiptHandles: readonly string[]): Promise<void> {
    return this.inner.delete(receiptHandles)
  }
  extendVisibility(receiptHandle: string, timeoutMs: number): Promise<void> {
    return this.inner.extendVisibility(receiptHandle, timeoutMs)
  }
  depth(): Promise<QueueDepth> {
    return this.inner.depth()
  }
}

export class FaultyQueue extends ForwardingQueue {
  readonly stats = { duplicated: 0, delayed: 0 }
  private readonly rng: () => number

  constructor(
    inner: Queue,
    private readonly faults: FaultOptions,
    salt: number,
  ) {
    super(inner)
    this.rng = createRng(faults.seed * 7919 + salt)
  }

  override async send(entries: readonly SendEntry[]): Promise<void> {
    const out: SendEntry[] = []
    for (const entry of entries) {
      const delayed = this.rng() < this.faults.delay
      const e = delayed ? { ...entry, delayMs: Math.floor(this.rng() * this.faults.delayMsMax) } : entry
      if (delayed) this.stats.delayed++
      out.push(e)
      if (this.rng() < this.faults.duplicate) {
        this.stats.duplicated++
        const { dedupId: _drop, ...copy } = e
        out.push({ ...copy, delayMs: Math.floor(this.rng() * (this.faults.delayMsMax + 1)) })
      }
    }
    await this.inner.send(out)
  }
}

/** A crash decider for worker loops (seeded). */
export function crashDecider(faults: FaultOptions, salt: number, probability = faults.workerCrash): () => boolean {
  const rng = createRng(faults.seed * 104729 + salt)
  return () => rng() < probability
}

/** The put that completes a shard's staging: the head of its part 0, written last (`Records.stage`). */
function completesStaging(op: WriteOp): boolean {
  return op.op === 'put' && op.item.table === 'staged' && /^shard#\d+#0$/.test(op.item.sk)
}

/**
 * One worker's store: when `crash()` says so, the write that completes a shard's staging
 * succeeds and then the worker "crashes" (the error ends its handling of the shard before it
 * reports the shard done).
 */
export function crashAfterStaging(kv: KeyValueStore, crash: () => boolean): KeyValueStore {
  return {
    get: (keys) => kv.get(keys),
    write: (ops) => kv.write(ops),
    query: (table, pk, options) => kv.query(table, pk, options),
    transact: async (ops) => {
      await kv.transact(ops)
      if (ops.some(completesStaging) && crash()) throw new ParevmError('simulated worker crash after staging, before reporting done')
    },
  }
}

/** One worker's view of the shard queue: when `crash()` says so, the worker "crashes" instead of acknowledging a finished shard. */
class CrashBeforeDeleteQueue extends ForwardingQueue {
  constructor(
    inner: Queue,
    private readonly crash: () => boolean,
  ) {
    super(inner)
  }

  override async delete(receiptHandles: readonly string[]): Promise<void> {
    if (this.crash()) throw new ParevmError('simulated worker crash before acknowledging its shard')
    await this.inner.delete(receiptHandles)
  }
}

export function crashBeforeDelete(queue: Queue, crash: () => boolean): Queue {
  return new CrashBeforeDeleteQueue(queue, crash)
}

/** Worker `worker`'s ports with its seeded crashes: after staging (`afterStageCrash`), before acknowledging (`workerCrash`). */
export function faultyWorkerPorts(faults: FaultOptions, worker: number, ports: WorkerPorts): WorkerPorts {
  const afterStage = faults.afterStageCrash ?? 0
  return {
    kv: afterStage > 0 ? crashAfterStaging(ports.kv, crashDecider(faults, 1000 + worker, afterStage)) : ports.kv,
    shardQueue: faults.workerCrash > 0 ? crashBeforeDelete(ports.shardQueue, crashDecider(faults, worker)) : ports.shardQueue,
    doneQueue: ports.doneQueue,
  }
}
