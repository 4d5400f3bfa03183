/**
 * In-process Queue with SQS semantics: at-least-once delivery, visibility timeout and
 * redelivery, receive counts, dead-letter after `maxReceiveCount` receives, long polling,
 * message-size and batch limits, and (fifo) per-group order with group locking and
 * deduplication within five minutes.
 */
import { randomUUID } from 'node:crypto'

import { BackendError, ConfigError, LimitError } from '../../errors.ts'
import { realClock, type Clock } from '../clock.ts'
import { QUEUE_LIMITS, type Queue, type QueueDepth, type QueueMessage, type ReceiveOptions, type SendEntry } from '../queue.ts'

export interface MemoryQueueOptions {
  name: string
  visibilityTimeoutMs?: number
  /** Receives after which a message moves to the dead-letter queue (needs `deadLetter`). */
  maxReceiveCount?: number
  deadLetter?: Queue
  fifo?: boolean
  clock?: Clock
  messageBytesMax?: number
}

interface Stored {
  id: string
  body: string
  sentAtMs: number
  visibleAtMs: number
  receiveCount: number
  receiptHandle: string | undefined
  groupId: string | undefined
  /** Deleted, and left in `messages` until the next compaction. */
  deleted?: true
}

const DEDUP_WINDOW_MS = 5 * 60 * 1000

export class MemoryQueue implements Queue {
  readonly name: string
  private readonly visibilityTimeoutMs: number
  private readonly maxReceiveCount: number | undefined
  private readonly deadLetter: Queue | undefined
  private readonly fifo: boolean
  private readonly clock: Clock
  private readonly messageBytesMax: number
  private messages: Stored[] = []
  /** Messages in flight by their current receipt handle (delete and extend in O(1)). */
  private readonly byHandle = new Map<string, Stored>()
  /** Deleted messages still in `messages`. */
  private deletedCount = 0
  private readonly dedup = new Map<string, number>()
  private waiters: (() => void)[] = []
  readonly stats = { sent: 0, received: 0, deleted: 0, deadLettered: 0, redelivered: 0 }

  constructor(options: MemoryQueueOptions) {
    this.name = options.name
    this.visibilityTimeoutMs = options.visibilityTimeoutMs ?? 30_000
    this.maxReceiveCount = options.maxReceiveCount
    this.deadLetter = options.deadLetter
    this.fifo = options.fifo ?? false
    this.clock = options.clock ?? realClock
    this.messageBytesMax = options.messageBytesMax ?? QUEUE_LIMITS.messageBytes
    if (this.maxReceiveCount !== undefined && this.deadLetter === undefined) {
      throw new ConfigError(`queue ${this.name}: maxReceiveCount needs a dead-letter queue`)
    }
  }

  async send(entries: readonly SendEntry[]): Promise<void> {
    const now = this.clock.now()
    // Every entry is checked before any is queued: a refused batch sends nothing.
    for (const entry of entries) {
      const bytes = Buffer.byteLength(entry.body)
      if (bytes > this.messageBytesMax) {
        throw new LimitError(`message of ${bytes} bytes exceeds the ${this.messageBytesMax}-byte limit of queue ${this.name}`)
      }
      if (this.fifo && entry.groupId === undefined) throw new LimitError(`FIFO queue ${this.name} needs a groupId on every message`)
    }
    for (const entry of entries) {
      if (this.fifo) {
        const dedupId = entry.dedupId ?? entry.body
        const seenAt = this.dedup.get(dedupId)
        if (seenAt !== undefined && now - seenAt < DEDUP_WINDOW_MS) continue
        this.dedup.set(dedupId, now)
      }
      this.messages.push({
        id: randomUUID(),
        body: entry.body,
        sentAtMs: now,
        visibleAtMs: now + (entry.delayMs ?? 0),
        receiveCount: 0,
        receiptHandle: undefined,
        groupId: entry.groupId,
      })
      this.stats.sent++
    }
    this.pruneDedup(now)
    this.wake()
  }

