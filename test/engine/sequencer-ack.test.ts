/**
 * When the sequencer may delete an ingress message: only once every transaction in it is in a
 * stored plan or has a record. Found by the simulator (seed 5659): a carried transaction's
 * message came back (its visibility ran out), the new delivery was deleted because its only
 * transaction was "already in the batch", and when the next plan failed the carried
 * transaction was dropped with nothing left to bring it back.
 */
import { describe, expect, it } from 'vitest'

import { initializeChain } from '../../shared/cluster/bootstrap.ts'
import { ForwardingQueue } from '../../shared/cluster/faults.ts'
import { IntakePool } from '../../shared/intake/pool.ts'
import { decodePlannedTxs } from '../../shared/pipeline/codec.ts'
import { ThrottledError } from '../../shared/errors.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { DELETE_CALLS_IN_FLIGHT, RECEIVE_CALLS_IN_FLIGHT, Sequencer, type SequencerConfig } from '../../shared/sequencer/sequencer.ts'
import { Records } from '../../shared/store/records.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { bigintToHex, fromHex, to0x } from '../../shared/hex.ts'
import { addressOf, signTx, testGenesis } from '../helpers/chain.ts'

import type { GenesisState } from '../../shared/chain/genesis.ts'
import type { Clock } from '../../shared/ports/clock.ts'
import type { QueueMessage, ReceiveOptions } from '../../shared/ports/queue.ts'

function manualClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000
  return {
    now: () => now,
    sleep: async (ms) => {
      now += ms
    },
    advance: (ms) => {
      now += ms
    },
  }
}

describe('ingress acknowledgement', () => {
  it('a message is not deleted through a later delivery while its transaction is only carried (simulator seed 5659)', async () => {
    const genesis = testGenesis({ accounts: 4 })
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const records = new Records(kv)
    const clock = manualClock()
    // The store as the sequencer sees it, with one throttled state read on demand.
    let failNextStateRead = false
    const view = new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop === 'get') {
          return async (keys: Parameters<MemoryKeyValueStore['get']>[0]) => {
            if (failNextStateRead && keys.some((k) => k.table === 'state')) {
              failNextStateRead = false
              throw new ThrottledError('throttled state read (test)')
            }
            return target.get(keys)
          }
        }
        const value = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const ingress = new MemoryQueue({ name: 'ingress', visibilityTimeoutMs: 5_000, clock })
    const sequencer = new Sequencer({
      kv: view,
      ingress,
      shardQueue: new MemoryQueue({ name: 'shards', clock }),
      templates: new TemplateRegistry(),
      clock,
      config: { chain: genesis.chain, shardCount: 1, blockSizeMax: 2, blockTimeSec: 12, coinbase: genesis.coinbase, intakeWaitMs: 0, receiveRoundsMax: 5 },
    })
    const a = signTx({ from: 0, nonce: 0, to: addressOf(9), value: 1n })
    const b = signTx({ from: 1, nonce: 1, to: addressOf(9), value: 1n })
    const c = signTx({ from: 1, nonce: 0, to: addressOf(9), value: 1n })
    const e = signTx({ from: 2, nonce: 0, to: addressOf(9), value: 1n })
    const hashOf = (raw: string): string => to0x(keccak256(fromHex(raw)))
    const sealWith = async (number: number, raws: string[]): Promise<void> => {
      // As the coordinator would: the head moves and the block's transactions have receipts.
      const head = (await records.getHead())!
      expect(await records.seal({ ...(await records.getBlock(0n))!, number: String(number) }, { ...head, number: String(number) }, [])).toBe(true)
      await records.putReceipts(raws.map((raw, index) => ({ kind: 'receipt', txHash: hashOf(raw), block: String(number), blockHash: '0x', index, from: addressOf(0), to: addressOf(9), contractAddress: null, status: 1, cumulativeGasUsed: '0x5208', gasUsed: '0x5208', effectiveGasPrice: '0x1', logsBloom: '0x', logs: [], type: 2, includedAtMs: clock.now() })) as never)
    }
    await ingress.send([{ body: JSON.stringify({ raw: a }) }, { body: JSON.stringify({ raw: b }) }])

    // Block 1 holds A; B (nonce 1, its sender's nonce 0 not seen yet) is carried, its message held.
    const first = await sequencer.planNext()
    expect(first?.txCount).toBe(1)
    expect(first?.carried).toBe(1)
    await sealWith(1, [a])

    // B's message comes back (its visibility ran out) while B is still carried, and E and C
    // (B's sender's nonce 0) arrive: block 2 takes C and E, B is carried again (two a block).
    clock.advance(120_000)
    await ingress.send([{ body: JSON.stringify({ raw: e }) }, { body: JSON.stringify({ raw: c }) }])
    const second = await sequencer.planNext()
    expect(second?.txCount).toBe(2)
    expect(second?.carried).toBe(1)
    await sealWith(2, [c, e])
    // B has no record and is in no plan yet: its message must still exist.
    let depth = await ingress.depth()
    expect(depth.visible + depth.inFlight).toBe(1)

    // The next plan fails after intake: the carried B is dropped with the failed attempt, as a
    // restarted sequencer would.
    failNextStateRead = true
    await expect(sequencer.planNext()).rejects.toBeInstanceOf(ThrottledError)
    depth = await ingress.depth()
    expect(depth.visible + depth.inFlight).toBe(1)
    // It comes back with its message: taken in again (held: these test seals moved no nonces).
    clock.advance(120_000)
    await sequencer.planNext()
    expect(sequencer.carried).toBe(1)
    depth = await ingress.depth()
    expect(depth.visible + depth.inFlight).toBe(1)
  })
})

