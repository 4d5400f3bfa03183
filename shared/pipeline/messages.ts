/**
 * Queue message bodies, validated with zod at every consumer. Bodies are small JSON: large
 * payloads (transactions, results) live in the store and messages point at them, so no message
 * comes near SQS's size limit whatever the block size.
 */
import { z } from 'zod'

import { keccak256 } from '../crypto/keccak.ts'
import { to0x } from '../hex.ts'

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

/**
 * The id of a malformed ingress message's rejection: keccak-256 of its body with a prefix, so it
 * never equals the id of a transaction or of a raw input (keccak of its bytes or text): a message
 * body "0" and a raw transaction "0" are two inputs with two records.
 */
export function envelopeRejectionId(body: string): string {
  return to0x(keccak256(new TextEncoder().encode(`parevm:ingress-message:${body}`)))
}
