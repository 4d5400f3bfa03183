import { describe, expect, it } from 'vitest'

import { buildGenesis } from '../../shared/chain/genesis.ts'
import { Coordinator } from '../../shared/coordinator/coordinator.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { fromHex, to0x } from '../../shared/hex.ts'
import { BackendError } from '../../shared/errors.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { Records } from '../../shared/store/records.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { decodePlannedTxs } from '../../shared/pipeline/codec.ts'
import { createdAddress } from '../../shared/predict/predictor.ts'
import type { WriteOp } from '../../shared/ports/kv-store.ts'
import artifacts from '../../shared/workload/contracts/artifacts.json' with { type: 'json' }
import { generateWorkload, WORKLOAD_MIXES } from '../../shared/workload/generator.ts'
import { addressOf, COINBASE, ETH, runInline, signTx, testGenesis, testGenesisFile } from '../helpers/chain.ts'

describe('every workload mix seals blocks identical to sequential execution', () => {
  for (const mix of WORKLOAD_MIXES) {
    it(mix, async () => {
      const w = generateWorkload({ txs: 120, mix, accounts: 40, hotShare: 0.2, pools: 6, seed: 11 })
      const { summary, events } = await runInline(buildGenesis(w.genesis), w.rawTxs, { workers: 3, shards: 3, blockSize: 40 })
      expect(summary.included).toBe(120)
      expect(summary.rejected).toBe(0)
      expect(summary.verifiedBlocks).toBe(summary.blocks)
      expect(events.every((e) => e.verify?.ok === true)).toBe(true)
      // Templates are learned: the first block's calls without one are pre-executed before it is
      // partitioned (shared/predict/speculate.ts), and the coordinator learns what they missed; the
      // last block is fully predicted, or predicted better than the first.
      if (mix !== 'transfers') {
        expect(events[0]!.plan.stats.speculatedCalls).toBeGreaterThan(0)
        const first = events[0]!.sealed.report.prediction.txsFullyPredicted
        const last = events.at(-1)!.sealed.report
        expect(last.prediction.txsFullyPredicted === last.txs || last.prediction.txsFullyPredicted > first).toBe(true)
      }
    })
  }
})

describe('the beneficiary', () => {
  // COINBASE BALANCE PUSH1 0 SSTORE STOP: stores the beneficiary's balance at the moment of the call.
  const reader = `0x${'be'.repeat(20)}`
  const readerCode = '0x4131600055' + '00'

  it('a transaction that reads its balance sees the exact value (re-executed when other shards paid fees first)', async () => {
    const genesis = testGenesis({ accounts: 24, extraAlloc: { [reader]: { balance: '0x0', code: readerCode } } })
    const txs: string[] = []
    for (let i = 0; i < 20; i++) txs.push(signTx({ from: i, nonce: 0, to: addressOf(100 + i), value: 1n }))
    txs.push(signTx({ from: 20, nonce: 0, to: reader, gasLimit: 100_000n }))
    for (let i = 21; i < 24; i++) txs.push(signTx({ from: i, nonce: 0, to: addressOf(100 + i), value: 1n }))
    const { summary } = await runInline(genesis, txs, { workers: 4, shards: 4, blockSize: 100 })
    expect(summary.included).toBe(24)
    expect(summary.verifiedBlocks).toBe(1)
    expect(summary.reexecuted).toBeGreaterThanOrEqual(1)
  })

  it('the beneficiary may itself send transactions', async () => {
    const file = testGenesisFile({ accounts: 6 })
    file.coinbase = addressOf(0)
    const txs = [signTx({ from: 1, nonce: 0, to: addressOf(7), value: 5n }), signTx({ from: 0, nonce: 0, to: addressOf(8), value: ETH }), signTx({ from: 2, nonce: 0, to: addressOf(0), value: 3n })]
    const { summary } = await runInline(buildGenesis(file), txs, { workers: 3, shards: 3 })
    expect(summary.included).toBe(3)
    expect(summary.verifiedBlocks).toBe(1)
    expect(COINBASE).not.toBe(addressOf(0))
  })
})

