/**
 * Pipelined blocks (shared/cluster/pipeline.ts): block N+1 is planned and executed while block N
 * seals. Every block must still equal sequential execution, every input be accounted for once,
 * and a coordinator that fails between settling N and sealing it must not change N+1.
 */
import { describe, expect, it } from 'vitest'

import { initializeChain, genesisHead } from '../../shared/cluster/bootstrap.ts'
import { SettledOverlay } from '../../shared/cluster/pipeline.ts'
import { Coordinator, resolvePendingParent, type SettledOutcome } from '../../shared/coordinator/coordinator.ts'
import { createChainCommon } from '../../shared/chain/common.ts'
import { nextBlockEnv } from '../../shared/chain/next-block.ts'
import { sharedTxCommon } from '../../shared/exec/common-for.ts'
import { decodeRawTx, type DecodedTx } from '../../shared/intake/decode.ts'
import { planOrderedBlock } from '../../shared/sequencer/sequencer.ts'
import { SequentialVerifier } from '../../shared/verify/sequential.ts'
import { ShardWorker } from '../../shared/worker/shard-worker.ts'
import { ThrottledError } from '../../shared/errors.ts'
import { fromHex, to0x } from '../../shared/hex.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { Sequencer } from '../../shared/sequencer/sequencer.ts'
import { storageKey } from '../../shared/state/keys.ts'
import { pendingHead } from '../../shared/store/head.ts'
import { Records, type HeadRecord, type PlanMeta } from '../../shared/store/records.ts'
import { StateTable, stateItemKey } from '../../shared/store/state-table.ts'
import { addressOf, runInline, signTx, testGenesis } from '../helpers/chain.ts'

import type { KeyValueStore, WriteOp } from '../../shared/ports/kv-store.ts'
import type { QueueMessage } from '../../shared/ports/queue.ts'

/** Transfers from a few senders, several per sender and block, so nonces run across blocks. */
function transfers(senders: number, perSender: number): string[] {
  const raws: string[] = []
  for (let n = 0; n < perSender; n++) for (let s = 0; s < senders; s++) raws.push(signTx({ from: s, nonce: n, to: addressOf(20 + ((s + n) % 7)), value: 1000n + BigInt(n) }))
  return raws
}

/** Runtime code: storage[NUMBER] = BLOCKHASH(NUMBER - 1). */
const PARENT_HASH_RECORDER = '0x436001900340435500'
const RECORDER = `0x${'ab'.repeat(20)}`

