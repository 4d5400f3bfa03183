/**
 * When the sequencer may delete an ingress message: only once every transaction in it is in a
 * stored plan or has a record. Found by the simulator (seed 5659): a carried transaction's
 * message came back (its visibility ran out), the new delivery was deleted because its only
 * transaction was "already in the batch", and when the next plan failed the carried
 * transaction was dropped with nothing left to bring it back.
 */
import { describe, expect, it } from 'vitest'

import { initializeChain } from '../../shared/cluster/bootstrap.ts'
import { ThrottledError } from '../../shared/errors.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { Sequencer } from '../../shared/sequencer/sequencer.ts'
import { Records } from '../../shared/store/records.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { fromHex, to0x } from '../../shared/hex.ts'
import { addressOf, signTx, testGenesis } from '../helpers/chain.ts'

import type { Clock } from '../../shared/ports/clock.ts'

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
