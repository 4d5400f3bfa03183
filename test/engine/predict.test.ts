import { describe, expect, it } from 'vitest'

import { createChainCommon } from '../../shared/chain/common.ts'
import { toHex } from '../../shared/hex.ts'
import { decodeRawTx } from '../../shared/intake/decode.ts'
import { partitionBlock } from '../../shared/partition/partition.ts'
import { predictAccess } from '../../shared/predict/predictor.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { predictAndPartition } from '../../shared/sequencer/sequencer.ts'
import { erc20TransferData, mappingSlot, swapData } from '../../shared/workload/generator.ts'
import { addressOf, CHAIN_ID, signTx } from '../helpers/chain.ts'

const common = createChainCommon(CHAIN_ID, 'cancun')
const decode = (raw: string) => {
  const r = decodeRawTx(raw, { common, blockGasLimit: 30_000_000n })
  if (!r.ok) throw new Error(r.rejection.reason)
  return r.tx
}
const TOKEN = '0a'.repeat(20)
const balanceKey = (holder: string): string => TOKEN + toHex(mappingSlot(holder, 1n))

describe('templates', () => {
  it('learns an ERC20 transfer and predicts the two balance slots of a new call from caller and argument', () => {
    const registry = new TemplateRegistry()
    const call = (from: number, to: string) => ({ caller: addressOf(from).slice(2), to: TOKEN, data: Buffer.from(erc20TransferData(to, 5n).slice(2), 'hex') })
    const first = call(1, addressOf(2))
    registry.learn(first, [TOKEN, balanceKey(addressOf(1)), balanceKey(addressOf(2))], [balanceKey(addressOf(1)), balanceKey(addressOf(2))], 35_000)
    const predicted = registry.predict(call(3, addressOf(4)))!
    expect(new Set(predicted.writes)).toEqual(new Set([balanceKey(addressOf(3)), balanceKey(addressOf(4))]))
    expect(predicted.keys).toContain(TOKEN)
  })

  it('learns nested mappings (allowance[caller][pool]) and constant slots', () => {
    const registry = new TemplateRegistry()
    const pool = '0b'.repeat(20)
    const allowance = (owner: string): string => TOKEN + toHex(mappingSlot(`0x${pool}`, mappingSlot(owner, 2n)))
    const reserve = pool + '2'.padStart(64, '0')
    const call = (from: number) => ({ caller: addressOf(from).slice(2), to: pool, data: Buffer.from(swapData(1000n, true, 0n).slice(2), 'hex') })
    registry.learn(call(1), [reserve, allowance(addressOf(1))], [reserve, allowance(addressOf(1))], 90_000)
    const predicted = registry.predict(call(7))!
    expect(new Set(predicted.keys)).toEqual(new Set([reserve, allowance(addressOf(7))]))
  })
})

describe('template learning: which mapping explains a slot', () => {
  it('finds map slots at every base, nested maps at every base, the first candidate on equal words, and leaves the rest constant', () => {
    const caller = addressOf(1)
    const arg0 = addressOf(5)
    // transfer(arg0, amount) where the amount word equals the caller's address word: two candidates, one word.
    const data = Buffer.from(`a9059cbb${arg0.slice(2).padStart(64, '0')}${caller.slice(2).padStart(64, '0')}`, 'hex')
    const call = { caller: caller.slice(2), to: TOKEN, data }
    const slot = (s: Uint8Array): string => TOKEN + toHex(s)
    const keys = {
      mapLast: slot(mappingSlot(arg0, 63n)),
      mapFirst: slot(mappingSlot(caller, 0n)),
      map2Last: slot(mappingSlot(arg0, mappingSlot(caller, 15n))),
      map2First: slot(mappingSlot(caller, mappingSlot(TOKEN.padStart(40, '0'), 0n))),
      beyond: slot(mappingSlot(arg0, 64n)),
      small: TOKEN + '7'.padStart(64, '0'),
    }
    const registry = new TemplateRegistry()
    registry.learn(call, Object.values(keys), [], 30_000)
    const entries = registry.toJSON()[`${TOKEN}:a9059cbb`]!.entries.map((e) => e.slot)
    expect(entries).toContainEqual({ kind: 'map', key: { k: 'arg', i: 0 }, base: 63 })
    // caller and arg1 share a word: the caller (first candidate) explains it.
    expect(entries).toContainEqual({ kind: 'map', key: { k: 'caller' }, base: 0 })
    expect(entries).toContainEqual({ kind: 'map2', outer: { k: 'caller' }, inner: { k: 'arg', i: 0 }, base: 15 })
    expect(entries).toContainEqual({ kind: 'map2', outer: { k: 'self' }, inner: { k: 'caller' }, base: 0 })
    expect(entries).toContainEqual({ kind: 'const', slot: keys.beyond.slice(40) })
    expect(entries).toContainEqual({ kind: 'const', slot: '7'.padStart(64, '0') })
    // And a new call resolves the learned mappings from its own caller and argument.
    const other = { caller: addressOf(2).slice(2), to: TOKEN, data: Buffer.from(`a9059cbb${addressOf(6).slice(2).padStart(64, '0')}${'00'.repeat(32)}`, 'hex') }
    const predicted = new Set(registry.predict(other)!.keys)
    expect(predicted.has(slot(mappingSlot(addressOf(6), 63n)))).toBe(true)
    expect(predicted.has(slot(mappingSlot(addressOf(6), mappingSlot(addressOf(2), 15n))))).toBe(true)
  })
})

