/**
 * One thread of the ceiling measurement: the engine's executor on its own copy of the genesis
 * state and its own transactions, with no store, queue or coordinator — the same per-transaction
 * work a worker does (senders pre-recovered, flat state view, writes applied, fees credited).
 */
import { parentPort, workerData } from 'node:worker_threads'

import { createTxFromRLP } from '@ethereumjs/tx'

import { Executor } from '../shared/exec/executor.ts'
import { txVersion } from '../shared/state/keys.ts'
import { ABSENT } from '../shared/state/values.ts'
import { BlockView } from '../shared/state/view.ts'

import type { BlockEnv, ChainSpec } from '../shared/exec/block-env.ts'

interface Job {
  chain: ChainSpec
  env: BlockEnv
  entries: [string, Uint8Array][]
  codes: [string, Uint8Array][]
  txs: { raw: Uint8Array; pubkey: Uint8Array }[]
  /** Executed first, untimed (JIT warm-up, as the engine's warm-up block and the baseline's). */
  warmup: { raw: Uint8Array; pubkey: Uint8Array }[]
}

const job = workerData as Job
const state = new Map(job.entries)
const codes = new Map(job.codes)
const executor = new Executor(job.chain)
parentPort!.once('message', async () => {
  const view = new BlockView(BigInt(job.env.number), {
    load: async (keys) => keys.map((k) => (state.has(k) ? { value: state.get(k)!, version: 1 } : ABSENT)),
    loadCode: async (hashes) => hashes.map((h) => codes.get(h)!),
  })
  await executor.beginBlock(job.env, view, () => undefined)
  const common = executor.txCommonForEnv(job.env)
  const coinbase = job.env.coinbase.slice(2).toLowerCase()
  let i = 0
  let t0 = performance.now()
  for (const { raw, pubkey } of [...job.warmup, ...job.txs]) {
    if (i === job.warmup.length) t0 = performance.now()
    const tx = createTxFromRLP(raw, { common })
    tx.cache.senderPubKey = pubkey
    const exec = await executor.execute(tx)
    if (!exec.valid) throw new Error(`ceiling transaction ${i} invalid: ${exec.invalidReason}`)
    const version = txVersion(BigInt(job.env.number), i++)
    view.applyWrites(exec.access.writes, version)
    view.addCodes(exec.access.codes)
    await view.credit(coinbase, exec.access.feeDelta, version)
  }
  parentPort!.postMessage({ ms: performance.now() - t0, txs: job.txs.length })
})
parentPort!.postMessage('ready')
