/**
 * A worker that executes several contiguous shards of one block runs each on the view of its
 * earlier ones: a later shard reads what they wrote, not block-start values that validation
 * would find stale. Validation compares every read with the settled prefix by value, so the
 * sealed block is the same either way; only the re-executions differ.
 */
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { privateToAddress } from '@ethereumjs/util'
import { describe, expect, it } from 'vitest'

import { bigintToHex, to0x } from '../../shared/hex.ts'
import { CHAIN_ID, ETH, GWEI, testGenesis } from '../helpers/chain.ts'
import { sealByHand } from '../helpers/hand-block.ts'

import type { SealedBlock } from '../../shared/coordinator/coordinator.ts'
import type { Common } from '@ethereumjs/common'

// A counter: slot 0 += 1. No template knows it, so every call is predicted to touch only its
// sender and the contract, and calls in different shards depend on each other unseen.
const COUNTER = `0x${'c1'.repeat(20)}`
const COUNTER_CODE = '0x60005460010160005500'
const CALLS = 520 // more than 2 x 250: one lane is cut into 3 contiguous shards

// The test helpers' keys repeat past 255: senders of their own here.
const senderKey = (i: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, b) => (b === 0 ? 1 : b === 30 ? i >> 8 : b === 31 ? i & 0xff : 0))
const sender = (i: number): string => to0x(privateToAddress(senderKey(i)))

async function sealWith(workers: 'one for all shards' | 'one per shard'): Promise<SealedBlock> {
  const alloc: Record<string, { balance: string; code?: string }> = { [COUNTER]: { balance: '0x0', code: COUNTER_CODE } }
  for (let i = 0; i < CALLS; i++) alloc[sender(i)] = { balance: bigintToHex(ETH) }
  const genesis = testGenesis({ accounts: 0, extraAlloc: alloc })
  const sign = (txCommon: Common): string[] =>
    Array.from({ length: CALLS }, (_, i) =>
      to0x(createFeeMarket1559Tx({ chainId: CHAIN_ID, nonce: 0n, to: COUNTER as `0x${string}`, gasLimit: 60_000n, maxFeePerGas: 100n * GWEI, maxPriorityFeePerGas: GWEI }, { common: txCommon }).sign(senderKey(i)).serialize()),
    )
  return sealByHand(genesis, sign, { shardCount: 1, expectShards: 3, workers })
}

describe("a worker's later shards of a block", () => {
  it("read its earlier shards' writes: no re-execution, and the same block as without", async () => {
    const carried = await sealWith('one for all shards')
    const apart = await sealWith('one per shard')
    expect(carried.report.included).toBe(CALLS)
    expect(carried.report.timings.workerCarriedShards).toBe(2)
    expect(apart.report.timings.workerCarriedShards).toBe(0)
    // Apart, the second and third shards read the counter at block start: stale, run again.
    expect(apart.report.reexecuted).toBeGreaterThan(0)
    expect(carried.report.reexecuted).toBe(0)
    expect(carried.record.hash).toBe(apart.record.hash)
    expect(carried.head).toEqual(apart.head)
    expect(JSON.stringify(carried.receipts)).toBe(JSON.stringify(apart.receipts))
  })
})
