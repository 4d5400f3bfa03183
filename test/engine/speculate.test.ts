/**
 * Speculative pre-execution (shared/predict/speculate.ts): calls to a (contract, selector) with
 * no template run against block-start state before partitioning and teach the templates.
 */
import { createTxFromRLP } from '@ethereumjs/tx'
import { describe, expect, it } from 'vitest'

import { buildGenesis } from '../../shared/chain/genesis.ts'
import { nextBlockEnv } from '../../shared/chain/next-block.ts'
import { initializeChain } from '../../shared/cluster/bootstrap.ts'
import { ConfigError, MissingStateError, ThrottledError } from '../../shared/errors.ts'
import { commonFor, sharedTxCommon } from '../../shared/exec/common-for.ts'
import { Executor } from '../../shared/exec/executor.ts'
import { toHex } from '../../shared/hex.ts'
import { decodeRawTx, type DecodedTx } from '../../shared/intake/decode.ts'
import { predictAccess } from '../../shared/predict/predictor.ts'
import { chooseSamples, Speculator, type SpeculationContext } from '../../shared/predict/speculate.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { STORAGE_KEY_LENGTH, WIPE_PREFIX, type StateKey } from '../../shared/state/keys.ts'
import { BlockView, type StateLoader } from '../../shared/state/view.ts'
import { StateTable } from '../../shared/store/state-table.ts'
import { lookupFromHashes } from '../../shared/worker/shard-worker.ts'
import { generateWorkload, type WorkloadMix } from '../../shared/workload/generator.ts'
import { runInline } from '../helpers/chain.ts'

interface Setup {
  txs: DecodedTx[]
  ctx: SpeculationContext
  state: StateTable
  coinbase: string
}

async function setup(mix: WorkloadMix, txs: number, accounts: number, pools = 4): Promise<Setup> {
  const workload = generateWorkload({ txs, mix, accounts, hotShare: 0, pools, seed: 7 })
  const genesis = buildGenesis(workload.genesis)
  const kv = new MemoryKeyValueStore()
  const head = await initializeChain(kv, genesis)
  const common = commonFor(genesis.chain, 1n, BigInt(head.timestamp) + 12n)
  const env = nextBlockEnv(head, common, { coinbase: genesis.coinbase, blockTimeSec: 12 })
  const txCommon = sharedTxCommon(common)
  const decoded = workload.rawTxs.map((raw) => {
    const r = decodeRawTx(raw, { common: txCommon, blockGasLimit: BigInt(env.gasLimit) })
    if (!r.ok) throw new Error(r.rejection.reason)
    return r.tx
  })
  const state = new StateTable(kv)
  return { txs: decoded, state, coinbase: env.coinbase.slice(2).toLowerCase(), ctx: { chain: genesis.chain, env, state, blockHashes: head.recentHashes } }
}

/** Each sender's first transaction, executed alone against block-start state: its actual keys. */
async function actualAccess(s: Setup, count: number): Promise<{ tx: DecodedTx; reads: StateKey[]; writes: StateKey[] }[]> {
  const executor = new Executor(s.ctx.chain)
  await executor.beginBlock(s.ctx.env, new BlockView(BigInt(s.ctx.env.number), s.state), lookupFromHashes(s.ctx.blockHashes))
  const txCommon = executor.txCommonForEnv(s.ctx.env)
  const seen = new Set<string>()
  const out = []
  for (const tx of s.txs) {
    if (seen.has(tx.senderHex) || out.length >= count) continue
    seen.add(tx.senderHex)
    const full = createTxFromRLP(tx.raw, { common: txCommon })
    full.cache.senderPubKey = tx.senderPubKey
    const exec = await executor.execute(full)
    expect(exec.valid).toBe(true)
    const keep = (k: StateKey): boolean => k !== s.coinbase && k[0] !== WIPE_PREFIX
    out.push({ tx, reads: [...exec.access.reads.keys()].filter(keep), writes: [...exec.access.writes.keys()].filter(keep) })
  }
  return out
}