/** A queue whose receives and deletes take a moment, counting how many are in flight at once. */
class SlowQueue extends ForwardingQueue {
  receiving = 0
  receivingMax = 0
  deleting = 0
  deletingMax = 0
  receiveCalls = 0
  override async receive(options: ReceiveOptions): Promise<QueueMessage[]> {
    this.receiveCalls++
    this.receivingMax = Math.max(this.receivingMax, ++this.receiving)
    try {
      await new Promise((resolve) => setTimeout(resolve, 1 + (this.receiveCalls % 3)))
      return await super.receive(options)
    } finally {
      this.receiving--
    }
  }
  override async delete(receiptHandles: readonly string[]): Promise<void> {
    this.deletingMax = Math.max(this.deletingMax, ++this.deleting)
    try {
      await new Promise((resolve) => setTimeout(resolve, 1))
      return await super.delete(receiptHandles)
    } finally {
      this.deleting--
    }
  }
}

/**
 * A chain from `genesis` and a sequencer on it, taking in from a slow ingress queue (`queue`:
 * another SlowQueue over the same memory queue) inline or through the intake pool.
 */
async function slowIngressSequencer(
  genesis: GenesisState,
  path: 'inline' | 'batched',
  config: Pick<SequencerConfig, 'blockSizeMax' | 'receiveRoundsMax' | 'nonceGapHoldMs'> & Partial<Pick<SequencerConfig, 'shardCount'>>,
  queue: { visibilityTimeoutMs?: number; make?: (inner: MemoryQueue) => SlowQueue } = {},
): Promise<{ kv: MemoryKeyValueStore; clock: ReturnType<typeof manualClock>; ingress: SlowQueue; sequencer: Sequencer }> {
  const kv = new MemoryKeyValueStore()
  await initializeChain(kv, genesis)
  const clock = manualClock()
  const inner = new MemoryQueue({ name: 'ingress', visibilityTimeoutMs: queue.visibilityTimeoutMs ?? 30_000, clock })
  const ingress = queue.make?.(inner) ?? new SlowQueue(inner)
  const sequencer = new Sequencer({
    kv,
    ingress,
    shardQueue: new MemoryQueue({ name: 'shards', clock }),
    templates: new TemplateRegistry(),
    clock,
    ...(path === 'batched' ? { intake: IntakePool.start(0) } : {}),
    config: { chain: genesis.chain, shardCount: 2, blockTimeSec: 12, coinbase: genesis.coinbase, intakeWaitMs: 0, ...config },
  })
  return { kv, clock, ingress, sequencer }
}

