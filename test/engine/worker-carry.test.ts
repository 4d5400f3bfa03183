/**
 * A worker that executes several contiguous shards of one block runs each on the view of its
 * earlier ones: a later shard reads what they wrote, not block-start values that validation
 * would find stale. Validation compares every read with the settled prefix by value, so the
 * sealed block is the same either way; only the re-executions differ.
 */
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { privateToAddress } from '@ethereumjs/util'
import { describe, expect, it } from 'vitest'

import { genesisHead, initializeChain } from '../../shared/cluster/bootstrap.ts'
import { createChainCommon } from '../../shared/chain/common.ts'
import { nextBlockEnv } from '../../shared/chain/next-block.ts'
import { Coordinator, type SealedBlock } from '../../shared/coordinator/coordinator.ts'
import { sharedTxCommon } from '../../shared/exec/common-for.ts'
import { bigintToHex, to0x } from '../../shared/hex.ts'
import { decodeRawTx, type DecodedTx } from '../../shared/intake/decode.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { planOrderedBlock } from '../../shared/sequencer/sequencer.ts'
import { Records } from '../../shared/store/records.ts'
import { ShardWorker } from '../../shared/worker/shard-worker.ts'
import { CHAIN_ID, COINBASE, ETH, GWEI, testGenesis } from '../helpers/chain.ts'

import type { Clock } from '../../shared/ports/clock.ts'

// A counter: slot 0 += 1. No template knows it, so every call is predicted to touch only its
// sender and the contract, and calls in different shards depend on each other unseen.
const COUNTER = `0x${'c1'.repeat(20)}`
const COUNTER_CODE = '0x60005460010160005500'
const CALLS = 520 // more than 2 x 250: one lane is cut into 3 contiguous shards
const fixedClock: Clock = { now: () => 1_700_000_000_000, sleep: async () => {} }

// The test helpers' keys repeat past 255: senders of their own here.
const senderKey = (i: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, b) => (b === 0 ? 1 : b === 30 ? i >> 8 : b === 31 ? i & 0xff : 0))
const sender = (i: number): string => to0x(privateToAddress(senderKey(i)))

async function sealWith(workers: 'one for all shards' | 'one per shard'): Promise<SealedBlock> {
  const alloc: Record<string, { balance: string; code?: string }> = { [COUNTER]: { balance: '0x0', code: COUNTER_CODE } }
  for (let i = 0; i < CALLS; i++) alloc[sender(i)] = { balance: bigintToHex(ETH) }
  const genesis = testGenesis({ accounts: 0, extraAlloc: alloc })
  const kv = new MemoryKeyValueStore()
  await initializeChain(kv, genesis)
  const head = genesisHead(genesis)
  const common = createChainCommon(genesis.chainId, genesis.hardfork)
  const env = nextBlockEnv(head, common, { coinbase: COINBASE, blockTimeSec: 12 })
  const txCommon = sharedTxCommon(common)
  const txs: DecodedTx[] = Array.from({ length: CALLS }, (_, i) => {
    const tx = createFeeMarket1559Tx({ chainId: CHAIN_ID, nonce: 0n, to: COUNTER as `0x${string}`, gasLimit: 60_000n, maxFeePerGas: 100n * GWEI, maxPriorityFeePerGas: GWEI }, { common: txCommon })
    const d = decodeRawTx(to0x(tx.sign(senderKey(i)).serialize()), { common: txCommon, blockGasLimit: BigInt(env.gasLimit) })
    if (!d.ok) throw new Error(d.rejection.reason)
    return d.tx
  })
  const shardQueue = new MemoryQueue({ name: 'shards' })
  const doneQueue = new MemoryQueue({ name: 'done' })
  await planOrderedBlock({ records: new Records(kv), shardQueue, clock: fixedClock, templates: new TemplateRegistry() }, { chain: genesis.chain, env, txs, head, shardCount: 1 })
  const messages = await shardQueue.receive({ maxMessages: 10, waitMs: 0 })
  expect(messages.length).toBe(3)
  const shared = new ShardWorker({ kv, shardQueue, doneQueue })
  for (const message of messages) await (workers === 'one for all shards' ? shared : new ShardWorker({ kv, shardQueue, doneQueue })).handle(message)
  const coordinator = new Coordinator({ kv, templates: new TemplateRegistry(), trie: genesis.trie, clock: fixedClock })
  let sealed: SealedBlock | undefined
  for (const message of await doneQueue.receive({ maxMessages: 10, waitMs: 0 })) {
    const outcome = await coordinator.handleDone(message)
    if (outcome.kind === 'sealed') sealed = outcome.sealed
  }
  if (sealed === undefined) throw new Error('not sealed')
  return sealed
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