describe('pipelined blocks', () => {
  it('seal the same chain as blocks one after another, every block checked, each transaction once', async () => {
    const genesis = () => testGenesis({ accounts: 12 })
    const raws = transfers(12, 10)
    const on = await runInline(genesis(), raws, { blockSize: 20, pipeline: true })
    const off = await runInline(genesis(), raws, { blockSize: 20, pipeline: false })
    expect(on.summary.pipelined).toBeGreaterThan(0)
    expect(off.summary.pipelined).toBe(0)
    for (const r of [on, off]) {
      expect(r.summary.included).toBe(raws.length)
      expect(r.summary.rejected).toBe(0)
      expect(r.summary.verifiedBlocks).toBe(r.summary.blocks)
    }
    expect(on.summary.head).toEqual(off.summary.head)
  })

  it('a transaction that asks BLOCKHASH of its pending parent is run again with the real hash', async () => {
    const genesis = testGenesis({ accounts: 6, extraAlloc: { [RECORDER]: { balance: '0x0', code: PARENT_HASH_RECORDER } } })
    const raws: string[] = []
    for (let n = 0; n < 6; n++) for (let s = 0; s < 6; s++) raws.push(signTx({ from: s, nonce: n, to: RECORDER, gasLimit: 100_000n }))
    const { summary, events, cluster } = await runInline(genesis, raws, { blockSize: 6, pipeline: true, workers: 1 })
    expect(summary.included).toBe(raws.length)
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    expect(summary.pipelined).toBeGreaterThan(0)
    // Every block's recorded parent hash is the parent's real hash (the sequential check compares state roots as well).
    const state = new StateTable(cluster.kv)
    const hashes = new Map(events.map((e) => [BigInt(e.sealed.record.number), e.sealed.record.hash]))
    hashes.set(0n, to0x(genesis.hash))
    for (const e of events) {
      const number = BigInt(e.sealed.record.number)
      const [slot] = await state.load([storageKey(RECORDER.slice(2), number.toString(16).padStart(64, '0'))])
      expect(to0x(slot!.value!)).toBe(hashes.get(number - 1n))
    }
  })

  it('a coordinator that fails after settling a block (before its journal, and mid-apply) seals it and the next one unchanged', async () => {
    const genesis = () => testGenesis({ accounts: 8 })
    const raws = transfers(8, 8)
    const reference = await runInline(genesis(), raws, { blockSize: 16, pipeline: false })
    // Fail the first journal write and the second state apply once each.
    const inner = new MemoryKeyValueStore()
    let journalFailures = 0
    let applyCalls = 0
    const flaky: KeyValueStore = Object.assign(Object.create(inner) as KeyValueStore, {
      transact: async (ops: readonly WriteOp[]) => {
        const first = ops[0]
        const key = first === undefined ? undefined : first.op === 'put' ? first.item : first.key
        if (key?.table === 'plans' && key.sk === 'journal' && journalFailures++ === 0) throw new ThrottledError('journal write throttled (test)')
        if (key?.table === 'state' && ++applyCalls === 2) throw new ThrottledError('state apply throttled (test)')
        return inner.transact(ops)
      },
    })
    const deadLetter = new MemoryQueue({ name: 'dlq' })
    const backends = {
      kv: flaky,
      deadLetter,
      ingress: new MemoryQueue({ name: 'ingress', visibilityTimeoutMs: 2_000, maxReceiveCount: 3, deadLetter }),
      shardQueue: new MemoryQueue({ name: 'shards', visibilityTimeoutMs: 2_000 }),
      doneQueue: new MemoryQueue({ name: 'done', visibilityTimeoutMs: 2_000 }),
    }
    const flakyRun = await runInline(genesis(), raws, { blockSize: 16, pipeline: true, backends })
    expect(journalFailures).toBeGreaterThan(1)
    expect(applyCalls).toBeGreaterThan(2)
    expect(flakyRun.summary.pipelined).toBeGreaterThan(0)
    expect(flakyRun.summary.included).toBe(raws.length)
    expect(flakyRun.summary.verifiedBlocks).toBe(flakyRun.summary.blocks)
    expect(flakyRun.summary.head).toEqual(reference.summary.head)
  })

  it('a duplicate of a transaction of the pending parent is dropped, not planned again', async () => {
    const genesis = testGenesis({ accounts: 3 })
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const ingress = new MemoryQueue({ name: 'ingress', visibilityTimeoutMs: 5_000 })
    const sequencer = new Sequencer({
      kv,
      ingress,
      shardQueue: new MemoryQueue({ name: 'shards' }),
      templates: new TemplateRegistry(),
      config: { chain: genesis.chain, shardCount: 1, blockSizeMax: 10, blockTimeSec: 12, coinbase: genesis.coinbase, intakeWaitMs: 0, receiveRoundsMax: 5 },
    })
    const a = signTx({ from: 0, nonce: 0, to: addressOf(9), value: 1n })
    const b = signTx({ from: 1, nonce: 0, to: addressOf(9), value: 1n })
    await ingress.send([{ body: JSON.stringify({ raw: a }) }])
    const first = await sequencer.planNext()
    expect(first?.txCount).toBe(1)
    const meta = (await new Records(kv).getPlanMeta(1n))!
    // Block 1 settled, not sealed: its transaction comes again, with a new one.
    await ingress.send([{ body: JSON.stringify({ raw: a }) }, { body: JSON.stringify({ raw: b }) }])
    const second = await sequencer.planNext(pendingHead(genesisHead(genesis), meta.env, 21_000n, 0n))
    expect(second?.block).toBe(2n)
    expect(second?.txCount).toBe(1)
    expect(second?.duplicates).toBe(1)
    const plan2 = (await new Records(kv).getPlanMeta(2n))!
    expect(plan2.parentPending).toBe(true)
    expect(plan2.env.parentHash).toBe(to0x(new Uint8Array(32)))
  })
})

