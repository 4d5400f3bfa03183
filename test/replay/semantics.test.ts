/**
 * What replay does with state a fixture does not supply, on a synthetic mainnet block (no
 * fixture files needed): an unlisted slot of a contract is answered as unsupplied; a worker's
 * speculative read of one (on a view missing another shard's write) is harmless, because the
 * coordinator re-executes that transaction; a read of one in the real order is a
 * MissingStateError naming the key. An absent account is a new, empty account.
 */
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { afterEach, describe, expect, it } from 'vitest'

import { createMainnetCommon } from '../../shared/chain/common.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { privateKeyToAddress } from '../../shared/crypto/secp256k1.ts'
import { ConfigError, MissingStateError } from '../../shared/errors.ts'
import { UNSUPPLIED_VALUE } from '../../shared/exec/executor.ts'
import { bigintToHex, bigintToMinimalBytes, fromHex, to0x, toHex } from '../../shared/hex.ts'
import { ReplayCluster } from '../../shared/replay/cluster.ts'
import { firstDifferingReceipt, referenceMatchesHeader } from '../../shared/replay/compare.ts'
import { buildPreState, fixtureFromJson, type ReplayFixture } from '../../shared/replay/fixture.ts'
import { runReference } from '../../shared/replay/reference.ts'
import { ReplayStore } from '../../shared/replay/store.ts'
import { storageKey } from '../../shared/state/keys.ts'
import { decodeAccount } from '../../shared/state/values.ts'
import { StateTable } from '../../shared/store/state-table.ts'
import { key } from '../helpers/chain.ts'

const NUMBER = 20_000_000n
const TIMESTAMP = 1_720_000_000n // Cancun on mainnet
const GWEI = 10n ** 9n
const COINBASE = `0x${'c0'.repeat(20)}`
const CONTRACT = `0x${'ab'.repeat(20)}`
const BEACON_ROOTS = '0x000f3df6d732807ef1319fb7b8bb8522d0beac02'
const PARENT_BEACON_ROOT = `0x${'44'.repeat(32)}`

/**
 * With calldata: SSTORE(1, 1). Without: if SLOAD(1) == 0 then SLOAD(2). So slot 2 is read only
 * while slot 1 is still zero.
 */
const CODE = '0x3660115760015460' + '0f' + '576002545000' + '5b00' + '5b6001600155' + '00'

const sender = (i: number): string => to0x(privateKeyToAddress(key(i)))

function signedJson(from: number, data: string, to = CONTRACT): Record<string, unknown> {
  const common = createMainnetCommon(NUMBER, TIMESTAMP)
  const tx = createFeeMarket1559Tx(
    { chainId: 1n, nonce: 0n, gasLimit: 100_000n, maxFeePerGas: 2n * GWEI, maxPriorityFeePerGas: GWEI, to: to as `0x${string}`, value: 0n, data: data as `0x${string}` },
    { common },
  ).sign(key(from))
  return { ...tx.toJSON(), hash: to0x(tx.hash()), from: sender(from) }
}

function preStateJson(): Record<string, unknown> {
  const code = fromHex(CODE)
  const funded = { basic: { balance: bigintToHex(10n ** 18n), nonce: 0 }, code: null, code_hash: null, storage: {} }
  return {
    [sender(1)]: funded,
    [sender(2)]: funded,
    // EIP-4788's system contract (mainnet fixtures lack it): its ring buffer is written before the transactions.
    [BEACON_ROOTS]: { basic: { balance: '0x0', nonce: 1 }, code: { bytecode: '0x00', original_len: 1 }, code_hash: to0x(keccak256(Uint8Array.of(0))), storage: {} },
    [HASHER]: { basic: { balance: '0x0', nonce: 1 }, code: { bytecode: BLOCKHASH_CODE, original_len: fromHex(BLOCKHASH_CODE).length }, code_hash: to0x(keccak256(fromHex(BLOCKHASH_CODE))), storage: { '0x0': '0x0' } },
    [CONTRACT]: {
      basic: { balance: '0x0', nonce: 1 },
      code: { bytecode: `${CODE}000000`, original_len: code.length, jump_table: null },
      code_hash: to0x(keccak256(code)),
      // Slot 1 is listed (zero); slot 2 is not.
      storage: { '0x1': '0x0' },
    },
  }
}

/** SSTORE(0, BLOCKHASH(NUMBER - 2)): a block the fixture gives no hash for (it knows the parent's). */
const BLOCKHASH_CODE = '0x6002430340600055' + '00'
const HASHER = `0x${'cd'.repeat(20)}`

