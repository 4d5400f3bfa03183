/**
 * The decoded queue's messages: transactions the ingress function (functions/ingress.ts) took
 * off the ingress queue, decoded, recovered and checked, on their way to the sequencer, which
 * then skips recovery. Only the ingress function may send to this queue (infra/access.ts): the
 * sender travels with the transaction and is trusted as far as its public key goes. What the
 * sequencer checks is cheap: the hash is keccak-256 of the bytes, the sender is the key's
 * address, the fields read back from the bytes.
 *
 * One decoded message carries the transactions of as many ingress messages as fit (all of one
 * invocation's, usually: `packDecodedMessages`), so the sequencer receives and deletes one
 * message where it would have handled one per ingress message. Nothing in a message says which
 * ingress message a transaction came in: the sequencer needs no more than the transaction, and a
 * transaction sent twice (an ingress message handled again) is dropped by hash as any copy is.
 *
 * What the sequencer refuses: a message that is not a version-1 decoded envelope is one
 * malformed-envelope rejection (its reason names what is wrong; its id is the body's, so a copy
 * is recorded once); an entry of a good envelope that does not check out is a malformed-envelope
 * rejection of that entry alone (under `decodedEntryRejectionId`), and the message's other
 * transactions go on: a message holds several ingress messages' transactions, and one bad entry
 * must not take the others, whose ingress messages are gone, with it.
 *
 * Bytes travel in base64 (smaller than the hex of the ingress message they came in); a message
 * stays `DECODED_MESSAGE_MARGIN_BYTES` under the queue's size limit.
 */
import { z } from 'zod'

import { keccak256 } from '../crypto/keccak.ts'
import { publicKeyToAddress } from '../crypto/secp256k1.ts'
import { bytesEqual, fromHex, to0x, toHex } from '../hex.ts'
import { parseJson } from '../pipeline/messages.ts'
import { chunkBySize } from '../pipeline/codec.ts'
import { QUEUE_LIMITS } from '../ports/queue.ts'
import { decodedFromParts } from './batch.ts'
import { malformedEnvelope, type MessageJudgement } from './ingress.ts'

import type { DecodedTx, IntakeResult } from './decode.ts'
import type { Rejection } from './rejection.ts'
import type { IntakeTxView } from './tx-view.ts'
import type { TxView } from './tx-view.ts'

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64')
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `${bytes} bytes in lowercase hex`)

/** The one version of the decoded message this code writes and reads. */
export const DECODED_MESSAGE_VERSION = 1

/** Most transactions in one decoded message. */
export const DECODED_TXS_MAX = 1000

/**
 * Room left under the queue's message size (SQS counts a message's attributes with its body; a
 * decoded message has none, and its JSON is ASCII, so characters are bytes: the margin only
 * guards against a miscount).
 */
export const DECODED_MESSAGE_MARGIN_BYTES = 4096

/** The largest decoded message body `packDecodedMessages` writes. */
export const DECODED_MESSAGE_BYTES_MAX = QUEUE_LIMITS.messageBytes - DECODED_MESSAGE_MARGIN_BYTES

/** One transaction: raw bytes, sender, hash, public key (all as intake found them), intrinsic gas. */
const decodedTxSchema = z
  .object({
    raw: base64.min(4),
    sender: hex(20),
    hash: hex(32),
    pub: base64.length(88),
    intrinsicGas: z.string().regex(/^[0-9]{1,20}$/),
  })
  .strict()

export const decodedMessageSchema = z
  .object({
    v: z.literal(DECODED_MESSAGE_VERSION),
    kind: z.literal('decoded'),
    txs: z.array(decodedTxSchema).min(1).max(DECODED_TXS_MAX),
    /** When the earliest of the ingress messages it carries was sent (from the ingress queue), for latency. */
    sentAtMs: z.number().optional(),
  })
  .strict()
export type DecodedMessage = z.infer<typeof decodedMessageSchema>
export type DecodedMessageTx = z.infer<typeof decodedTxSchema>

/** The envelope as the sequencer reads it first: its entries are checked one by one after. */
const decodedEnvelopeSchema = z
  .object({
    v: z.number(),
    kind: z.literal('decoded'),
    txs: z.array(z.unknown()).min(1).max(DECODED_TXS_MAX),
    sentAtMs: z.number().optional(),
  })
  .strict()

export function decodedMessageTx(d: DecodedTx<TxView>): DecodedMessageTx {
  return {
    raw: Buffer.from(d.raw.buffer, d.raw.byteOffset, d.raw.byteLength).toString('base64'),
    sender: d.senderHex,
    hash: d.hashHex.slice(2),
    pub: Buffer.from(d.senderPubKey.buffer, d.senderPubKey.byteOffset, d.senderPubKey.byteLength).toString('base64'),
    intrinsicGas: (d.intrinsicGas ?? 0n).toString(),
  }
}

/** One decoded message body and how many of the packed transactions it holds (in order). */
export interface PackedMessage {
  body: string
  txs: number
}

/**
 * Bodies for these transactions, in order, as few as fit: each within `limitBytes` (default
 * `DECODED_MESSAGE_BYTES_MAX`) and `DECODED_TXS_MAX` transactions. `sentAtMs`: the earliest
 * send time of the ingress messages they came in. A transaction is never split; one larger than
 * the limit (it cannot be: an ingress message is under the same limit and base64 is smaller than
 * its hex) would go alone and be refused by the queue with nothing sent.
 */