describe('a block planned on a pending parent, its process gone', () => {
  it('is executed from the plan and sealed by fresh roles after its parent, BLOCKHASH of the parent re-run', async () => {
    const genesis = testGenesis({ accounts: 4, extraAlloc: { [RECORDER]: { balance: '0x0', code: PARENT_HASH_RECORDER } } })
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const common = createChainCommon(genesis.chainId, genesis.hardfork)
    const txCommon = sharedTxCommon(common)
    const decode = (raws: string[], gasLimit: string): DecodedTx[] =>
      raws.map((raw) => {
        const d = decodeRawTx(raw, { common: txCommon, blockGasLimit: BigInt(gasLimit) })
        if (!d.ok) throw new Error(d.rejection.reason)
        return d.tx
      })
    const shardQueue = new MemoryQueue({ name: 'shards' })
    const doneQueue = new MemoryQueue({ name: 'done' })
    const clock = { now: () => 1_700_000_000_000, sleep: async () => {} }
    const plan = (records: Records, head: HeadRecord, raws: string[]) => {
      const env = nextBlockEnv(head, common, { coinbase: genesis.coinbase, blockTimeSec: 12 })
      return planOrderedBlock({ records, shardQueue, clock, templates: new TemplateRegistry() }, { chain: genesis.chain, env, txs: decode(raws, env.gasLimit), head, shardCount: 2 })
    }
    const execute = async (store: KeyValueStore): Promise<QueueMessage[]> => {
      const worker = new ShardWorker({ kv: store, shardQueue, doneQueue })
      for (const message of await shardQueue.receive({ maxMessages: 10, waitMs: 0 })) await worker.handle(message)
      return doneQueue.receive({ maxMessages: 10, waitMs: 0 })
    }
    // Block 1, settled by a coordinator whose journal write then fails (its process "dies").
    const block1 = [signTx({ from: 0, nonce: 0, to: addressOf(9), value: 5n }), signTx({ from: 1, nonce: 0, to: RECORDER, gasLimit: 100_000n })]
    await plan(new Records(kv), genesisHead(genesis), block1)
    const done1 = await execute(kv)
    let settled: SettledOutcome | undefined
    let failJournal = true
    const dying: KeyValueStore = Object.assign(Object.create(kv) as KeyValueStore, {
      transact: async (ops: readonly WriteOp[]) => {
        const first = ops[0]
        if (failJournal && first?.op === 'put' && first.item.table === 'plans' && first.item.sk === 'journal') {
          failJournal = false
          throw new ThrottledError('the process died (test)')
        }
        return kv.transact(ops)
      },
    })
    const first = new Coordinator({ kv: dying, templates: new TemplateRegistry(), trie: genesis.trie, clock, onSettled: (o) => (settled = o) })
    for (const message of done1) await first.handleDone(message).catch(() => undefined)
    expect(settled?.block).toBe(1n)
    expect(await new Records(kv).getBlock(1n)).toBeUndefined()
    // Block 2 planned on block 1's pending head (the store's head is still genesis) and executed
    // through the overlay: its plan and staged results are all that outlive the process.
    const overlay = new SettledOverlay(kv)
    overlay.lay(settled!)
    const block2 = [signTx({ from: 0, nonce: 1, to: addressOf(9), value: 6n }), signTx({ from: 2, nonce: 0, to: RECORDER, gasLimit: 100_000n })]
    const { meta: meta2 } = await plan(new Records(overlay), settled!.head, block2)
    expect(meta2.parentPending).toBe(true)
    const done2 = await execute(overlay)
    // Fresh roles: block 2's done messages wait for its parent; block 1 is decided again and sealed; then block 2.
    const fresh = new Coordinator({ kv, templates: new TemplateRegistry(), trie: genesis.trie, clock })
    for (const message of done2) expect((await fresh.handleDone(message)).kind).toBe('waiting')
    const sealed1 = (await fresh.seal(1n))!
    const sealed2 = (await fresh.sealIfComplete(2n))!
    expect(sealed2.env.parentHash).toBe(sealed1.record.hash)
    expect(sealed2.report.reexecuted).toBeGreaterThanOrEqual(1)
    const [recorded] = await new StateTable(kv).load([storageKey(RECORDER.slice(2), (2).toString(16).padStart(64, '0'))])
    expect(to0x(recorded!.value!)).toBe(sealed1.record.hash)
    const verifier = await SequentialVerifier.fromGenesis(testGenesis({ accounts: 4, extraAlloc: { [RECORDER]: { balance: '0x0', code: PARENT_HASH_RECORDER } } }))
    for (const block of [sealed1, sealed2]) expect((await verifier.verify(block)).ok).toBe(true)
  })
})