/** A Cancun block of the given transactions; its expected header fields come from the reference. */
async function syntheticFixture(transactions: Record<string, unknown>[], withReference = true): Promise<ReplayFixture> {
  const zero32 = `0x${'00'.repeat(32)}`
  const block = {
    number: bigintToHex(NUMBER),
    hash: `0x${'11'.repeat(32)}`,
    parentHash: `0x${'22'.repeat(32)}`,
    miner: COINBASE,
    timestamp: bigintToHex(TIMESTAMP),
    gasLimit: bigintToHex(30_000_000n),
    gasUsed: '0x0',
    difficulty: '0x0',
    mixHash: `0x${'33'.repeat(32)}`,
    nonce: '0x0000000000000000',
    extraData: '0x',
    receiptsRoot: zero32,
    logsBloom: `0x${'00'.repeat(256)}`,
    baseFeePerGas: bigintToHex(GWEI),
    excessBlobGas: '0x0',
    blobGasUsed: '0x0',
    parentBeaconBlockRoot: PARENT_BEACON_ROOT,
    // One to a funded sender, one to an account that does not exist yet (amounts in gwei).
    withdrawals: [
      { index: '0x1', validatorIndex: '0x7', address: sender(1), amount: '0x3b9aca00' },
      { index: '0x2', validatorIndex: '0x8', address: sender(3), amount: '0x5' },
    ],
    uncles: [],
    transactions,
  }
  const fixture = await fixtureFromJson({ block, preState: preStateJson() }, 'synthetic')
  if (!withReference) return fixture
  const reference = await runReference(fixture)
  fixture.expected = { receiptsRoot: reference.receiptsRoot, gasUsed: reference.gasUsed, logsBloom: reference.logsBloom }
  return fixture
}

let cluster: ReplayCluster | undefined
afterEach(async () => {
  await cluster?.stop()
  cluster = undefined
})

describe('replay store', () => {
  it('answers an unlisted slot of a contract as unsupplied, and everything else as the pre-state says', async () => {
    const pre = buildPreState(preStateJson())
    const store = new ReplayStore()
    store.reset(pre)
    const c = CONTRACT.slice(2)
    const get = async (pk: string) => (await store.get([{ table: 'state', pk, sk: '-' }]))[0]
    expect((await get(storageKey(c, '2'.padStart(64, '0'))))?.value).toEqual(UNSUPPLIED_VALUE)
    // Listed as zero: absent, which reads as zero.
    expect(await get(storageKey(c, '1'.padStart(64, '0')))).toBeUndefined()
    // An account absent from the pre-state does not exist; neither does its storage.
    expect(await get(`${'77'.repeat(20)}`)).toBeUndefined()
    expect(await get(storageKey('77'.repeat(20), '2'.padStart(64, '0')))).toBeUndefined()
    // An account without code has empty storage.
    expect(await get(storageKey(sender(1).slice(2), '2'.padStart(64, '0')))).toBeUndefined()
    expect(store.unsuppliedAnswers).toBe(1)
  })

  it('refuses a pre-state whose code does not hash to its code_hash', () => {
    const bad = preStateJson()
    ;(bad[CONTRACT] as { code_hash: string }).code_hash = `0x${'12'.repeat(32)}`
    expect(() => buildPreState(bad)).toThrow(ConfigError)
  })

  it('refuses a transaction whose fields do not serialize to its hash', async () => {
    const tx = signedJson(1, '0x01')
    tx.value = '0x1'
    await expect(syntheticFixture([tx])).rejects.toThrow(/serializes to hash/)
  })
})