  private pruneDedup(now: number): void {
    if (this.dedup.size < 10_000) return
    for (const [id, at] of this.dedup) if (now - at >= DEDUP_WINDOW_MS) this.dedup.delete(id)
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  private async takeVisible(options: ReceiveOptions): Promise<QueueMessage[]> {
    const now = this.clock.now()
    const out: QueueMessage[] = []
    const lockedGroups = new Set<string>()
    if (this.fifo) {
      for (const m of this.messages) if (m.deleted !== true && m.visibleAtMs > now && m.receiptHandle !== undefined && m.groupId !== undefined) lockedGroups.add(m.groupId)
    }
    const deadLettered: Stored[] = []
    for (const m of this.messages) {
      if (out.length >= options.maxMessages) break
      if (m.deleted === true || m.visibleAtMs > now) continue
      if (this.fifo && m.groupId !== undefined) {
        if (lockedGroups.has(m.groupId)) continue
        lockedGroups.add(m.groupId)
      }
      if (this.maxReceiveCount !== undefined && m.receiveCount >= this.maxReceiveCount) {
        deadLettered.push(m)
        continue
      }
      if (m.receiveCount > 0) this.stats.redelivered++
      m.receiveCount++
      if (m.receiptHandle !== undefined) this.byHandle.delete(m.receiptHandle)
      m.receiptHandle = randomUUID()
      this.byHandle.set(m.receiptHandle, m)
      m.visibleAtMs = now + (options.visibilityTimeoutMs ?? this.visibilityTimeoutMs)
      out.push({
        id: m.id,
        body: m.body,
        receiptHandle: m.receiptHandle,
        receiveCount: m.receiveCount,
        sentAtMs: m.sentAtMs,
        ...(m.groupId !== undefined ? { groupId: m.groupId } : {}),
      })
    }
    if (deadLettered.length > 0) {
      const dead = new Set(deadLettered)
      this.messages = this.messages.filter((m) => !dead.has(m))
      for (const m of deadLettered) if (m.receiptHandle !== undefined) this.byHandle.delete(m.receiptHandle)
      this.stats.deadLettered += deadLettered.length
      await this.deadLetter!.send(deadLettered.map((m) => ({ body: m.body, ...(m.groupId !== undefined ? { groupId: m.groupId, dedupId: m.id } : {}) })))
    }
    this.stats.received += out.length
    return out
  }

  async receive(options: ReceiveOptions): Promise<QueueMessage[]> {
    if (options.maxMessages < 1 || options.maxMessages > QUEUE_LIMITS.receiveMax) {
      throw new LimitError(`maxMessages must be 1..${QUEUE_LIMITS.receiveMax}, got ${options.maxMessages}`)
    }
    const waitMs = Math.min(Math.max(options.waitMs, 0), QUEUE_LIMITS.waitMsMax)
    const deadline = this.clock.now() + waitMs
    for (;;) {
      const got = await this.takeVisible(options)
      if (got.length > 0) return got
      const left = deadline - this.clock.now()
      if (left <= 0) return []
      // Wake on a send, or poll again when the next invisible message may come back.
      if (this.clock !== realClock) {
        // An injected clock (simulation): wait on its time, never on real timers.
        await new Promise<void>((resolve) => {
          let settled = false
          const done = (): void => {
            if (settled) return
            settled = true
            resolve()
          }
          this.waiters.push(done)
          void this.clock.sleep(Math.min(left, this.nextVisibleInMs() ?? left)).then(done)
        })
        continue
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, this.nextVisibleInMs() ?? left, 50))
        const waiter = (): void => done()
        function done(): void {
          clearTimeout(timer)
          resolve()
        }
        this.waiters.push(waiter)
      })
    }
  }

  private nextVisibleInMs(): number | undefined {
    const now = this.clock.now()
    let next: number | undefined
    for (const m of this.messages) {
      if (m.deleted === true) continue
      const wait = m.visibleAtMs - now
      if (wait > 0 && (next === undefined || wait < next)) next = wait
    }
    return next
  }

  async delete(receiptHandles: readonly string[]): Promise<void> {
    if (receiptHandles.length === 0) return
    for (const handle of receiptHandles) {
      const m = this.byHandle.get(handle)
      if (m === undefined) continue
      this.byHandle.delete(handle)
      m.deleted = true
      this.deletedCount++
      this.stats.deleted++
    }
    // Deleted messages leave the array once they are a quarter of it (amortized O(1) a delete).
    if (this.deletedCount > 64 && this.deletedCount * 4 > this.messages.length) {
      this.messages = this.messages.filter((m) => m.deleted !== true)
      this.deletedCount = 0
    }
    this.wake()
  }

  async extendVisibility(receiptHandle: string, timeoutMs: number): Promise<void> {
    const m = this.byHandle.get(receiptHandle)
    if (m === undefined) throw new BackendError(`queue ${this.name}: receipt handle is no longer valid`)
    m.visibleAtMs = this.clock.now() + timeoutMs
  }

  async depth(): Promise<QueueDepth> {
    const now = this.clock.now()
    let visible = 0
    let inFlight = 0
    let delayed = 0
    for (const m of this.messages) {
      if (m.deleted === true) continue
      if (m.visibleAtMs <= now) visible++
      else if (m.receiptHandle !== undefined) inFlight++
      else delayed++
    }
    return { visible, inFlight, delayed }
  }

  /** Bodies of all messages still held (tests). */
  peekBodies(): string[] {
    return this.messages.filter((m) => m.deleted !== true).map((m) => m.body)
  }
}