describe('intake with several receive calls in flight', () => {
  for (const path of ['inline', 'batched'] as const) {
    it(`${path}: every transaction planned once, every copy dropped, every message deleted; receives and deletes overlap within their bounds`, async () => {
      const genesis = testGenesis({ accounts: 160 })
      const { kv, clock, ingress, sequencer } = await slowIngressSequencer(genesis, path, { blockSizeMax: 50, receiveRoundsMax: 15, nonceGapHoldMs: 0 })
      const records = new Records(kv)
      const raws = Array.from({ length: 160 }, (_, i) => signTx({ from: i, nonce: 0, to: addressOf(0), value: BigInt(i + 1) }))
      const hashOf = (raw: string): string => to0x(keccak256(fromHex(raw)))
      // 140 messages of one, 10 of two, and 20 copies of earlier messages.
      const bodies = [...raws.slice(0, 140).map((raw) => JSON.stringify({ raw })), ...Array.from({ length: 10 }, (_, i) => JSON.stringify({ txs: raws.slice(140 + 2 * i, 142 + 2 * i) }))]
      const copies = Array.from({ length: 20 }, (_, i) => bodies[i * 7]!)
      await ingress.send([...bodies, ...copies].map((body) => ({ body })))

      const planned: string[] = []
      let duplicates = 0
      for (let block = 1; block <= 20; block++) {
        const plan = await sequencer.planNext()
        if (plan === undefined) break
        expect(plan.rejected).toEqual([])
        duplicates += plan.duplicates
        const hashes: string[] = []
        const meta = await records.getPlanMeta(BigInt(block))
        if (meta !== undefined) {
          for (let shard = 0; shard < meta.shardParts.length; shard++) {
            for (const part of await records.getShardPlanParts(meta, shard)) hashes.push(...decodePlannedTxs(part).map((t) => to0x(t.hash)))
          }
        }
        expect(hashes).toHaveLength(plan.txCount)
        planned.push(...hashes)
        // As the coordinator would: the head moves and the block's transactions have receipts.
        await sealAs(records, clock, block, hashes)
      }
      expect(planned.sort()).toEqual(raws.map(hashOf).sort())
      expect(duplicates).toBe(copies.length)
      expect(sequencer.carried).toBe(0)
      const depth = await ingress.depth()
      expect(depth.visible + depth.inFlight + depth.delayed).toBe(0)
      expect(ingress.receivingMax).toBeGreaterThan(1)
      expect(ingress.receivingMax).toBeLessThanOrEqual(RECEIVE_CALLS_IN_FLIGHT)
      expect(ingress.deletingMax).toBeGreaterThan(1)
      expect(ingress.deletingMax).toBeLessThanOrEqual(DELETE_CALLS_IN_FLIGHT)
    }, 60_000)
  }

  it('a receive that fails among several: what the others brought is still taken, nothing is acknowledged that was not planned', async () => {
    const genesis = testGenesis({ accounts: 100 })
    class FailingThirdReceive extends SlowQueue {
      override async receive(options: ReceiveOptions): Promise<QueueMessage[]> {
        // The eighth call of the first round fails; the seven before it bring 70 messages (more
        // than one batch for the intake threads, 64).
        if (this.receiveCalls === 7) {
          this.receiveCalls++
          throw new ThrottledError('throttled receive (test)')
        }
        return super.receive(options)
      }
    }
    const { kv, clock, ingress, sequencer } = await slowIngressSequencer(
      genesis,
      'batched',
      { shardCount: 1, blockSizeMax: 80, receiveRoundsMax: 20, nonceGapHoldMs: 0 },
      { visibilityTimeoutMs: 5_000, make: (inner) => new FailingThirdReceive(inner) },
    )
    const records = new Records(kv)
    const raws = Array.from({ length: 100 }, (_, i) => signTx({ from: i, nonce: 0, to: addressOf(0), value: 1n }))
    await ingress.send(raws.map((raw) => ({ body: JSON.stringify({ raw }) })))
    // In the background (prefetch), the failure leaves the batch for the next plan: only what
    // was judged is in it, and only that is acknowledged.
    await expect(sequencer.prefetchIntake()).rejects.toBeInstanceOf(ThrottledError)
    const plan = await sequencer.planNext()
    expect(plan?.txCount).toBe(80)
    const meta = (await records.getPlanMeta(1n))!
    const hashes = (await records.getShardPlanParts(meta, 0)).flatMap((part) => decodePlannedTxs(part).map((t) => to0x(t.hash)))
    expect(hashes).toHaveLength(plan!.txCount)
    await sealAs(records, clock, 1, hashes)
    // Whatever was not planned is still on the queue (in flight or visible), and comes back.
    const depth = await ingress.depth()
    expect(depth.visible + depth.inFlight).toBe(100 - plan!.txCount)
    clock.advance(10_000)
    const rest: string[] = [...hashes]
    for (let block = 2; block <= 5 && rest.length < 100; block++) {
      const next = await sequencer.planNext()
      if (next === undefined) break
      const m = (await records.getPlanMeta(BigInt(block)))!
      const more = (await records.getShardPlanParts(m, 0)).flatMap((part) => decodePlannedTxs(part).map((t) => to0x(t.hash)))
      rest.push(...more)
      await sealAs(records, clock, block, more)
    }
    expect(rest.sort()).toEqual(raws.map((raw) => to0x(keccak256(fromHex(raw)))).sort())
  }, 60_000)
})