describe('replay of state outside the pre-state', () => {
  it('a worker that speculatively reads an unlisted slot is re-executed, and the block matches', async () => {
    // Sender 1 sets slot 1; sender 2 then reads slot 1 (now 1) and not slot 2. The two share no
    // predicted write, so they run in different shards: sender 2's worker sees slot 1 = 0 and
    // reads slot 2 - which the fixture does not list.
    const fixture = await syntheticFixture([signedJson(1, '0x01'), signedJson(2, '0x')])
    // Without speculation (the default): from senders and recipients alone the two calls do not conflict.
    cluster = await ReplayCluster.start({ workers: 2, threads: false })
    const run = await cluster.replay(fixture)
    expect(run.shards).toBe(2)
    expect(cluster.store.unsuppliedAnswers).toBeGreaterThan(0)
    expect(run.reexecuted).toBeGreaterThanOrEqual(1)
    expect(run.comparison.ok).toBe(true)
    const reference = await runReference(fixture)
    expect(referenceMatchesHeader(reference, fixture)).toBe(true)
    expect(firstDifferingReceipt(run.sealed, fixture, reference)).toBeUndefined()
    // The post-state over the (partial) pre-state is @ethereumjs/vm's too: system writes included.
    expect(run.sealed.head.stateRoot).toBe(reference.stateRoot)
  })

  it('with speculation a call is run against the pre-state before partitioning: the conflict is predicted, nothing re-executed', async () => {
    // Two calls that both SSTORE slot 1 (a write no sender or recipient rule predicts).
    const fixture = await syntheticFixture([signedJson(1, '0x01020304'), signedJson(2, '0x01020304')])
    cluster = await ReplayCluster.start({ workers: 2, threads: false })
    const without = await cluster.replay(fixture)
    await cluster.stop()
    cluster = await ReplayCluster.start({ workers: 2, threads: false, speculate: true })
    const run = await cluster.replay(fixture)
    expect([without.shards, without.reexecuted]).toEqual([2, 1])
    expect([run.shards, run.reexecuted]).toEqual([1, 0])
    for (const r of [without, run]) expect(r.comparison.ok).toBe(true)
    const reference = await runReference(fixture)
    expect(run.sealed.head.stateRoot).toBe(reference.stateRoot)
  })

  it("applies the block's system operations from its header: EIP-4788 beacon root, withdrawals", async () => {
    const fixture = await syntheticFixture([signedJson(1, '0x01')])
    cluster = await ReplayCluster.start({ workers: 1, threads: false })
    const run = await cluster.replay(fixture)
    expect(run.comparison.ok).toBe(true)
    const reference = await runReference(fixture)
    expect(run.sealed.head.stateRoot).toBe(reference.stateRoot)
    const state = new StateTable(cluster.store)
    const ring = 8191n
    const slot = (n: bigint): string => storageKey(BEACON_ROOTS.slice(2), n.toString(16).padStart(64, '0'))
    const [time, root, fresh] = await state.load([slot(TIMESTAMP % ring), slot((TIMESTAMP % ring) + ring), sender(3).slice(2)])
    expect(time!.value).toEqual(bigintToMinimalBytes(TIMESTAMP))
    expect(to0x(root!.value!)).toBe(PARENT_BEACON_ROOT)
    expect(decodeAccount(fresh!.value)?.balance).toBe(5n * GWEI)
  })

  it('names the first receipt where the engine and the reference differ', async () => {
    const fixture = await syntheticFixture([signedJson(1, '0x01'), signedJson(2, '0x')])
    cluster = await ReplayCluster.start({ workers: 1, threads: false })
    const run = await cluster.replay(fixture)
    const reference = await runReference(fixture)
    expect(firstDifferingReceipt(run.sealed, fixture, reference)).toBeUndefined()
    run.sealed.receipts[1] = { ...run.sealed.receipts[1]!, status: 0 }
    const difference = firstDifferingReceipt(run.sealed, fixture, reference)
    expect(difference?.index).toBe(1)
    expect(difference?.engine?.status).toBe(0)
    expect(difference?.reference?.status).toBe(1)
    expect(difference?.txHash).toBe(fixture.txs[1]!.hashHex)
  })

  it('a read of an unlisted slot in the real order is a MissingStateError naming the key', async () => {
    const fixture = await syntheticFixture([signedJson(2, '0x'), signedJson(1, '0x01')])
    cluster = await ReplayCluster.start({ workers: 2, threads: false })
    const error = await cluster.replay(fixture).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MissingStateError)
    expect((error as MissingStateError).key).toBe(storageKey(toHex(fromHex(CONTRACT)), '2'.padStart(64, '0')))
    expect((error as MissingStateError).details).toContain('read by transaction 0')
    // The cluster says so instead of replaying on over leftovers.
    expect(cluster.unusable).toBe(true)
    await expect(cluster.replay(fixture)).rejects.toThrow(/stopped after a failure/)
  })

  it('a BLOCKHASH the fixture cannot answer fails the block with a MissingStateError, from worker threads too', async () => {
    const fixture = await syntheticFixture([signedJson(1, '0x', HASHER)], false)
    const missing = `blockhash:${NUMBER - 2n}`
    cluster = await ReplayCluster.start({ workers: 1, threads: false })
    await expect(cluster.replay(fixture)).rejects.toMatchObject({ name: 'MissingStateError', key: missing })
    await cluster.stop()
    // A thread's failure comes back through the dead-letter queue; the shard is re-run here to name it.
    cluster = await ReplayCluster.start({ workers: 1, visibilityTimeoutMs: 500 })
    await expect(cluster.replay(fixture)).rejects.toMatchObject({ name: 'MissingStateError', key: missing })
  })
})
