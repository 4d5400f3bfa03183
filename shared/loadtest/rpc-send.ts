/**
 * Injection through a JSON-RPC endpoint instead of the ingress queue (`parevm loadtest --via
 * rpc`): each injector call becomes one JSON-RPC batch of eth_sendRawTransaction. Concurrent
 * calls may reach the endpoint out of order, so a transaction refused as `nonce too high` (its
 * predecessor not yet accepted) is retried a few times; any other refusal fails the call.
 */
import { ParevmError } from '../errors.ts'

import type { SendEntry } from '../ports/queue.ts'

const RETRIES = 8
const RETRY_MS = 50

interface RpcAnswer {
  id: number
  result?: string
  error?: { code: number; message: string }
}

function rawsOf(entries: readonly SendEntry[]): string[] {
  const raws: string[] = []
  for (const e of entries) {
    const body = JSON.parse(e.body) as { raw?: string; txs?: string[] }
    if (body.raw !== undefined) raws.push(body.raw)
    else raws.push(...(body.txs ?? []))
  }
  return raws
}

async function postBatch(url: string, raws: readonly string[]): Promise<RpcAnswer[]> {
  const body = JSON.stringify(raws.map((raw, id) => ({ jsonrpc: '2.0', id, method: 'eth_sendRawTransaction', params: [raw] })))
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  const text = await res.text()
  if (!res.ok) throw new ParevmError(`JSON-RPC endpoint ${url} answered HTTP ${res.status}: ${text.slice(0, 200)}`)
  const parsed = JSON.parse(text) as RpcAnswer[] | RpcAnswer
  if (!Array.isArray(parsed)) throw new ParevmError(`JSON-RPC endpoint ${url} refused the batch: ${parsed.error?.message ?? text.slice(0, 200)}`)
  return parsed
}

/** A `send` for the injector that posts to a JSON-RPC endpoint. */
export function rpcSender(url: string): (entries: SendEntry[]) => Promise<void> {
  return async (entries) => {
    let pending = rawsOf(entries)
    for (let attempt = 0; pending.length > 0; attempt++) {
      const answers = await postBatch(url, pending)
      const byId = new Map(answers.map((a) => [a.id, a]))
      const retry: string[] = []
      const refused: string[] = []
      pending.forEach((raw, i) => {
        const a = byId.get(i)
        if (a?.result !== undefined) return
        const message = a?.error?.message ?? 'no answer'
        if (/nonce too high/.test(message) && attempt < RETRIES) retry.push(raw)
        else refused.push(message)
      })
      if (refused.length > 0) throw new ParevmError(`${refused.length} of ${pending.length} transaction(s) refused by ${url}: ${refused[0]}`)
      pending = retry
      if (pending.length > 0) await new Promise((r) => setTimeout(r, RETRY_MS * (attempt + 1)))
    }
  }
}