describe('templates shared through the store (load)', () => {
  it('stored templates replace held ones of the same pair; held pairs the store lacks stay', () => {
    const call = (to: string, from: number) => ({ caller: addressOf(from).slice(2), to, data: Buffer.from(erc20TransferData(addressOf(2), 5n).slice(2), 'hex') })
    const other = '0c'.repeat(20)
    const otherKey = (holder: string): string => other + toHex(mappingSlot(holder, 1n))
    // The coordinator's registry knows TOKEN; the sequencer's learned OTHER itself and has an old TOKEN.
    const coordinator = new TemplateRegistry()
    coordinator.learn(call(TOKEN, 1), [TOKEN, balanceKey(addressOf(1)), balanceKey(addressOf(2))], [balanceKey(addressOf(1)), balanceKey(addressOf(2))], 35_000)
    const sequencer = new TemplateRegistry()
    sequencer.learn(call(TOKEN, 1), [TOKEN], [], 21_000)
    sequencer.learn(call(other, 1), [other, otherKey(addressOf(1))], [otherKey(addressOf(1))], 30_000)
    sequencer.load(JSON.parse(JSON.stringify(coordinator.toJSON())))
    expect(sequencer.size).toBe(2)
    expect(new Set(sequencer.predict(call(TOKEN, 3))!.writes)).toEqual(new Set([balanceKey(addressOf(3)), balanceKey(addressOf(2))]))
    expect(sequencer.predict(call(other, 4))!.writes).toEqual([otherKey(addressOf(4))])
  })
})

describe('prediction and partition', () => {
  it('same sender → same shard; disjoint transfers spread; a hot recipient joins its writers', () => {
    const registry = new TemplateRegistry()
    const hot = addressOf(99)
    const txs = [
      signTx({ from: 1, nonce: 0, to: addressOf(50), value: 1n }),
      signTx({ from: 1, nonce: 1, to: addressOf(51), value: 1n }),
      signTx({ from: 2, nonce: 0, to: hot, value: 1n }),
      signTx({ from: 3, nonce: 0, to: hot, value: 1n }),
      signTx({ from: 4, nonce: 0, to: addressOf(52), value: 1n }),
      signTx({ from: 5, nonce: 0, to: addressOf(53), value: 1n }),
    ].map((raw) => predictAccess(decode(raw), registry, 'cc'.repeat(20)))
    const { shards, groups } = partitionBlock(txs, 4)
    expect(groups).toBe(4)
    const shardOf = (i: number) => shards.findIndex((s) => s.includes(i))
    expect(shardOf(0)).toBe(shardOf(1))
    expect(shardOf(2)).toBe(shardOf(3))
    expect(new Set([shardOf(0), shardOf(2), shardOf(4), shardOf(5)]).size).toBe(4)
    for (const s of shards) expect([...s].sort((a, b) => a - b)).toEqual(s) // block order within a shard
  })

  it('says whether the gas it estimates is known: a transfer, a templated call; not a call without a template, nor a creation', () => {
    const registry = new TemplateRegistry()
    const token = `0x${TOKEN}`
    const callData = erc20TransferData(addressOf(2), 5n)
    registry.learn({ caller: addressOf(1).slice(2), to: TOKEN, data: Buffer.from(callData.slice(2), 'hex') }, [TOKEN], [], 35_000)
    const [transfer, templated, untemplated, creation] = [
      signTx({ from: 1, nonce: 0, to: addressOf(2), value: 1n, gasLimit: 90_000n }),
      signTx({ from: 1, nonce: 1, to: token, data: callData, gasLimit: 200_000n }),
      signTx({ from: 1, nonce: 2, to: addressOf(60), data: callData, gasLimit: 200_000n }),
      signTx({ from: 1, nonce: 3, data: '0x6000', gasLimit: 200_000n }),
    ].map((raw) => predictAccess(decode(raw), registry, 'cc'.repeat(20)))
    expect([transfer!.gas, transfer!.gasKnown]).toEqual([21_000, true])
    expect([templated!.gas, templated!.gasKnown, templated!.templated]).toEqual([35_000, true, true])
    expect([untemplated!.gas, untemplated!.gasKnown]).toEqual([200_000, false])
    expect([creation!.gas, creation!.gasKnown]).toEqual([200_000, false])
  })

  it('cuts a block of calls no template covers into more shards than one whose gas is known (two lanes), the same on one lane', async () => {
    const registry = new TemplateRegistry()
    const calls = Array.from({ length: 160 }, (_, i) => decode(signTx({ from: i, nonce: 0, to: addressOf(500 + (i % 7)), data: '0xa9059cbb', gasLimit: 150_000n })))
    const transfers = Array.from({ length: 160 }, (_, i) => decode(signTx({ from: i, nonce: 0, to: addressOf(500 + i), value: 1n })))
    const shards = async (txs: typeof calls, lanes: number) => (await predictAndPartition(txs, registry, 'cc'.repeat(20), lanes)).partition.shards
    // The seven callees are written by nobody (no value, no template): 160 independent calls.
    expect((await shards(calls, 2)).length).toBe(4)
    expect((await shards(transfers, 2)).length).toBe(2)
    expect((await shards(calls, 1)).length).toBe(1)
    for (const s of await shards(calls, 2)) expect([...s].sort((a, b) => a - b)).toEqual(s)
  })

  it('the beneficiary is not a conflict (its fee is deferred)', () => {
    const registry = new TemplateRegistry()
    const p = predictAccess(decode(signTx({ from: 1, nonce: 0, to: addressOf(2), value: 1n })), registry, 'cc'.repeat(20))
    expect(p.writes).not.toContain('cc'.repeat(20))
  })
})
