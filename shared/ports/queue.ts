/**
 * The queue port: what the engine needs from SQS. At-least-once delivery, a visibility
 * timeout after which an unacknowledged message is delivered again, a receive count, and a
 * dead-letter queue after a bounded number of receives. FIFO queues keep order per group and
 * hold a group while one of its messages is in flight.
 */
export interface SendEntry {
  body: string
  /** FIFO queues: messages of one group are delivered in order, one group member at a time. */
  groupId?: string
  /** FIFO queues: a second send with the same id within 5 minutes is dropped. */
  dedupId?: string
  delayMs?: number
}

export interface QueueMessage {
  id: string
  body: string
  receiptHandle: string
  /** 1 on first delivery. */
  receiveCount: number
  sentAtMs: number
  groupId?: string
}

export interface ReceiveOptions {
  /** 1 to 10. */
  maxMessages: number
  /** Long polling: wait up to this long for a first message (0 to 20,000 ms). */
  waitMs: number
  /** Override the queue's visibility timeout for these messages. */
  visibilityTimeoutMs?: number
}

export interface QueueDepth {
  visible: number
  inFlight: number
  delayed: number
}

export interface Queue {
  readonly name: string
  send(entries: readonly SendEntry[]): Promise<void>
  receive(options: ReceiveOptions): Promise<QueueMessage[]>
  delete(receiptHandles: readonly string[]): Promise<void>
  /** Keep a long job invisible (a worker's heartbeat). */
  extendVisibility(receiptHandle: string, timeoutMs: number): Promise<void>
  depth(): Promise<QueueDepth>
}

export const QUEUE_LIMITS = {
  /** SQS's default maximum message size. */
  messageBytes: 256 * 1024,
  batchEntries: 10,
  receiveMax: 10,
  waitMsMax: 20_000,
} as const