describe('speculative pre-execution', () => {
  it('a cold ERC20 block: two samples teach transfer, and every call is then fully predicted', async () => {
    const s = await setup('erc20', 120, 60)
    const templates = new TemplateRegistry()
    expect(s.txs.every((tx) => !predictAccess(tx, templates, s.coinbase).templated)).toBe(true)
    const stats = await new Speculator().speculate(s.txs, templates, s.ctx)
    expect(stats).toMatchObject({ pairs: 1, sampled: 2, skipped: 0, learned: 1 })
    expect(templates.size).toBe(1)
    // Other senders and recipients than the samples': their balance slots come from the template.
    const actual = await actualAccess(s, 40)
    expect(actual.some((a) => a.writes.filter((k) => k.length === STORAGE_KEY_LENGTH).length === 2)).toBe(true)
    for (const a of actual) {
      const p = predictAccess(a.tx, templates, s.coinbase)
      expect(p.templated).toBe(true)
      const predicted = new Set([...p.reads, ...p.writes])
      for (const k of [...a.reads, ...a.writes]) expect(predicted.has(k), `key ${k} of a call from ${a.tx.senderHex}`).toBe(true)
      const predictedWrites = new Set(p.writes)
      for (const k of a.writes) expect(predictedWrites.has(k), `write ${k}`).toBe(true)
    }
  })

  it('is deterministic: the same templates whatever the number of executors at once', async () => {
    const s = await setup('mixed', 300, 100, 6)
    const one = new TemplateRegistry()
    const four = new TemplateRegistry()
    const a = await new Speculator({ concurrency: 1 }).speculate(s.txs, one, s.ctx)
    const b = await new Speculator({ concurrency: 4 }).speculate(s.txs, four, s.ctx)
    expect(a.sampled).toBeGreaterThan(2)
    expect({ ...b, ms: 0 }).toEqual({ ...a, ms: 0 })
    expect(JSON.stringify(four.toJSON())).toBe(JSON.stringify(one.toJSON()))
  })

  it('keeps to its caps: per pair, per block, and only pairs without a template', async () => {
    const s = await setup('amm', 200, 100, 10)
    const limits = { perPairMax: 2, samplesMax: 8, sampleGasMax: 1_000_000n, concurrency: 4 }
    const templates = new TemplateRegistry()
    const choice = chooseSamples(s.txs, templates, limits)
    expect(choice.pairs).toBe(10)
    expect(choice.samples).toHaveLength(8)
    const pairOf = (i: number): string => `${toHex(s.txs[i]!.tx.to!.bytes)}:${toHex(s.txs[i]!.tx.data.subarray(0, 4))}`
    const perPair = new Map<string, number>()
    for (const i of choice.samples) perPair.set(pairOf(i), (perPair.get(pairOf(i)) ?? 0) + 1)
    expect(Math.max(...perPair.values())).toBeLessThanOrEqual(2)
    const first = await new Speculator(limits).speculate(s.txs, templates, s.ctx)
    expect(first.sampled).toBe(8)
    expect(templates.size).toBe(first.learned)
    // The next block samples only the pairs still without a template.
    const again = chooseSamples(s.txs, templates, limits)
    expect(again.pairs).toBe(10 - templates.size)
    for (const i of again.samples) expect(templates.get(toHex(s.txs[i]!.tx.to!.bytes), s.txs[i]!.tx.data)).toBeUndefined()
    // Gas cap: nothing above it is sampled.
    expect(chooseSamples(s.txs, new TemplateRegistry(), { ...limits, sampleGasMax: 21_000n }).samples).toHaveLength(0)
    expect(chooseSamples(s.txs, new TemplateRegistry(), { ...limits, samplesMax: 0 }).samples).toHaveLength(0)
  })

  it('samples only a sender\'s first call of the block; a call invalid at block start teaches nothing', async () => {
    const s = await setup('erc20', 40, 20)
    // Only the senders' second transactions (nonce 1): each is invalid against block-start state.
    const seconds = s.txs.filter((tx) => tx.tx.nonce === 1n)
    expect(seconds.length).toBe(20)
    const templates = new TemplateRegistry()
    const stats = await new Speculator().speculate(seconds, templates, s.ctx)
    expect(stats).toMatchObject({ pairs: 1, sampled: 2, skipped: 2, learned: 0 })
    expect(templates.size).toBe(0)
    // With both, only nonce-0 transactions (each sender's first) are chosen.
    for (const i of chooseSamples(s.txs, new TemplateRegistry()).samples) expect(s.txs[i]!.tx.nonce).toBe(0n)
  })

  it('state the store cannot supply skips that sample; a store failure fails the step', async () => {
    const s = await setup('erc20', 40, 20)
    let storageLoads = 0
    const missing: StateLoader = {
      load: async (keys) => {
        // The first sample's sender's balance slot is not there (keys are loaded one by one in execution).
        if (keys.length === 1 && keys[0]!.length === STORAGE_KEY_LENGTH && storageLoads++ === 0) throw new MissingStateError(keys[0]!)
        return s.state.load(keys)
      },
      loadCode: (hashes) => s.state.loadCode(hashes),
    }
    const templates = new TemplateRegistry()
    const stats = await new Speculator({ concurrency: 1 }).speculate(s.txs, templates, { ...s.ctx, state: missing })
    expect(stats).toMatchObject({ sampled: 2, skipped: 1, learned: 1 })

    const throttled: StateLoader = {
      load: async (keys) => {
        if (keys.length === 1) throw new ThrottledError('throttled')
        return s.state.load(keys)
      },
      loadCode: (hashes) => s.state.loadCode(hashes),
    }
    await expect(new Speculator().speculate(s.txs, new TemplateRegistry(), { ...s.ctx, state: throttled })).rejects.toBeInstanceOf(ThrottledError)
  })

  it('refuses limits that make no sense with a configuration error', () => {
    expect(() => new Speculator({ concurrency: 0 })).toThrow(ConfigError)
    expect(() => new Speculator({ samplesMax: -1 })).toThrow(ConfigError)
    expect(() => new Speculator({ perPairMax: 1.5 })).toThrow(ConfigError)
  })

  it('the sequencer speculates before partitioning: a cold ERC20 block is fully predicted and equals sequential execution', async () => {
    const workload = generateWorkload({ txs: 160, mix: 'erc20', accounts: 80, hotShare: 0, pools: 2, seed: 3 })
    const { summary, events } = await runInline(buildGenesis(workload.genesis), workload.rawTxs, { workers: 2, shards: 2, blockSize: 160 })
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    expect(events).toHaveLength(1)
    const [block] = events
    expect(block!.plan.stats.speculatedCalls).toBe(2)
    expect(block!.plan.stats.speculateMs).toBeGreaterThan(0)
    expect(block!.plan.stats.templated).toBe(160)
    expect(block!.sealed.report.prediction.txsFullyPredicted).toBe(160)
  })

  it('with intake threads: predictions made at intake, before speculation taught the template, are not used', async () => {
    const workload = generateWorkload({ txs: 160, mix: 'erc20', accounts: 80, hotShare: 0, pools: 2, seed: 4 })
    const { summary, events } = await runInline(buildGenesis(workload.genesis), workload.rawTxs, { workers: 2, shards: 2, blockSize: 160, threads: true })
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    const [block] = events
    expect(block!.plan.stats.speculatedCalls).toBe(2)
    expect(block!.plan.stats.templated).toBe(160)
    expect(block!.sealed.report.prediction.txsFullyPredicted).toBe(160)
  })
})

describe('the templates\' version', () => {
  it('changes when a prediction could (learned, code hash learned, loaded, cleared), not on reads', () => {
    const templates = new TemplateRegistry()
    const v0 = templates.version
    const call = { to: '11'.repeat(20), data: Uint8Array.of(0xa9, 0x05, 0x9c, 0xbb), caller: '22'.repeat(20) }
    expect(templates.get(call.to, call.data)).toBeUndefined()
    expect(templates.version).toBe(v0)
    templates.knowCode(call.to, 'ab'.repeat(32))
    const v1 = templates.version
    expect(v1).not.toBe(v0)
    templates.knowCode(call.to, 'ab'.repeat(32))
    expect(templates.version).toBe(v1)
    // A queued lesson counts as soon as anything reads the version.
    templates.learnLater(() => templates.learn(call, [call.caller], [call.caller], 30_000))
    const v2 = templates.version
    expect(v2).not.toBe(v1)
    templates.load(templates.toJSON())
    const v3 = templates.version
    expect(v3).not.toBe(v2)
    templates.clear()
    expect(templates.version).not.toBe(v3)
  })
})