describe('contract lifecycle', () => {
  it('a pre-Cancun self-destruct wipes storage: the state root matches after the account is touched again', async () => {
    const victim = `0x${'5d'.repeat(20)}`
    const beneficiary = addressOf(50).slice(2)
    const genesis = testGenesis({
      accounts: 4,
      hardfork: 'shanghai',
      extraAlloc: { [victim]: { balance: '0x10', nonce: '0x1', code: `0x73${beneficiary}ff`, storage: { '0x01': '0x05', '0x02': '0x07' } } },
    })
    const txs = [
      signTx({ from: 0, nonce: 0, to: victim, gasLimit: 100_000n, hardfork: 'shanghai' }),
      signTx({ from: 1, nonce: 0, to: victim, value: 1n, hardfork: 'shanghai' }),
      signTx({ from: 2, nonce: 0, to: addressOf(9), value: 1n, hardfork: 'shanghai' }),
    ]
    const { summary } = await runInline(genesis, txs, { workers: 2, shards: 2, blockSize: 2 })
    expect(summary.included).toBe(3)
    expect(summary.verifiedBlocks).toBe(summary.blocks)
  })

  it('a contract created by a transaction is callable in later blocks (code reaches the store)', async () => {
    const genesis = testGenesis({ accounts: 4 })
    const token = createdAddress(fromHex(addressOf(0)), 0n)
    const approve = (spender: string): string => `0x095ea7b3${spender.slice(2).padStart(64, '0')}${'ff'.repeat(32)}`
    const txs = [
      signTx({ from: 0, nonce: 0, data: artifacts.contracts.Token.bytecode, gasLimit: 1_000_000n }),
      signTx({ from: 1, nonce: 0, to: `0x${token}`, data: approve(addressOf(2)), gasLimit: 100_000n }),
      signTx({ from: 2, nonce: 0, to: `0x${token}`, data: approve(addressOf(3)), gasLimit: 100_000n }),
    ]
    const { summary, events } = await runInline(genesis, txs, { workers: 2, shards: 2, blockSize: 1 })
    expect(summary.included).toBe(3)
    expect(summary.verifiedBlocks).toBe(3)
    const receipt = events[0]!.sealed.receipts[0]!
    expect(receipt.contractAddress).toBe(`0x${token}`)
    expect(events[1]!.sealed.receipts[0]!.status).toBe(1)
    expect(events[1]!.sealed.receipts[0]!.logs).toHaveLength(1)
  })
})

describe('exactly once', () => {
  it('a block is sealed once: a second seal of the same number is refused and the head does not move', async () => {
    const genesis = testGenesis({ accounts: 3 })
    const { cluster, summary } = await runInline(genesis, [signTx({ from: 0, nonce: 0, to: addressOf(1), value: 1n })])
    expect(summary.blocks).toBe(1)
    const records = new Records(cluster.kv)
    const sealed = await records.getBlock(1n)
    expect(sealed).toBeDefined()
    const again = new Coordinator({ kv: cluster.kv, templates: new TemplateRegistry(), trie: buildGenesis(testGenesisFile({ accounts: 3 })).trie })
    expect(await again.seal(1n)).toBeUndefined()
    const refused = await records.seal({ ...sealed!, hash: to0x(keccak256(Uint8Array.of(1))) }, { ...(await records.getHead())!, number: '1' }, [])
    expect(refused).toBe(false)
    expect((await records.getHead())!.hash).toBe(sealed!.hash)
  })
})

describe('a coordinator that dies mid-seal', () => {
  it('is finished from its journal: a failure after the state writes and before the seal seals the same, correct block', async () => {
    class FailingSeal extends MemoryKeyValueStore {
      failures = 2
      override async transact(ops: readonly WriteOp[]): Promise<void> {
        const movesHead = ops.some((op) => op.op === 'put' && op.item.table === 'meta' && op.item.pk === 'head' && op.item.version > 0)
        if (movesHead && this.failures > 0) {
          this.failures--
          throw new BackendError('injected failure: the store call that moves the head failed (the coordinator died before its seal)')
        }
        return super.transact(ops)
      }
    }
    const kv = new FailingSeal()
    const dlq = new MemoryQueue({ name: 'dlq' })
    const queue = (name: string): MemoryQueue => new MemoryQueue({ name, visibilityTimeoutMs: 150, maxReceiveCount: 20, deadLetter: dlq })
    const genesis = testGenesis({ accounts: 8 })
    const txs = Array.from({ length: 8 }, (_, i) => signTx({ from: i, nonce: 0, to: addressOf(20 + (i % 3)), value: BigInt(i + 1) }))
    const { summary, events } = await runInline(genesis, txs, {
      workers: 2,
      shards: 2,
      blockSize: 4,
      backends: { kv, ingress: queue('ingress'), shardQueue: queue('shards'), doneQueue: queue('done'), deadLetter: dlq },
    })
    expect(kv.failures).toBe(0)
    expect(summary.included).toBe(8)
    expect(summary.verifiedBlocks).toBe(2)
    expect(events.map((e) => e.sealed.record.number)).toEqual(['1', '2'])
    // The journal and the rest of the block's work are cleaned up after sealing.
    expect(kv.count('plans')).toBe(0)
  })
})

