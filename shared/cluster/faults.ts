/**
 * Seeded fault injection for the in-process pipeline: duplicated and delayed messages on any
 * queue, and workers that "crash" after staging a shard but before acknowledging it (so the
 * shard is delivered again after its visibility timeout). A failing seed replays exactly.
 */
import { createRng } from '../workload/generator.ts'

import type { Queue, QueueDepth, QueueMessage, ReceiveOptions, SendEntry } from '../ports/queue.ts'

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

export class FaultyQueue implements Queue {
  readonly name: string
  readonly stats = { duplicated: 0, delayed: 0 }
  private readonly rng: () => number

  constructor(
    private readonly inner: Queue,
    private readonly faults: FaultOptions,
    salt: number,
  ) {
    this.name = inner.name
    this.rng = createRng(faults.seed * 7919 + salt)
  }

  async send(entries: readonly SendEntry[]): Promise<void> {
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

  get innerQueue(): Queue {
    return this.inner
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

/** A crash decider for worker loops (seeded). */
export function crashDecider(faults: FaultOptions, salt: number, probability = faults.workerCrash): () => boolean {
  const rng = createRng(faults.seed * 104729 + salt)
  return () => rng() < probability
}
