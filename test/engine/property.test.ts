/**
 * The property test of the whole pipeline: random workloads with random conflict levels, shard
 * and worker counts, and seeded faults (duplicated and delayed messages, workers crashing after
 * staging, before acknowledging). Every sealed block must pass the sequential check, and every
 * transaction must be accounted for exactly once: included in one block, or rejected.
 * fast-check prints the seed and the counterexample on failure; `seed` below replays it.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { buildGenesis } from '../../shared/chain/genesis.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { fromHex, to0x } from '../../shared/hex.ts'
import { Records } from '../../shared/store/records.ts'
import { generateWorkload, WORKLOAD_MIXES } from '../../shared/workload/generator.ts'
import { runInline } from '../helpers/chain.ts'

const RUNS = Number(process.env.PAREVM_PROPERTY_RUNS ?? 24)

describe('pipeline property', () => {
  it('faults really happen in fault-injection runs (duplicates, delays, redelivered shards)', async () => {
    const w = generateWorkload({ txs: 40, mix: 'mixed', accounts: 10, hotShare: 0.3, pools: 3, seed: 5 })
    let stats: ReturnType<import('../../shared/cluster/embedded.ts').EmbeddedCluster['faultStats']> | undefined
    const { summary } = await runInline(buildGenesis(w.genesis), w.rawTxs, {
      workers: 2,
      shards: 3,
      blockSize: 10,
      visibilityTimeoutMs: 200,
      faults: { seed: 5, duplicate: 1, delay: 0.5, delayMsMax: 30, workerCrash: 0.5 },
      onStop: (c) => {
        stats = c.faultStats()
      },
    })
    expect(summary.included).toBe(40)
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    expect(stats!.duplicated).toBeGreaterThan(0)
    expect(stats!.delayed).toBeGreaterThan(0)
    expect(stats!.shardRedeliveries).toBeGreaterThan(0)
  })

  it('every block equals sequential execution; no transaction lost or applied twice, under duplication, delay and crashes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          mix: fc.constantFrom(...WORKLOAD_MIXES),
          hotShare: fc.double({ min: 0, max: 1, noNaN: true }),
          workers: fc.integer({ min: 1, max: 4 }),
          shards: fc.integer({ min: 1, max: 6 }),
          blockSize: fc.integer({ min: 5, max: 60 }),
          txs: fc.integer({ min: 10, max: 90 }),
          accounts: fc.integer({ min: 3, max: 30 }),
          seed: fc.integer({ min: 1, max: 1_000_000 }),
          duplicate: fc.double({ min: 0, max: 0.3, noNaN: true }),
          delay: fc.double({ min: 0, max: 0.3, noNaN: true }),
          workerCrash: fc.double({ min: 0, max: 0.2, noNaN: true }),
          afterStageCrash: fc.double({ min: 0, max: 0.2, noNaN: true }),
          perMessage: fc.integer({ min: 1, max: 4 }),
        }),
        async (p) => {
          const w = generateWorkload({ txs: p.txs, mix: p.mix, accounts: p.accounts, hotShare: p.hotShare, pools: 3, seed: p.seed })
          const { summary, events, cluster } = await runInline(buildGenesis(w.genesis), w.rawTxs, {
            workers: p.workers,
            shards: p.shards,
            blockSize: p.blockSize,
            perMessage: p.perMessage,
            visibilityTimeoutMs: 300,
            faults: { seed: p.seed, duplicate: p.duplicate, delay: p.delay, delayMsMax: 40, workerCrash: p.workerCrash, afterStageCrash: p.afterStageCrash },
          })
          // The sequential check ran on every block (a difference throws inside runInline).
          expect(summary.verifiedBlocks).toBe(summary.blocks)
          // Exactly once: each submitted transaction is included in exactly one block.
          const included = new Map<string, string>()
          for (const e of events) {
            for (const r of e.sealed.receipts) {
              expect(included.has(r.txHash), `${r.txHash} included twice`).toBe(false)
              included.set(r.txHash, r.block)
            }
          }
          const hashes = w.rawTxs.map((raw) => to0x(keccak256(fromHex(raw))))
          const records = new Records(cluster.kv)
          const stored = await records.getReceipts(hashes)
          hashes.forEach((hash, i) => {
            const record = stored[i]
            expect(record, `transaction ${i} (${hash}) has no receipt or rejection`).toBeDefined()
            if (record!.kind === 'receipt') expect(included.get(hash)).toBe(record!.block)
          })
          // Workload transactions are all valid: every one is included.
          expect(summary.included).toBe(p.txs)
          expect(included.size).toBe(p.txs)
        },
      ),
      { numRuns: RUNS, ...(process.env.PAREVM_PROPERTY_SEED === undefined ? {} : { seed: Number(process.env.PAREVM_PROPERTY_SEED) }) },
    )
  })
})

describe('a worker that crashes after staging', () => {
  it('is redelivered and reports the staged part count (not the plan\'s): the block seals correctly', async () => {
    // 450 ERC20 transfers in one shard: one plan part, two staged parts.
    const w = generateWorkload({ txs: 450, mix: 'erc20', accounts: 450, hotShare: 0, pools: 1, seed: 9 })
    const { summary, events } = await runInline(buildGenesis(w.genesis), w.rawTxs, {
      workers: 1,
      shards: 1,
      blockSize: 450,
      visibilityTimeoutMs: 400,
      faults: { seed: 2, duplicate: 0, delay: 0, delayMsMax: 0, workerCrash: 0, afterStageCrash: 1 },
      sealTimeoutMs: 60_000,
    })
    expect(summary.included).toBe(450)
    expect(summary.verifiedBlocks).toBe(1)
    expect(events[0]!.sealed.report.shards).toBe(1)
  })
})