describe('sealed nonces', () => {
  for (const path of ['inline', 'batched'] as const) {
    it(`${path}: each sender's transactions are ordered and held from its own sealed nonce (read while messages are judged)`, async () => {
      // Sender i's sealed nonce is i % 5; it sends that nonce, the next, and one after a gap.
      const senders = 150
      const nonceOf = (i: number): number => i % 5
      const extraAlloc = Object.fromEntries(Array.from({ length: senders }, (_, i) => [addressOf(i), { balance: bigintToHex(10n ** 21n), nonce: bigintToHex(BigInt(nonceOf(i))) }]))
      const genesis = testGenesis({ accounts: 0, extraAlloc })
      const { kv, ingress, sequencer } = await slowIngressSequencer(genesis, path, { blockSizeMax: 1000, receiveRoundsMax: 100, nonceGapHoldMs: 60_000 })
      const hashOf = (raw: string): string => to0x(keccak256(fromHex(raw)))
      const ready: string[] = []
      const gapped: string[] = []
      const bodies: string[] = []
      for (let i = 0; i < senders; i++) {
        const n = nonceOf(i)
        const [first, second, gap] = [n, n + 1, n + 3].map((nonce) => signTx({ from: i, nonce, to: addressOf(0), value: 1n }))
        ready.push(hashOf(first!), hashOf(second!))
        gapped.push(hashOf(gap!))
        // The second before the first, in another message: planning puts them in nonce order.
        bodies.push(JSON.stringify({ raw: second }), JSON.stringify({ txs: [gap, first] }))
      }
      await ingress.send(bodies.map((body) => ({ body })))
      const plan = (await sequencer.planNext())!
      expect(plan.rejected).toEqual([])
      const records = new Records(kv)
      const meta = (await records.getPlanMeta(1n))!
      const planned: { index: number; hash: string; sender: string; nonce: bigint }[] = []
      for (let shard = 0; shard < meta.shardParts.length; shard++) {
        for (const part of await records.getShardPlanParts(meta, shard)) planned.push(...decodePlannedTxs(part).map((t) => ({ index: t.index, hash: to0x(t.hash), sender: to0x(t.sender), nonce: t.fields.nonce })))
      }
      expect(planned.map((t) => t.hash).sort()).toEqual([...ready].sort())
      // In block order, each sender's nonces run up from its sealed one.
      const senderIndex = new Map(Array.from({ length: senders }, (_, i) => [addressOf(i).toLowerCase(), i]))
      const next = new Map<string, bigint>()
      for (const t of planned.sort((a, b) => a.index - b.index)) {
        const expected = next.get(t.sender) ?? BigInt(nonceOf(senderIndex.get(t.sender)!))
        expect(t.nonce).toBe(expected)
        next.set(t.sender, expected + 1n)
      }
      expect(sequencer.carried).toBe(gapped.length)
    }, 60_000)
  }
})

/** As the coordinator would: the head moves to `number` and these transactions have receipts. */
async function sealAs(records: Records, clock: Clock, number: number, hashes: readonly string[]): Promise<void> {
  const head = (await records.getHead())!
  expect(await records.seal({ ...(await records.getBlock(0n))!, number: String(number) }, { ...head, number: String(number) }, [])).toBe(true)
  await records.putReceipts(hashes.map((txHash, index) => ({ kind: 'receipt', txHash, block: String(number), blockHash: '0x', index, from: addressOf(0), to: addressOf(9), contractAddress: null, status: 1, cumulativeGasUsed: '0x5208', gasUsed: '0x5208', effectiveGasPrice: '0x1', logsBloom: '0x', logs: [], type: 2, includedAtMs: clock.now() })) as never)
}
