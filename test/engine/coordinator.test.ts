/**
 * The coordinator's early work: each done message takes its shard in (load) and settles what
 * the prefix allows, before the last shard is done. It must change nothing in what is sealed:
 * the same block, receipts, rejections and head as a seal that loads every shard at once, also
 * when the early work fails midway (it is dropped and the seal starts over).
 */
import { describe, expect, it } from 'vitest'

import { genesisHead, initializeChain } from '../../shared/cluster/bootstrap.ts'
import { createChainCommon } from '../../shared/chain/common.ts'
import { nextBlockEnv } from '../../shared/chain/next-block.ts'
import { Coordinator, type SealedBlock } from '../../shared/coordinator/coordinator.ts'
import { receiptJsonWithHash } from '../../shared/coordinator/settle.ts'
import { BackendError } from '../../shared/errors.ts'
import { sharedTxCommon } from '../../shared/exec/common-for.ts'
import { decodeRawTx, type DecodedTx } from '../../shared/intake/decode.ts'
import { doneMessageSchema } from '../../shared/pipeline/messages.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { planOrderedBlock } from '../../shared/sequencer/sequencer.ts'
import { Records } from '../../shared/store/records.ts'
import { ShardWorker } from '../../shared/worker/shard-worker.ts'
import { addressOf, COINBASE, signTx, testGenesis } from '../helpers/chain.ts'

import { ForwardingKeyValueStore, type Item, type ItemKey, type KeyValueStore } from '../../shared/ports/kv-store.ts'
import type { Clock } from '../../shared/ports/clock.ts'

// COINBASE BALANCE PUSH1 0 SSTORE STOP: reads the beneficiary's balance, which every earlier
// transaction changed (fees), so a worker's result is stale and the coordinator re-executes it.
const READER = `0x${'be'.repeat(20)}`
const READER_CODE = '0x4131600055' + '00'
const SHARDS = 3
const fixedClock: Clock = { now: () => 1_700_000_000_000, sleep: async () => {} }

/** Records the keys of the state items read through it. */
class StateReads extends ForwardingKeyValueStore {
  readonly keys: string[] = []
  override async get(keys: readonly ItemKey[]): Promise<(Item | undefined)[]> {
    for (const k of keys) if (k.table === 'state') this.keys.push(k.pk)
    return this.inner.get(keys)
  }
}

/** Fails the first `get` of staged results (a throttled read in the early work). */
class FailOnceOnStaged extends ForwardingKeyValueStore {
  failed = false
  override async get(keys: readonly ItemKey[]): Promise<(Item | undefined)[]> {
    if (!this.failed && keys.some((k) => k.table === 'staged')) {
      this.failed = true
      throw new BackendError('injected: a staged read failed')
    }
    return this.inner.get(keys)
  }
}

/**
 * One block through the real roles: planned in three shards, executed by a worker, and sealed
 * by a coordinator that gets the done messages one at a time (`early`) or is asked to seal
 * once every shard is marked done (`at-once`).
 */
async function sealOneBlock(delivery: 'early' | 'at-once' | 'early, failing once', wrap?: (memory: KeyValueStore) => KeyValueStore): Promise<{ sealed: SealedBlock; kv: KeyValueStore }> {
  const genesis = testGenesis({ accounts: 16, extraAlloc: { [READER]: { balance: '0x0', code: READER_CODE } } })
  const memory = new MemoryKeyValueStore()
  await initializeChain(memory, genesis)
  const kv = delivery === 'early, failing once' ? new FailOnceOnStaged(memory) : wrap !== undefined ? wrap(memory) : memory
  const head = genesisHead(genesis)
  const common = createChainCommon(genesis.chainId, genesis.hardfork)
  const env = nextBlockEnv(head, common, { coinbase: COINBASE, blockTimeSec: 12 })
  const raws: string[] = []
  for (let i = 0; i < 12; i++) raws.push(signTx({ from: i, nonce: 0, to: addressOf(20 + (i % 4)), value: BigInt(i + 1) }))
  raws.push(signTx({ from: 12, nonce: 0, to: READER, gasLimit: 100_000n }))
  raws.push(signTx({ from: 13, nonce: 5, to: addressOf(21), value: 1n })) // a nonce gap: rejected at its position
  raws.push(signTx({ from: 14, nonce: 0, to: READER, gasLimit: 100_000n }))
  raws.push(signTx({ from: 15, nonce: 0, gasLimit: 100_000n })) // a creation without code
  const txCommon = sharedTxCommon(common)
  const txs: DecodedTx[] = raws.map((raw) => {
    const d = decodeRawTx(raw, { common: txCommon, blockGasLimit: BigInt(env.gasLimit) })
    if (!d.ok) throw new Error(d.rejection.reason)
    return d.tx
  })
  const shardQueue = new MemoryQueue({ name: 'shards' })
  const doneQueue = new MemoryQueue({ name: 'done' })
  const records = new Records(kv)
  await planOrderedBlock({ records, shardQueue, clock: fixedClock, templates: new TemplateRegistry() }, { chain: genesis.chain, env, txs, head, shardCount: SHARDS })
  const worker = new ShardWorker({ kv: memory, shardQueue, doneQueue })
  for (const message of await shardQueue.receive({ maxMessages: 10, waitMs: 0 })) await worker.handle(message)
  const done = await doneQueue.receive({ maxMessages: 10, waitMs: 0 })
  expect(done).toHaveLength(SHARDS)
  const coordinator = new Coordinator({ kv, templates: new TemplateRegistry(), trie: genesis.trie, clock: fixedClock })
  if (delivery === 'at-once') {
    for (const message of done) {
      const d = doneMessageSchema.parse(JSON.parse(message.body))
      await records.markShardDone(BigInt(d.block), d.shard, d.parts, d.timings ?? {})
    }
    return { sealed: (await coordinator.seal(1n))!, kv }
  }
  const outcomes = []
  for (const message of done) outcomes.push(await coordinator.handleDone(message))
  expect(outcomes.map((o) => o.kind)).toEqual(['waiting', 'waiting', 'sealed'])
  const last = outcomes.at(-1)!
  if (last.kind !== 'sealed') throw new Error('not sealed')
  return { sealed: last.sealed, kv }
}

