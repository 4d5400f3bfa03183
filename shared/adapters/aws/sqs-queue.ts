/**
 * The Queue port on SQS.
 *
 * - send: SendMessageBatch, at most 10 entries and 256 KB of bodies a call (the port's
 *   QUEUE_LIMITS). Every entry is checked before anything is sent, so an oversize message is
 *   refused with nothing sent. Entries SQS reports as failed are retried with bounded backoff
 *   when the fault is SQS's; a sender fault is an error naming the entry.
 * - receive: ReceiveMessage with long polling (WaitTimeSeconds = the wait rounded up to whole
 *   seconds; 0 is a short poll), an optional visibility override (whole seconds, rounded up),
 *   and the receive count and sent time. Some servers (local-aws-sqs) ignore
 *   MessageSystemAttributeNames, so the legacy AttributeNames are sent as well.
 * - delete: DeleteMessageBatch, 10 a call; a receipt handle SQS no longer knows is ignored
 *   (as in the in-process queue: its message was delivered again or is gone).
 * - extendVisibility: ChangeMessageVisibility (whole seconds, rounded up; 0 makes it visible now).
 * - FIFO queues: MessageGroupId on every message and MessageDeduplicationId (the entry's
 *   dedupId, or SQS content-based deduplication); per-message delays are refused (SQS has none
 *   on FIFO queues).
 * Dead-letter queues and the maximum receive count are the queue's redrive policy, set where
 * the queue is created (provision.ts, infra/).
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type BatchResultErrorEntry,
  type SQSClient,
  type SendMessageBatchRequestEntry,
} from '@aws-sdk/client-sqs'

import { BackendError, ConfigError, InvariantError, LimitError, ParevmError, ThrottledError } from '../../errors.ts'
import { QUEUE_LIMITS, type Queue, type QueueDepth, type QueueMessage, type ReceiveOptions, type SendEntry } from '../../ports/queue.ts'
import { chunkBySize } from '../../pipeline/codec.ts'
import { DEFAULT_BACKOFF, backoffDelayMs, chunks, mapLimit, sleep, type BackoffOptions } from './retry.ts'

export const SQS_LIMITS = {
  /** Total size of one SendMessageBatch call. */
  batchBytes: 256 * 1024,
  delaySecMax: 900,
  visibilitySecMax: 43_200,
} as const

export interface SqsQueueOptions {
  client: SQSClient
  /** The queue's name (for messages and logs). */
  name: string
  /** The queue URL, or how to find it on first use (a role reaches only its own queues). */
  url: string | (() => Promise<string>)
  fifo: boolean
  messageBytesMax?: number
  backoff?: BackoffOptions
}

type OperationName = 'send' | 'receive' | 'delete' | 'extend' | 'depth'

export interface QueueOperationStats {
  calls: number
  messages: number
  ms: number
}

/** Batch calls of one send or delete in flight at once. */
export const SQS_CALLS_IN_FLIGHT = 8

const RECEIVE_ATTRIBUTES = ['ApproximateReceiveCount', 'SentTimestamp', 'MessageGroupId'] as const

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

function isThrottle(error: unknown): boolean {
  const name = error instanceof Error ? error.name : ''
  return name === 'ThrottlingException' || name === 'RequestThrottled' || name === 'KmsThrottled' || name.endsWith('OverLimit')
}

function isInvalidHandle(code: string | undefined): boolean {
  return code === 'ReceiptHandleIsInvalid' || code === 'AWS.SimpleQueueService.ReceiptHandleIsInvalid' || code === 'InvalidParameterValue'
}

export class SqsQueue implements Queue {
  readonly name: string
  readonly fifo: boolean
  private resolvedUrl: string | undefined
  private readonly findUrl: (() => Promise<string>) | undefined
  private pendingUrl: Promise<string> | undefined
  private readonly client: SQSClient
  private readonly messageBytesMax: number
  private readonly backoff: BackoffOptions
  readonly stats: Record<OperationName, QueueOperationStats> = {
    send: { calls: 0, messages: 0, ms: 0 },
    receive: { calls: 0, messages: 0, ms: 0 },
    delete: { calls: 0, messages: 0, ms: 0 },
    extend: { calls: 0, messages: 0, ms: 0 },
    depth: { calls: 0, messages: 0, ms: 0 },
  }

  constructor(options: SqsQueueOptions) {
    this.client = options.client
    this.name = options.name
    if (typeof options.url === 'string') this.resolvedUrl = options.url
    else this.findUrl = options.url
    this.fifo = options.fifo
    this.messageBytesMax = options.messageBytesMax ?? QUEUE_LIMITS.messageBytes
    this.backoff = options.backoff ?? DEFAULT_BACKOFF
  }