export function packDecodedMessages(txs: readonly DecodedTx<TxView>[], sentAtMs?: number, limitBytes: number = DECODED_MESSAGE_BYTES_MAX): PackedMessage[] {
  const out: PackedMessage[] = []
  const head = `{"v":${DECODED_MESSAGE_VERSION},"kind":"decoded",${sentAtMs !== undefined && Number.isFinite(sentAtMs) ? `"sentAtMs":${sentAtMs},` : ''}"txs":[`
  const tail = ']}'
  let parts: string[] = []
  // The body's length so far: head, parts, the commas between them, tail.
  let size = head.length + tail.length
  const flush = (): void => {
    if (parts.length === 0) return
    out.push({ body: `${head}${parts.join(',')}${tail}`, txs: parts.length })
    parts = []
    size = head.length + tail.length
  }
  for (const tx of txs) {
    const part = JSON.stringify(decodedMessageTx(tx))
    const grown = size + part.length + (parts.length > 0 ? 1 : 0)
    if (parts.length > 0 && (parts.length >= DECODED_TXS_MAX || grown > limitBytes)) flush()
    size += part.length + (parts.length > 0 ? 1 : 0)
    parts.push(part)
  }
  flush()
  return out
}

/** Message bodies for these transactions, in order, each within the limit (`packDecodedMessages`). */
export function encodeDecodedMessages(txs: readonly DecodedTx<TxView>[], sentAtMs?: number, limitBytes: number = DECODED_MESSAGE_BYTES_MAX): string[] {
  return packDecodedMessages(txs, sentAtMs, limitBytes).map((m) => m.body)
}

/**
 * Bodies grouped into as few SendMessageBatch calls as the queue takes: at most
 * `QUEUE_LIMITS.batchEntries` entries and `QUEUE_LIMITS.messageBytes` of bodies a call (SQS's
 * batch payload limit is its message limit), in order. Indices into `bodies`.
 */
export function sendBatchesOf(bodies: readonly string[], batchBytes: number = QUEUE_LIMITS.messageBytes): number[][] {
  if (bodies.length === 0) return []
  return chunkBySize(
    bodies.map((_, i) => i),
    (i) => Buffer.byteLength(bodies[i]!),
    batchBytes,
    QUEUE_LIMITS.batchEntries,
  )
}

/**
 * The id of a decoded message entry's rejection (an entry that does not check out): keccak-256
 * of the entry as read, with a prefix, so it is never a transaction's or an ingress message's id,
 * and the same entry sent again is the same input.
 */
export function decodedEntryRejectionId(entry: unknown): string {
  return to0x(keccak256(new TextEncoder().encode(`parevm:decoded-entry:${JSON.stringify(entry)}`)))
}

function entryRejection(entry: unknown, index: number, what: string, nowMs: number): Rejection {
  const raw = typeof entry === 'object' && entry !== null && typeof (entry as { raw?: unknown }).raw === 'string' ? (entry as { raw: string }).raw : JSON.stringify(entry) ?? ''
  return {
    id: decodedEntryRejectionId(entry),
    code: 'malformed-envelope',
    reason: `decoded message entry ${index} does not check out: ${what}`,
    inputPrefix: raw.slice(0, 32),
    atMs: nowMs,
  }
}

/** One entry of a decoded message: the transaction as sent, or why it is refused. */
function judgeDecodedEntry(entry: unknown, index: number, nowMs: number): IntakeResult<IntakeTxView> {
  const problem = (what: string): IntakeResult<IntakeTxView> => ({ ok: false, rejection: entryRejection(entry, index, what, nowMs) })
  const parsed = decodedTxSchema.safeParse(entry)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return problem(`${issue?.path.join('.') || 'entry'}: ${issue?.message ?? 'invalid'}`)
  }
  const t = parsed.data
  const raw = new Uint8Array(Buffer.from(t.raw, 'base64'))
  const pub = new Uint8Array(Buffer.from(t.pub, 'base64'))
  const hash = fromHex(t.hash)
  const sender = fromHex(t.sender)
  if (pub.length !== 64) return problem('public key is not 64 bytes')
  if (!bytesEqual(keccak256(raw), hash)) return problem('hash is not keccak-256 of the transaction')
  if (toHex(publicKeyToAddress(pub)) !== t.sender) return problem("sender is not the public key's address")
  try {
    return { ok: true, tx: decodedFromParts(raw, sender, pub, hash, BigInt(t.intrinsicGas)) }
  } catch (error) {
    return problem(`transaction does not decode: ${(error as Error).message}`)
  }
}

const DECODED_ENVELOPE = 'decoded-queue message is not a decoded envelope'

/**
 * A decoded message as the sequencer takes it: one malformed-envelope rejection when it is not a
 * version-1 decoded envelope, else each entry's transaction (sender as sent) or, for an entry
 * whose hash, sender or fields do not check out, that entry's rejection (see the file comment).
 */
export function judgeDecodedBody(body: string, nowMs: number): MessageJudgement<TxView> {
  const json = parseJson(body)
  const version = typeof json === 'object' && json !== null ? (json as { v?: unknown }).v : undefined
  if (typeof version === 'number' && version !== DECODED_MESSAGE_VERSION && (json as { kind?: unknown }).kind === 'decoded') {
    const message = `version ${version} is not one this sequencer reads (it reads version ${DECODED_MESSAGE_VERSION})`
    return { kind: 'malformed', rejection: malformedEnvelope(body, { path: ['v'], message }, nowMs, DECODED_ENVELOPE) }
  }
  const parsed = decodedEnvelopeSchema.safeParse(json)
  if (!parsed.success) return { kind: 'malformed', rejection: malformedEnvelope(body, parsed.error.issues[0], nowMs, DECODED_ENVELOPE) }
  return { kind: 'txs', results: parsed.data.txs.map((entry, i) => judgeDecodedEntry(entry, i, nowMs)) }
}
