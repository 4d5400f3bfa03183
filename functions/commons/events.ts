/** Lambda event shapes the handlers accept, parsed with zod (only the fields they use). */
import { z } from 'zod'

import type { QueueMessage } from '../../shared/ports/queue.ts'

export const sqsRecordSchema = z
  .object({
    messageId: z.string().min(1),
    receiptHandle: z.string().min(1),
    body: z.string(),
    attributes: z
      .object({
        ApproximateReceiveCount: z.string().optional(),
        SentTimestamp: z.string().optional(),
        MessageGroupId: z.string().optional(),
      })
      .passthrough()
      .default({}),
    eventSource: z.literal('aws:sqs').optional(),
  })
  .passthrough()
export type SqsRecord = z.infer<typeof sqsRecordSchema>

export const sqsEventSchema = z.object({ Records: z.array(sqsRecordSchema) }).passthrough()
export type SqsEvent = z.infer<typeof sqsEventSchema>

/** An SQS record as the engine's QueueMessage. */
export function recordToMessage(record: SqsRecord): QueueMessage {
  const groupId = record.attributes.MessageGroupId
  return {
    id: record.messageId,
    body: record.body,
    receiptHandle: record.receiptHandle,
    receiveCount: Number(record.attributes.ApproximateReceiveCount ?? '1'),
    sentAtMs: Number(record.attributes.SentTimestamp ?? Date.now()),
    ...(groupId !== undefined ? { groupId } : {}),
  }
}

/**
 * The sequencer's invocation: an EventBridge schedule (any scheduled event), or a direct
 * invoke with optional bounds: `{ "maxBlocks": 10, "budgetMs": 60000 }`.
 */
export const sequencerInvocationSchema = z.union([
  z.object({ 'detail-type': z.string(), source: z.string() }).passthrough().transform(() => ({})),
  z
    .object({
      maxBlocks: z.number().int().min(1).max(100_000).optional(),
      budgetMs: z.number().int().min(1000).max(15 * 60_000).optional(),
    })
    .strict(),
])
export type SequencerInvocation = { maxBlocks?: number | undefined; budgetMs?: number | undefined }
