/**
 * Queue message bodies, validated with zod at every consumer. Bodies are small JSON: large
 * payloads (transactions, results) live in the store and messages point at them, so no message
 * comes near SQS's size limit whatever the block size.
 */
import { z } from 'zod'

/**
 * A raw transaction is a string (hex of its RLP or typed envelope); whether it is well-formed is
 * intake's judgement, per transaction: one bad entry never takes a batch's valid ones with it.
 */
const rawTx = z.string()

/** Ingress: one raw signed transaction, or several (each is accepted or rejected on its own). */
export const ingressMessageSchema = z.union([
  z.object({ raw: rawTx, sentAtMs: z.number().optional() }).strict(),
  z.object({ txs: z.array(rawTx).min(1).max(1000), sentAtMs: z.number().optional() }).strict(),
])
export type IngressMessage = z.infer<typeof ingressMessageSchema>

const blockNumber = z.string().regex(/^[0-9]+$/, 'block number in decimal')

/** A shard of a planned block, for a worker. */
export const shardMessageSchema = z
  .object({
    v: z.literal(1),
    kind: z.literal('shard'),
    block: blockNumber,
    shard: z.number().int().min(0).max(4095),
    shards: z.number().int().min(1).max(4096),
    parts: z.number().int().min(1).max(10_000),
  })
  .strict()
export type ShardMessage = z.infer<typeof shardMessageSchema>

/** A worker staged a shard's results. */
export const doneMessageSchema = z
  .object({
    v: z.literal(1),
    kind: z.literal('done'),
    block: blockNumber,
    shard: z.number().int().min(0).max(4095),
    parts: z.number().int().min(1).max(10_000),
    /** Worker-side timings (ms), for the block's profile. */
    timings: z.record(z.string(), z.number()).optional(),
  })
  .strict()
export type DoneMessage = z.infer<typeof doneMessageSchema>

export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body)
  } catch (error) {
    return { __unparsable: (error as Error).message }
  }
}