describe('a plan on a pending parent', () => {
  const genesis = testGenesis({ accounts: 1 })
  const head0 = genesisHead(genesis)

  it('is stored while the head is its grandparent or its parent, and refused after', async () => {
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const records = new Records(kv)
    const meta = (block: number, pending: boolean): PlanMeta => ({
      v: 1,
      block: String(block),
      planId: `p${block}${pending}`,
      chain: genesis.chain,
      env: {} as PlanMeta['env'],
      shardParts: [],
      txCount: 0,
      blockHashes: {},
      ...(pending ? { parentPending: true as const } : {}),
      stats: {} as PlanMeta['stats'],
      createdAtMs: 0,
    })
    // Head 0: block 2 only on a pending parent.
    expect(await records.putPlan(meta(2, false), [])).toBe(false)
    expect(await records.putPlan(meta(2, true), [])).toBe(true)
    // Head 0: block 3 is too far ahead either way.
    expect(await records.putPlan(meta(3, true), [])).toBe(false)
  })

  it('takes its parent hash and recent hashes from the sealed parent, and refuses any other head', () => {
    const plan = { block: '1', parentPending: true, env: { parentHash: to0x(new Uint8Array(32)), number: '0x1' }, blockHashes: {} } as unknown as PlanMeta
    const resolved = resolvePendingParent(plan, head0)
    expect(resolved.env.parentHash).toBe(head0.hash)
    expect(resolved.blockHashes).toEqual(head0.recentHashes)
    expect(() => resolvePendingParent({ ...plan, block: '2' }, head0)).toThrow(/pending parent/)
    const sealedPlan = { ...plan, parentPending: undefined } as unknown as PlanMeta
    expect(resolvePendingParent(sealedPlan, head0)).toBe(sealedPlan)
  })
})

describe('SettledOverlay', () => {
  it('answers state and code with the settled block’s writes until that block is sealed', async () => {
    const inner = new MemoryKeyValueStore()
    const a = 'aa'.repeat(20)
    const b = 'bb'.repeat(20)
    const c = 'cc'.repeat(20)
    await inner.write([
      { op: 'put', item: { ...stateItemKey(a), value: fromHex('0x01'), version: 5 } },
      { op: 'put', item: { ...stateItemKey(b), value: fromHex('0x02'), version: 6 } },
      { op: 'put', item: { ...stateItemKey(c), value: fromHex('0x03'), version: 7 } },
    ])
    const overlay = new SettledOverlay(inner)
    overlay.lay({
      block: 9n,
      head: {} as never,
      writes: new Map([
        [a, { value: fromHex('0x11'), version: 100 }],
        [b, { value: null, version: 101 }],
      ]),
      codes: new Map([['ee'.repeat(32), fromHex('0x6000')]]),
    })
    const items = await overlay.get([stateItemKey(a), stateItemKey(b), stateItemKey(c), { table: 'code', pk: 'ee'.repeat(32), sk: '-' }])
    expect(items.map((i) => (i === undefined ? undefined : [to0x(i.value), i.version]))).toEqual([['0x11', 100], undefined, ['0x03', 7], ['0x6000', 0]])
    // An earlier block's seal lifts nothing; its own (or a later one's) does.
    overlay.lift(8n)
    expect(overlay.overlaid).toBe(9n)
    overlay.lift(10n)
    expect(overlay.overlaid).toBeUndefined()
    const after = await overlay.get([stateItemKey(a), stateItemKey(b)])
    expect(after.map((i) => to0x(i!.value))).toEqual(['0x01', '0x02'])
  })
})