  /** The queue URL (throws if it is looked up on first use and that has not happened yet). */
  get url(): string {
    if (this.resolvedUrl === undefined) throw new InvariantError(`the URL of queue ${this.name} is not resolved yet (call resolve() first)`)
    return this.resolvedUrl
  }

  /** The queue URL, looked up once if it was not given. */
  async resolve(): Promise<string> {
    if (this.resolvedUrl !== undefined) return this.resolvedUrl
    this.pendingUrl ??= this.findUrl!().then(
      (url) => (this.resolvedUrl = url),
      (error: unknown) => {
        this.pendingUrl = undefined
        throw error
      },
    )
    return this.pendingUrl
  }

  private async timed<T>(op: OperationName, messages: number, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now()
    try {
      return await fn()
    } finally {
      const s = this.stats[op]
      s.calls++
      s.messages += messages
      s.ms += performance.now() - t0
    }
  }

  private wrap(what: string, error: unknown): Error {
    if (error instanceof ParevmError) return error
    const name = error instanceof Error ? error.name : ''
    if (name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue') {
      return new ConfigError(`SQS ${what}: queue ${this.name} does not exist`, {
        hint: 'create the queues (shared/adapters/aws/provision.ts createResources, or cdk deploy) or check PAREVM_PREFIX and the endpoint',
        cause: error,
      })
    }
    if (isThrottle(error)) return new ThrottledError(`SQS ${what} on ${this.name} throttled: ${describe(error)}`, { cause: error })
    return new BackendError(`SQS ${what} on ${this.name} failed: ${describe(error)}`, { cause: error })
  }

  /** Entries → batches within 10 entries and 256 KB, every entry checked first. */
  private batches(entries: readonly SendEntry[]): SendMessageBatchRequestEntry[][] {
    const prepared: { entry: SendMessageBatchRequestEntry; bytes: number }[] = entries.map((e, i) => {
      const bytes = Buffer.byteLength(e.body)
      if (bytes > this.messageBytesMax) {
        throw new LimitError(`message of ${bytes} bytes exceeds the ${this.messageBytesMax}-byte limit of queue ${this.name}`, {
          hint: 'queue messages are small pointers; put large payloads in the store',
        })
      }
      if (bytes === 0) throw new LimitError(`queue ${this.name}: SQS refuses an empty message body`)
      const entry: SendMessageBatchRequestEntry = { Id: `m${i}`, MessageBody: e.body }
      if (this.fifo) {
        if (e.groupId === undefined) throw new LimitError(`FIFO queue ${this.name} needs a groupId on every message`)
        if (e.delayMs !== undefined && e.delayMs > 0) throw new LimitError(`FIFO queue ${this.name}: SQS has no per-message delay on FIFO queues`)
        entry.MessageGroupId = e.groupId
        if (e.dedupId !== undefined) entry.MessageDeduplicationId = e.dedupId
      } else if (e.delayMs !== undefined && e.delayMs > 0) {
        entry.DelaySeconds = Math.min(SQS_LIMITS.delaySecMax, Math.ceil(e.delayMs / 1000))
      }
      return { entry, bytes }
    })
    return chunkBySize(prepared, (p) => p.bytes, SQS_LIMITS.batchBytes, QUEUE_LIMITS.batchEntries).map((batch) => batch.map((p) => p.entry))
  }

  async send(entries: readonly SendEntry[]): Promise<void> {
    if (entries.length === 0) return
    const batches = this.batches(entries)
    // Batches go out together unless a message group spans two of them (FIFO order within a group).
    const groupBatch = new Map<string, number>()
    let groupSpans = false
    batches.forEach((batch, b) => {
      for (const e of batch) {
        if (e.MessageGroupId === undefined) continue
        if ((groupBatch.get(e.MessageGroupId) ?? b) !== b) groupSpans = true
        groupBatch.set(e.MessageGroupId, b)
      }
    })
    await mapLimit(batches, groupSpans ? 1 : SQS_CALLS_IN_FLIGHT, (batch) =>
      this.timed('send', batch.length, async () => {
        let pending = batch
        for (let attempt = 1; ; attempt++) {
          let failed: BatchResultErrorEntry[]
          try {
            const out = await this.client.send(new SendMessageBatchCommand({ QueueUrl: await this.resolve(), Entries: pending }))
            failed = out.Failed ?? []
          } catch (error) {
            if (!isThrottle(error) || attempt >= this.backoff.attemptsMax) throw this.wrap('SendMessageBatch', error)
            await sleep(backoffDelayMs(attempt, this.backoff))
            continue
          }
          if (failed.length === 0) return
          const senderFault = failed.find((f) => f.SenderFault === true)
          if (senderFault !== undefined) {
            throw new BackendError(`SQS refused a message for ${this.name}: ${senderFault.Code ?? '?'}: ${senderFault.Message ?? ''}`)
          }
          if (attempt >= this.backoff.attemptsMax) {
            throw new ThrottledError(`SQS SendMessageBatch on ${this.name}: ${failed.length} message(s) still failing after ${attempt} attempts (${failed[0]?.Code ?? '?'})`)
          }
          const ids = new Set(failed.map((f) => f.Id))
          pending = pending.filter((e) => ids.has(e.Id))
          await sleep(backoffDelayMs(attempt, this.backoff))
        }
      }),
    )
  }