describe('a block too big for one item', () => {
  it('its record (10,000+ transaction hashes, over 400 KB) spans items in the seal journal and in the sealed block, and racing journals keep their own parts', async () => {
    const { putSealJournal, getSealJournal } = await import('../../shared/store/seal-journal.ts')
    const genesis = testGenesis({ accounts: 3 })
    const { events } = await runInline(genesis, [signTx({ from: 0, nonce: 0, to: addressOf(1), value: 1n })])
    const small = events[0]!.sealed
    const hashes = Array.from({ length: 12_000 }, (_, i) => to0x(keccak256(Uint8Array.of(i >> 8, i & 255))))
    const record = { ...small.record, number: '2', txHashes: hashes, rejected: hashes.slice(0, 2_000) }
    expect(new TextEncoder().encode(JSON.stringify(record)).length).toBeGreaterThan(400 * 1024)
    const kv = new MemoryKeyValueStore()
    const journal = { record, head: { ...small.head, number: '2' }, env: small.env, writes: [], codes: [], raws: small.raws, receipts: small.receipts, rejections: [], report: small.report }
    expect(await putSealJournal(kv, journal)).toBe(true)
    // A second attempt loses the race and leaves the winner's journal readable and unchanged.
    expect(await putSealJournal(kv, { ...journal, record: { ...record, sealedAtMs: record.sealedAtMs + 1 } })).toBe(false)
    const back = await getSealJournal(kv, 2n)
    expect(back!.record).toEqual(record)
    expect(back!.receipts).toEqual(small.receipts)

    // Stored body first (while the root is hashed), then the rest: the same journal comes back;
    // a body whose attempt never commits is not read.
    const { putSealJournalBody } = await import('../../shared/store/seal-journal.ts')
    const kv2 = new MemoryKeyValueStore()
    const writes = [{ key: addressOf(1).slice(2), value: Uint8Array.of(1, 2), version: 7, baseVersion: 3 }]
    const codes: [string, Uint8Array][] = [['ab'.repeat(32), Uint8Array.of(0x60, 0)]]
    const orphan = await putSealJournalBody(kv2, 2n, { writes: [], codes: [], raws: [], receiptJson: [] })
    // The body's receipts are made before the header: their block hash is empty, filled in from
    // the record when the journal is read.
    const receiptJson = small.receipts.map((r) => JSON.stringify({ ...r, blockHash: '' }))
    const body = await putSealJournalBody(kv2, 2n, { writes, codes, raws: small.raws, receiptJson })
    expect(body.attempt).not.toBe(orphan.attempt)
    expect(await putSealJournal(kv2, { ...journal, writes, codes }, body)).toBe(true)
    // The same body with its transactions' and receipts' parts made as they settled: the same items.
    const { BodyParts } = await import('../../shared/store/seal-journal.ts')
    const made = new BodyParts()
    small.raws.forEach((raw, i) => made.add(raw, receiptJson[i]!))
    const kv3 = new MemoryKeyValueStore()
    const madeBody = await putSealJournalBody(kv3, 2n, { writes, codes, raws: small.raws, receiptJson, made })
    expect(madeBody.parts).toEqual(body.parts)
    const items = async (store: MemoryKeyValueStore, attempt: string): Promise<[string, Uint8Array][]> => {
      const page = await store.query('plans', '2', {})
      // The body's parts (the committed journal adds its record under the same attempt).
      return page.items.filter((i) => i.sk.startsWith(`journal#${attempt}#`) && !i.sk.includes('#record#')).map((i) => [i.sk.slice(`journal#${attempt}#`.length), i.value])
    }
    expect(await items(kv3, madeBody.attempt)).toEqual(await items(kv2, body.attempt))
    expect(await items(kv3, madeBody.attempt)).toHaveLength(4)
    const short = new BodyParts()
    await expect(putSealJournalBody(kv3, 2n, { writes, codes, raws: small.raws, receiptJson, made: short })).rejects.toThrow(/parts made for 0/)
    const fromBody = await getSealJournal(kv2, 2n)
    expect(fromBody!.writes).toEqual(writes)
    expect(fromBody!.codes).toEqual(codes)
    expect(fromBody!.raws).toEqual(small.raws)
    expect(fromBody!.receipts).toEqual(small.receipts)
    expect(fromBody!.receipts.every((r) => r.blockHash === record.hash && r.blockHash.length === 66)).toBe(true)
    expect(fromBody!.record).toEqual(record)

    const records = new Records(kv)
    await records.putBaseHead({ ...small.record, number: '1' }, { ...small.head, number: '1' })
    expect(await records.seal(record, { ...small.head, number: '2' }, [small.raws])).toBe(true)
    expect(await records.getBlock(2n)).toEqual(record)
    expect(await records.seal(record, { ...small.head, number: '2' }, [small.raws])).toBe(false)
  })
})

