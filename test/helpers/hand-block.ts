/**
 * One block planned, executed and sealed by hand, without a cluster: `planOrderedBlock` (as
 * replay plans: no speculation, fresh templates), `ShardWorker.handle` for each shard message,
 * then the coordinator on the done messages. For tests that look at what one worker did.
 */
import { expect } from 'vitest'

import { genesisHead, initializeChain } from '../../shared/cluster/bootstrap.ts'
import { createChainCommon } from '../../shared/chain/common.ts'
import { nextBlockEnv } from '../../shared/chain/next-block.ts'
import { Coordinator, type SealedBlock } from '../../shared/coordinator/coordinator.ts'
import { sharedTxCommon } from '../../shared/exec/common-for.ts'
import { decodeRawTx, type DecodedTx } from '../../shared/intake/decode.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { planOrderedBlock } from '../../shared/sequencer/sequencer.ts'
import { Records } from '../../shared/store/records.ts'
import { ShardWorker } from '../../shared/worker/shard-worker.ts'
import { COINBASE } from './chain.ts'

import type { GenesisState } from '../../shared/chain/genesis.ts'
import type { Common } from '@ethereumjs/common'
import type { Clock } from '../../shared/ports/clock.ts'

const fixedClock: Clock = { now: () => 1_700_000_000_000, sleep: async () => {} }

export interface HandBlockOptions {
  /** Shards the sequencer is asked for (lanes; a large block is cut into more). */
  shardCount: number
  /** Shard messages the plan must make. */
  expectShards?: number
  /** One worker for every shard (in order), or a fresh worker per shard. */
  workers: 'one for all shards' | 'one per shard'
  /** The block's beneficiary (default COINBASE, an address without a key). */
  coinbase?: string
}

/** Seal one block of the transactions `sign` makes (raw, 0x-hex) on `genesis`. */
export async function sealByHand(genesis: GenesisState, sign: (txCommon: Common) => string[], o: HandBlockOptions): Promise<SealedBlock> {
  const kv = new MemoryKeyValueStore()
  await initializeChain(kv, genesis)
  const head = genesisHead(genesis)
  const common = createChainCommon(genesis.chainId, genesis.hardfork)
  const env = nextBlockEnv(head, common, { coinbase: o.coinbase ?? COINBASE, blockTimeSec: 12 })
  const txCommon = sharedTxCommon(common)
  const txs: DecodedTx[] = sign(txCommon).map((raw) => {
    const d = decodeRawTx(raw, { common: txCommon, blockGasLimit: BigInt(env.gasLimit) })
    if (!d.ok) throw new Error(d.rejection.reason)
    return d.tx
  })
  const shardQueue = new MemoryQueue({ name: 'shards' })
  const doneQueue = new MemoryQueue({ name: 'done' })
  await planOrderedBlock({ records: new Records(kv), shardQueue, clock: fixedClock, templates: new TemplateRegistry() }, { chain: genesis.chain, env, txs, head, shardCount: o.shardCount })
  const messages = await shardQueue.receive({ maxMessages: 10, waitMs: 0 })
  if (o.expectShards !== undefined) expect(messages.length).toBe(o.expectShards)
  const shared = new ShardWorker({ kv, shardQueue, doneQueue })
  for (const message of messages) await (o.workers === 'one for all shards' ? shared : new ShardWorker({ kv, shardQueue, doneQueue })).handle(message)
  const coordinator = new Coordinator({ kv, templates: new TemplateRegistry(), trie: genesis.trie, clock: fixedClock })
  let sealed: SealedBlock | undefined
  for (const message of await doneQueue.receive({ maxMessages: 10, waitMs: 0 })) {
    const outcome = await coordinator.handleDone(message)
    if (outcome.kind === 'sealed') sealed = outcome.sealed
  }
  if (sealed === undefined) throw new Error('not sealed')
  return sealed
}