/** What a seal writes and returns, without timings (they differ between runs). */
function sealedShape(s: SealedBlock): unknown {
  return { record: s.record, head: s.head, receipts: s.receipts, rejections: s.rejections, raws: s.raws.map((r) => Buffer.from(r).toString('hex')) }
}

describe('the coordinator settles shards as they are done', () => {
  it('seals the same block, receipts, rejections and head as a seal that loads every shard at once', async () => {
    const atOnce = await sealOneBlock('at-once')
    const early = await sealOneBlock('early')
    expect(atOnce.sealed.report.reexecuted).toBeGreaterThanOrEqual(1)
    expect(atOnce.sealed.rejections.map((r) => [r.code, r.position])).toEqual([['nonce-gap', 13]])
    expect(atOnce.sealed.report.included).toBe(15)
    expect(JSON.stringify(sealedShape(early.sealed))).toBe(JSON.stringify(sealedShape(atOnce.sealed)))
    // The early path took two shards in before the last was done; the other loaded all three at the seal.
    expect(early.sealed.report.timings.earlyLoadMs).toBeGreaterThan(0)
    expect(atOnce.sealed.report.timings.earlyLoadMs).toBe(0)
    // ...and staged their state-trie writes, so the same root came from staged and late writes.
    expect(early.sealed.report.timings.earlyStateRootMs).toBeGreaterThan(0)
    expect(atOnce.sealed.report.timings.earlyStateRootMs).toBe(0)
    // What the store holds is the same too.
    const records = (kv: KeyValueStore) => new Records(kv)
    expect(await records(early.kv).getReceipts(atOnce.sealed.receipts.map((r) => r.txHash))).toEqual(await records(atOnce.kv).getReceipts(atOnce.sealed.receipts.map((r) => r.txHash)))
    expect(await records(early.kv).getHead()).toEqual(await records(atOnce.kv).getHead())
    // The receipt records (JSON made as positions settled, the block hash put in at the seal) are the receipts.
    expect(await records(early.kv).getReceipts(early.sealed.receipts.map((r) => r.txHash))).toEqual(early.sealed.receipts)
  })

  it('re-executes a stale transaction on what its worker read of block-start state: the store is not asked for it again', async () => {
    // The coordinator reads the state table itself only through `kv` (the worker reads `memory`).
    let reads: StateReads | undefined
    const { sealed } = await sealOneBlock('at-once', (memory) => (reads = new StateReads(memory)))
    expect(sealed.report.reexecuted).toBe(2)
    // Both READER calls ran again (the beneficiary's balance changed under them): their senders'
    // accounts and READER's own were block-start reads of the worker's first run.
    const workerRead = [addressOf(12), addressOf(14), READER].map((a) => a.slice(2).toLowerCase())
    expect(reads!.keys.filter((k) => workerRead.includes(k))).toEqual([])
    expect(reads!.keys).toContain(COINBASE.slice(2))
    expect(sealed.report.timings.reexecuteLoads).toBe(0)
  })

  it('puts the block hash into receipt JSON made before the header: the same JSON as the finished receipt\'s', () => {
    const receipt = {
      kind: 'receipt',
      txHash: '0x' + '11'.repeat(32),
      block: '5',
      blockHash: '',
      index: 3,
      logs: [{ address: '0x' + '22'.repeat(20), topics: ['0x' + '33'.repeat(32)], data: '0x' }],
      includedAtMs: 1,
    }
    const made = JSON.stringify(receipt)
    const hash = '0x' + 'ab'.repeat(32)
    expect(receiptJsonWithHash([made], hash)).toEqual([JSON.stringify({ ...receipt, blockHash: hash })])
    expect(() => receiptJsonWithHash([JSON.stringify({ ...receipt, blockHash: hash })], hash)).toThrow(/no empty blockHash/)
  })

  it('drops early work that failed and seals the same block from the start', async () => {
    const atOnce = await sealOneBlock('at-once')
    const failing = await sealOneBlock('early, failing once')
    expect(JSON.stringify(sealedShape(failing.sealed))).toBe(JSON.stringify(sealedShape(atOnce.sealed)))
  })
})
