/**
 * The decoded queue's messages: transactions the ingress function (functions/ingress.ts) took
 * off the ingress queue, decoded, recovered and checked, on their way to the sequencer, which
 * then skips recovery. Only the ingress function may send to this queue (infra/access.ts): the
 * sender travels with the transaction and is trusted as far as its public key goes. What the
 * sequencer checks is cheap: the hash is keccak-256 of the bytes, the sender is the key's
 * address, the fields read back from the bytes. A message that fails is one malformed-envelope
 * rejection, as a malformed ingress message is.
 *
 * Bytes travel in base64 (smaller than the hex of the ingress message they came in); a message
 * never passes the queue's size limit (`encodeDecodedMessages` cuts them).
 */
import { z } from 'zod'

import { keccak256 } from '../crypto/keccak.ts'
import { publicKeyToAddress } from '../crypto/secp256k1.ts'
import { bytesEqual, fromHex, toHex } from '../hex.ts'
import { parseJson } from '../pipeline/messages.ts'
import { QUEUE_LIMITS } from '../ports/queue.ts'
import { decodedFromParts } from './batch.ts'
import { malformedEnvelope, type MessageJudgement } from './ingress.ts'

import type { DecodedTx } from './decode.ts'
import type { IntakeTxView } from './tx-view.ts'
import type { TxView } from './tx-view.ts'

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64')
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `${bytes} bytes in lowercase hex`)

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
    v: z.literal(1),
    kind: z.literal('decoded'),
    txs: z.array(decodedTxSchema).min(1).max(1000),
    /** When the ingress message was sent (from the ingress queue), for latency. */
    sentAtMs: z.number().optional(),
  })
  .strict()
export type DecodedMessage = z.infer<typeof decodedMessageSchema>
export type DecodedMessageTx = z.infer<typeof decodedTxSchema>

export function decodedMessageTx(d: DecodedTx<TxView>): DecodedMessageTx {
  return {
    raw: Buffer.from(d.raw.buffer, d.raw.byteOffset, d.raw.byteLength).toString('base64'),
    sender: d.senderHex,
    hash: d.hashHex.slice(2),
    pub: Buffer.from(d.senderPubKey.buffer, d.senderPubKey.byteOffset, d.senderPubKey.byteLength).toString('base64'),
    intrinsicGas: (d.intrinsicGas ?? 0n).toString(),
  }
}

/** Message bodies for these transactions, in order, each within the queue's message size. */
export function encodeDecodedMessages(txs: readonly DecodedTx<TxView>[], sentAtMs?: number, limitBytes: number = QUEUE_LIMITS.messageBytes): string[] {
  const bodies: string[] = []
  const head = (): string => `{"v":1,"kind":"decoded",${sentAtMs !== undefined ? `"sentAtMs":${sentAtMs},` : ''}"txs":[`
  let parts: string[] = []
  let size = 0
  const flush = (): void => {
    if (parts.length === 0) return
    bodies.push(`${head()}${parts.join(',')}]}`)
    parts = []
    size = 0
  }
  const overhead = head().length + 2 + 20
  for (const tx of txs) {
    const part = JSON.stringify(decodedMessageTx(tx))
    if (parts.length > 0 && (parts.length >= 1000 || overhead + size + part.length + 1 > limitBytes)) flush()
    parts.push(part)
    size += part.length + 1
  }
  flush()
  return bodies
}

/**
 * A decoded message as the sequencer takes it: its transactions (senders as sent), or one
 * malformed-envelope rejection when it does not parse or a transaction's hash, sender or fields
 * do not check out.
 */
export function judgeDecodedBody(body: string, nowMs: number): MessageJudgement<TxView> {
  const parsed = decodedMessageSchema.safeParse(parseJson(body))
  if (!parsed.success) return { kind: 'malformed', rejection: malformedEnvelope(body, parsed.error.issues[0], nowMs) }
  const results: { ok: true; tx: DecodedTx<IntakeTxView> }[] = []
  for (const [i, t] of parsed.data.txs.entries()) {
    const problem = (what: string): MessageJudgement<TxView> => ({ kind: 'malformed', rejection: malformedEnvelope(body, { path: ['txs', i], message: what }, nowMs) })
    const raw = new Uint8Array(Buffer.from(t.raw, 'base64'))
    const pub = new Uint8Array(Buffer.from(t.pub, 'base64'))
    const hash = fromHex(t.hash)
    const sender = fromHex(t.sender)
    if (pub.length !== 64) return problem('public key is not 64 bytes')
    if (!bytesEqual(keccak256(raw), hash)) return problem('hash is not keccak-256 of the transaction')
    if (toHex(publicKeyToAddress(pub)) !== t.sender) return problem("sender is not the public key's address")
    let decoded: DecodedTx<IntakeTxView>
    try {
      decoded = decodedFromParts(raw, sender, pub, hash, BigInt(t.intrinsicGas))
    } catch (error) {
      return problem(`transaction does not decode: ${(error as Error).message}`)
    }
    results.push({ ok: true, tx: decoded })
  }
  return { kind: 'txs', results }
}
