/**
 * The ingress function (issue 16.2): intake off the sequencer. An SQS event source on the
 * ingress queue hands it batches of ingress messages; it judges each (decode, recover the
 * sender, hash, the stateless checks: shared/intake/ingress.ts, the code the sequencer runs
 * inline), records the rejections (the same rejection records, put-if-absent, none for an input
 * that already has a record) and forwards the accepted transactions to the decoded queue
 * (shared/intake/decoded-message.ts), where the sequencer takes them without recovering senders.
 *
 * Exactly once: a message is acknowledged (the event source deletes it) only after its
 * rejections are stored and its transactions sent. A message handled twice (a crash, a
 * redelivery) stores nothing twice (put-if-absent) and sends its transactions again, which the
 * sequencer drops as it drops any resubmission (same hash in one intake, or a receipt already).
 * Failures are reported per message (partial batch responses): only those come back.
 *
 * Status: the handler core (`handleIngressMessages`) is tested over the in-process ports; the
 * Lambda entry, the decoded queue in shared/resources.ts and the CDK construct are not wired
 * yet (see docs/deploy.md, "Ingress function").
 */
import { Records } from '../shared/store/records.ts'
import { commonFor, sharedTxCommon } from '../shared/exec/common-for.ts'
import { encodeDecodedMessages } from '../shared/intake/decoded-message.ts'
import { judgeIngressBody } from '../shared/intake/ingress.ts'
import { ConfigError } from '../shared/errors.ts'

import type { ChainSpec } from '../shared/exec/block-env.ts'
import type { DecodedTx } from '../shared/intake/decode.ts'
import type { Rejection } from '../shared/intake/rejection.ts'
import type { KeyValueStore } from '../shared/ports/kv-store.ts'
import type { Queue, QueueMessage } from '../shared/ports/queue.ts'

export interface IngressDeps {
  kv: KeyValueStore
  /** Where the sequencer takes decoded transactions (only this function may send to it). */
  decoded: Queue
  chain: ChainSpec
  blockTimeSec: number
  clock?: () => number
}

export interface IngressOutcome {
  /** Message ids to report as failed (SQS delivers them again). */
  failed: string[]
  forwarded: number
  rejected: Rejection[]
  /** Inputs that already had a record, or came twice in this batch. */
  duplicates: number
}

/** Judge a batch of ingress messages, record rejections, forward the rest; see the file comment. */
export async function handleIngressMessages(deps: IngressDeps, messages: readonly QueueMessage[]): Promise<IngressOutcome> {
  const records = new Records(deps.kv)
  const clock = deps.clock ?? Date.now
  const head = await records.getHead()
  if (head === undefined) throw new ConfigError('the store has no chain head: bootstrap the chain (genesis) first')
  // The rules of the next block (as the sequencer's intake judges them).
  const number = BigInt(head.number) + 1n
  const common = commonFor(deps.chain, number, BigInt(head.timestamp) + BigInt(deps.blockTimeSec))
  const ctx = { common: sharedTxCommon(common), blockGasLimit: BigInt(head.gasLimit), clock }

  const seen = new Set<string>()
  let duplicates = 0
  const perMessage = messages.map((message) => {
    const judged = judgeIngressBody(message.body, ctx)
    const rejections: Rejection[] = []
    const txs: DecodedTx[] = []
    const results = judged.kind === 'malformed' ? [{ ok: false as const, rejection: judged.rejection }] : judged.results
    for (const r of results) {
      const id = r.ok ? r.tx.hashHex : r.rejection.id
      if (seen.has(id)) {
        duplicates++
        continue
      }
      seen.add(id)
      if (r.ok) txs.push(r.tx)
      else rejections.push(r.rejection)
    }
    return { message, rejections, txs }
  })

  // What was decided before (a receipt or a rejection) is final: neither recorded nor forwarded again.
  const ids = perMessage.flatMap((m) => [...m.rejections.map((r) => r.id), ...m.txs.map((t) => t.hashHex)])
  const known = new Set<string>()
  const found = ids.length === 0 ? [] : await records.getReceipts(ids)
  ids.forEach((id, i) => {
    if (found[i] !== undefined) known.add(id)
  })

  const outcome: IngressOutcome = { failed: [], forwarded: 0, rejected: [], duplicates }
  for (const m of perMessage) {
    try {
      const rejections = m.rejections.filter((r) => !known.has(r.id))
      const txs = m.txs.filter((t) => !known.has(t.hashHex))
      outcome.duplicates += m.rejections.length - rejections.length + m.txs.length - txs.length
      for (const r of rejections) await records.putRejection(r)
      const bodies = encodeDecodedMessages(txs, m.message.sentAtMs)
      if (bodies.length > 0) await deps.decoded.send(bodies.map((body) => ({ body })))
      outcome.rejected.push(...rejections)
      outcome.forwarded += txs.length
    } catch {
      outcome.failed.push(m.message.id)
    }
  }
  return outcome
}