describe('two sequencers racing for one block', () => {
  it('one plan stands whole; the other sequencer backs off with a clear error and acknowledges nothing', async () => {
    const { Sequencer, ConflictingPlanError } = await import('../../shared/sequencer/sequencer.ts')
    const { initializeChain } = await import('../../shared/cluster/bootstrap.ts')
    const genesis = testGenesis({ accounts: 6 })
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const shardQueue = new MemoryQueue({ name: 'shards' })
    const make = (txs: string[]) => {
      const ingress = new MemoryQueue({ name: 'ingress', visibilityTimeoutMs: 60_000 })
      const sequencer = new Sequencer({
        kv,
        ingress,
        shardQueue,
        templates: new TemplateRegistry(),
        config: { chain: genesis.chain, shardCount: 2, blockSizeMax: 10, blockTimeSec: 12, coinbase: genesis.coinbase, intakeWaitMs: 0, receiveRoundsMax: 5 },
      })
      return { ingress, sequencer, txs }
    }
    const a = make([signTx({ from: 0, nonce: 0, to: addressOf(9), value: 1n }), signTx({ from: 1, nonce: 0, to: addressOf(9), value: 1n })])
    const b = make([signTx({ from: 2, nonce: 0, to: addressOf(9), value: 1n })])
    for (const s of [a, b]) await s.ingress.send(s.txs.map((raw) => ({ body: JSON.stringify({ raw }) })))
    const results = await Promise.allSettled([a.sequencer.planNext(), b.sequencer.planNext()])
    const won = results.filter((r) => r.status === 'fulfilled')
    const lost = results.filter((r) => r.status === 'rejected')
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(1)
    expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictingPlanError)
    // The standing plan is whole: every part it names can be read and decodes to its transactions.
    const records = new Records(kv)
    const meta = (await records.getPlanMeta(1n))!
    let planned = 0
    for (let shard = 0; shard < meta.shardParts.length; shard++) {
      for (const part of await records.getShardPlanParts(meta, shard)) planned += decodePlannedTxs(part).length
    }
    expect(planned).toBe(meta.txCount)
    // The loser acknowledged nothing: its messages are still held (they come back later).
    const loser = (results[0]!.status === 'rejected' ? a : b).ingress
    const depth = await loser.depth()
    expect(depth.visible + depth.inFlight).toBeGreaterThan(0)
  })
})

describe('a sequencer whose head read went stale', () => {
  it('stores no plan for a block that was sealed meanwhile and acknowledges nothing (simulator seed 5362)', async () => {
    const { Sequencer, ConflictingPlanError } = await import('../../shared/sequencer/sequencer.ts')
    const { initializeChain } = await import('../../shared/cluster/bootstrap.ts')
    const genesis = testGenesis({ accounts: 4 })
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const records = new Records(kv)
    const genesisHead = (await records.getHead())!
    // The store as the sequencer sees it: its first head read is answered before the coordinator
    // seals block 1 (a slow call), every other call sees the store as it is.
    const [staleHeadItem] = await kv.get([{ table: 'meta', pk: 'head', sk: '-' }])
    let staleReads = 1
    const view = new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop === 'get') {
          return async (keys: Parameters<MemoryKeyValueStore['get']>[0]) => {
            const isHead = keys.length === 1 && keys[0]!.table === 'meta' && keys[0]!.pk === 'head'
            if (isHead && staleReads-- > 0) return [staleHeadItem]
            return target.get(keys)
          }
        }
        const value = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    // Block 1 is sealed (and its plan cleaned up) by someone else before the sequencer plans.
    const block1 = { ...(await records.getBlock(0n))!, number: '1' }
    expect(await records.seal(block1, { ...genesisHead, number: '1' }, [])).toBe(true)
    const ingress = new MemoryQueue({ name: 'ingress', visibilityTimeoutMs: 60_000 })
    const sequencer = new Sequencer({
      kv: view,
      ingress,
      shardQueue: new MemoryQueue({ name: 'shards' }),
      templates: new TemplateRegistry(),
      config: { chain: genesis.chain, shardCount: 1, blockSizeMax: 10, blockTimeSec: 12, coinbase: genesis.coinbase, intakeWaitMs: 0, receiveRoundsMax: 5 },
    })
    await ingress.send([{ body: JSON.stringify({ raw: signTx({ from: 0, nonce: 0, to: addressOf(9), value: 1n }) }) }])
    await expect(sequencer.planNext()).rejects.toBeInstanceOf(ConflictingPlanError)
    expect(await records.getPlanMeta(1n)).toBeUndefined()
    const depth = await ingress.depth()
    expect(depth.visible + depth.inFlight).toBe(1)
  })
})
