/**
 * One ingress message judged without state: a malformed envelope is one rejection (under
 * `envelopeRejectionId` of its body); a well-formed one is each of its raw transactions decoded
 * and checked on its own (`decodeRawTx`). The sequencer (inline), the intake threads and the
 * ingress function all judge a message with this, so they take the same decisions.
 */
import { envelopeRejectionId, ingressMessageSchema, parseJson } from '../pipeline/messages.ts'
import { decodeRawTx, type IntakeContext, type IntakeResult } from './decode.ts'

import type { Rejection } from './rejection.ts'
import type { TxView } from './tx-view.ts'
import type { TypedTransaction } from '@ethereumjs/tx'

export type MessageJudgement<T extends TxView = TypedTransaction> = { kind: 'malformed'; rejection: Rejection } | { kind: 'txs'; results: IntakeResult<T>[] }

/** `what`: the sentence's subject (the decoded queue's messages say they are not decoded envelopes). */
export function malformedEnvelope(body: string, issue: { path: readonly PropertyKey[]; message: string } | undefined, atMs: number, what = 'ingress message is not a transaction envelope'): Rejection {
  return {
    id: envelopeRejectionId(body),
    code: 'malformed-envelope',
    reason: `${what}: ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`,
    inputPrefix: body.slice(0, 32),
    atMs,
  }
}

export function judgeIngressBody(body: string, ctx: IntakeContext): MessageJudgement {
  const parsed = ingressMessageSchema.safeParse(parseJson(body))
  if (!parsed.success) return { kind: 'malformed', rejection: malformedEnvelope(body, parsed.error.issues[0], (ctx.clock ?? Date.now)()) }
  const raws = 'raw' in parsed.data ? [parsed.data.raw] : parsed.data.txs
  return { kind: 'txs', results: raws.map((raw) => decodeRawTx(raw, ctx)) }
}