  async receive(options: ReceiveOptions): Promise<QueueMessage[]> {
    if (!Number.isInteger(options.maxMessages) || options.maxMessages < 1 || options.maxMessages > QUEUE_LIMITS.receiveMax) {
      throw new LimitError(`maxMessages must be 1..${QUEUE_LIMITS.receiveMax}, got ${options.maxMessages}`)
    }
    const waitSec = Math.ceil(Math.min(Math.max(options.waitMs, 0), QUEUE_LIMITS.waitMsMax) / 1000)
    return this.timed('receive', 0, async () => {
      let out
      try {
        out = await this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: await this.resolve(),
            MaxNumberOfMessages: options.maxMessages,
            WaitTimeSeconds: waitSec,
            ...(options.visibilityTimeoutMs !== undefined
              ? { VisibilityTimeout: Math.min(SQS_LIMITS.visibilitySecMax, Math.ceil(options.visibilityTimeoutMs / 1000)) }
              : {}),
            MessageSystemAttributeNames: [...RECEIVE_ATTRIBUTES],
            // Legacy spelling, for servers that ignore MessageSystemAttributeNames.
            AttributeNames: [...RECEIVE_ATTRIBUTES] as never,
          }),
        )
      } catch (error) {
        throw this.wrap('ReceiveMessage', error)
      }
      const messages: QueueMessage[] = (out.Messages ?? []).map((m) => {
        if (m.MessageId === undefined || m.ReceiptHandle === undefined) throw new BackendError(`SQS returned a message without id or receipt handle from ${this.name}`)
        const attrs = m.Attributes ?? {}
        const groupId = attrs.MessageGroupId
        return {
          id: m.MessageId,
          body: m.Body ?? '',
          receiptHandle: m.ReceiptHandle,
          receiveCount: Number(attrs.ApproximateReceiveCount ?? '1'),
          sentAtMs: Number(attrs.SentTimestamp ?? Date.now()),
          ...(groupId !== undefined ? { groupId } : {}),
        }
      })
      this.stats.receive.messages += messages.length
      return messages
    })
  }

  async delete(receiptHandles: readonly string[]): Promise<void> {
    await mapLimit(chunks(receiptHandles, QUEUE_LIMITS.batchEntries), SQS_CALLS_IN_FLIGHT, (batch) =>
      this.timed('delete', batch.length, async () => {
        let out
        try {
          out = await this.client.send(new DeleteMessageBatchCommand({ QueueUrl: await this.resolve(), Entries: batch.map((h, i) => ({ Id: `d${i}`, ReceiptHandle: h })) }))
        } catch (error) {
          throw this.wrap('DeleteMessageBatch', error)
        }
        const failed = (out.Failed ?? []).filter((f) => !isInvalidHandle(f.Code))
        if (failed.length > 0) throw new BackendError(`SQS could not delete ${failed.length} message(s) from ${this.name}: ${failed[0]?.Code ?? '?'}: ${failed[0]?.Message ?? ''}`)
      }),
    )
  }

  async extendVisibility(receiptHandle: string, timeoutMs: number): Promise<void> {
    const seconds = Math.min(SQS_LIMITS.visibilitySecMax, Math.max(0, Math.ceil(timeoutMs / 1000)))
    await this.timed('extend', 1, async () => {
      try {
        await this.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: await this.resolve(), ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }))
      } catch (error) {
        const name = error instanceof Error ? error.name : ''
        if (isInvalidHandle(name) || name === 'MessageNotInflight' || name === 'AWS.SimpleQueueService.MessageNotInflight') {
          throw new BackendError(`queue ${this.name}: receipt handle is no longer valid`, { cause: error })
        }
        throw this.wrap('ChangeMessageVisibility', error)
      }
    })
  }

  async depth(): Promise<QueueDepth> {
    return this.timed('depth', 0, async () => {
      let out
      try {
        out = await this.client.send(
          new GetQueueAttributesCommand({
            QueueUrl: await this.resolve(),
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
          }),
        )
      } catch (error) {
        throw this.wrap('GetQueueAttributes', error)
      }
      const a = out.Attributes ?? {}
      return {
        visible: Number(a.ApproximateNumberOfMessages ?? 0),
        inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
        delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
      }
    })
  }
}
