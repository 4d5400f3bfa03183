/** A signing thread: signs every scheduled transaction whose sender it owns (see sign.ts). */
import { parentPort, workerData } from 'node:worker_threads'

import { commonFor, intentFor, senderKey, signRaw, type WorkloadContext } from './intents.ts'

import type { SignJob } from './sign.ts'

if (parentPort === null) throw new Error('sign-thread.ts must run in a worker thread')
const port = parentPort
const job = workerData as SignJob

try {
  const ctx: WorkloadContext = { ...job.ctx, chainId: BigInt(job.ctx.chainId) }
  const common = commonFor(ctx)
  const keys = new Map<number, Uint8Array>()
  const indices: number[] = []
  const raws: string[] = []
  const hashes: string[] = []
  const progressEvery = 500
  for (let i = 0; i < job.total; i++) {
    const s = i % ctx.accounts
    if (s % job.threads !== job.thread) continue
    let key = keys.get(s)
    if (key === undefined) {
      key = senderKey(ctx.seed, s)
      keys.set(s, key)
    }
    // Per-sender nonce bookkeeping: the sender's next nonce on the chain, plus its earlier
    // transactions in this schedule; sends keep this order, so no gap is self-inflicted.
    const nonce = BigInt(job.baseNonces[s]!) + BigInt(Math.floor(i / ctx.accounts))
    const signed = signRaw(common, key, nonce, intentFor(ctx, i), ctx.chainId)
    indices.push(i)
    raws.push(signed.raw)
    hashes.push(signed.hash)
    if (indices.length % progressEvery === 0) port.postMessage({ progress: progressEvery })
  }
  port.postMessage({ progress: indices.length % progressEvery })
  port.postMessage({ indices, raws, hashes })
} catch (error) {
  port.postMessage({ error: (error as Error)?.stack ?? String(error) })
}
