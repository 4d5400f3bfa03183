/**
 * The machine's own scaling ceiling, measured in the same run: W threads each executing its
 * own transactions on its own copy of state, no coordination at all. The engine's scaling is
 * reported as a fraction of this (issue: "at least 90% of the ceiling on conflict-free blocks").
 */
import { Worker } from 'node:worker_threads'

import type { BlockEnv, ChainSpec } from '../shared/exec/block-env.ts'
import type { GenesisState } from '../shared/chain/genesis.ts'

export interface CeilingTx {
  raw: Uint8Array
  pubkey: Uint8Array
  sender: string
}

/** Throughput (tx/s) of `threads` independent executors, each on 1/threads of the transactions. */
export async function measureCeiling(genesis: GenesisState, chain: ChainSpec, env: BlockEnv, txs: readonly CeilingTx[], threads: number, warmup: readonly CeilingTx[] = []): Promise<number> {
  // Split by sender so each share is valid on its own (nonces stay in order).
  const shares: CeilingTx[][] = Array.from({ length: threads }, () => [])
  const owner = new Map<string, number>()
  for (const tx of txs) {
    let t = owner.get(tx.sender)
    if (t === undefined) {
      t = owner.size % threads
      owner.set(tx.sender, t)
    }
    shares[t]!.push(tx)
  }
  // Each thread warms up on its own share of the warm-up transactions (disjoint senders).
  const warmShares: CeilingTx[][] = Array.from({ length: threads }, (_, i) => warmup.filter((_, k) => k % threads === i))
  const entries = [...genesis.entries]
  const codes = [...genesis.codes]
  const entry = new URL('../shared/cluster/ts-worker-bootstrap.mjs', import.meta.url)
  const workers = shares.map(
    (share, k) =>
      new Worker(entry, {
        workerData: {
          __entry: new URL('./ceiling-thread.ts', import.meta.url).href,
          chain,
          env,
          entries,
          codes,
          txs: share.map(({ raw, pubkey }) => ({ raw, pubkey })),
          warmup: warmShares[k]!.map(({ raw, pubkey }) => ({ raw, pubkey })),
        },
      }),
  )
  try {
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve())
      w.once('error', reject)
    })))
    const results = await Promise.all(
      workers.map((w) => {
        const done = new Promise<{ ms: number; txs: number }>((resolve, reject) => {
          w.once('message', resolve)
          w.once('error', reject)
        })
        w.postMessage('go')
        return done
      }),
    )
    const slowest = Math.max(...results.map((r) => r.ms))
    return (txs.length / slowest) * 1000
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}
