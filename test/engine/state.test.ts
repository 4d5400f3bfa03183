import { Account, Address } from '@ethereumjs/util'
import { describe, expect, it } from 'vitest'

import { fromHex, toHex } from '../../shared/hex.ts'
import { STORE_LIMITS } from '../../shared/ports/kv-store.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { makeVersion, txVersion, wipeKey } from '../../shared/state/keys.ts'
import { TxStateManager } from '../../shared/state/tx-state-manager.ts'
import { ABSENT, newAccountValue, type VersionedValue } from '../../shared/state/values.ts'
import { BlockView } from '../../shared/state/view.ts'
import { APPLY_CALLS_IN_FLIGHT, StateTable } from '../../shared/store/state-table.ts'

const A = '11'.repeat(20)
const B = '22'.repeat(20)
const CB = 'cc'.repeat(20)
const slot = (n: number): Uint8Array => fromHex(n.toString(16).padStart(64, '0'))
const addr = (hex: string): Address => new Address(fromHex(hex))

function viewOf(entries: Record<string, VersionedValue>, block = 5n): BlockView {
  return new BlockView(block, {
    load: async (keys) => keys.map((k) => entries[k] ?? ABSENT),
    loadCode: async (hashes) => hashes.map(() => new Uint8Array(0)),
  })
}

function managerOn(view: BlockView): TxStateManager {
  const sm = new TxStateManager()
  sm.setView(view, CB)
  sm.beginTx()
  return sm
}

describe('TxStateManager', () => {
  it('records each first read with the value and version observed; unchanged puts are not writes', async () => {
    const view = viewOf({ [A]: { value: newAccountValue(100n), version: 7 } })
    const sm = managerOn(view)
    const account = (await sm.getAccount(addr(A)))!
    await sm.getAccount(addr(A))
    await sm.putAccount(addr(A), account) // the EVM puts unchanged accounts on every call
    const access = await sm.finishTx()
    expect([...access.reads]).toEqual([[A, { value: newAccountValue(100n), version: 7 }]])
    expect(access.writes.size).toBe(0)
  })

  it('reverting a checkpoint restores the transaction layer', async () => {
    const sm = managerOn(viewOf({ [A]: { value: newAccountValue(100n), version: 1 } }))
    await sm.putStorage(addr(A), slot(1), Uint8Array.of(1))
    await sm.checkpoint()
    await sm.putStorage(addr(A), slot(1), Uint8Array.of(2))
    await sm.putStorage(addr(A), slot(2), Uint8Array.of(3))
    expect(await sm.getStorage(addr(A), slot(1))).toEqual(Uint8Array.of(2))
    await sm.revert()
    expect(await sm.getStorage(addr(A), slot(1))).toEqual(Uint8Array.of(1))
    expect(await sm.getStorage(addr(A), slot(2))).toEqual(new Uint8Array(0))
    const access = await sm.finishTx()
    expect([...access.writes.keys()]).toEqual([A + toHex(slot(1))])
  })

  it('an account put is the account as it was put: later changes to the object, reverts and restores are exact', async () => {
    const sm = managerOn(viewOf({ [A]: { value: newAccountValue(100n, 4n), version: 1 } }))
    const account = (await sm.getAccount(addr(A)))!
    account.balance = 90n
    await sm.putAccount(addr(A), account)
    account.balance = 1n // the caller's object, changed after the put: not the state
    expect((await sm.getAccount(addr(A)))!.balance).toBe(90n)
    const got = (await sm.getAccount(addr(A)))!
    got.nonce = 99n // nor is an object handed out
    expect((await sm.getAccount(addr(A)))!.nonce).toBe(4n)
    await sm.checkpoint()
    await sm.putAccount(addr(A), new Account(5n, 80n))
    await sm.putAccount(addr(B), new Account(0n, 7n))
    expect((await sm.getAccount(addr(A)))!.nonce).toBe(5n)
    await sm.revert()
    expect((await sm.getAccount(addr(A)))!.balance).toBe(90n)
    expect(await sm.getAccount(addr(B))).toBeUndefined()
    let access = await sm.finishTx()
    expect([...access.writes]).toEqual([[A, newAccountValue(90n, 4n)]])

    // Changed and changed back within the transaction: no write.
    sm.beginTx()
    const again = (await sm.getAccount(addr(A)))!
    await sm.putAccount(addr(A), new Account(again.nonce, again.balance + 5n, again.storageRoot, again.codeHash))
    await sm.putAccount(addr(A), again)
    access = await sm.finishTx()
    expect(access.writes.size).toBe(0)
  })

  it('the beneficiary\'s fee after the EVM returned is a delta, not a read', async () => {
    const sm = managerOn(viewOf({ [CB]: { value: newAccountValue(50n), version: 3 } }))
    sm.phase = 'post'
    const miner = (await sm.getAccount(addr(CB)))!
    miner.balance += 21n
    await sm.putAccount(addr(CB), miner)
    expect((await sm.getAccount(addr(CB)))!.balance).toBe(71n) // journal cleanup's emptiness check
    const access = await sm.finishTx()
    expect(access.feeDelta).toBe(21n)
    expect(access.reads.has(CB)).toBe(false)
    expect(access.writes.has(CB)).toBe(false)
  })

  it('reading the beneficiary during execution is a real read and its write is absolute', async () => {
    const sm = managerOn(viewOf({ [CB]: { value: newAccountValue(50n), version: 3 } }))
    sm.phase = 'exec'
    expect((await sm.getAccount(addr(CB)))!.balance).toBe(50n) // BALANCE(COINBASE)
    sm.phase = 'post'
    const miner = (await sm.getAccount(addr(CB)))!
    miner.balance += 21n
    await sm.putAccount(addr(CB), miner)
    const access = await sm.finishTx()
    expect(access.feeDelta).toBe(0n)
    expect(access.reads.get(CB)).toEqual({ value: newAccountValue(50n), version: 3 })
    expect(access.writes.get(CB)).toEqual(newAccountValue(71n))
  })

  it('an empty beneficiary left by a zero fee depends on its exact value (EIP-158 deletion)', async () => {
    const sm = managerOn(viewOf({}))
    sm.phase = 'post'
    const miner = (await sm.getAccount(addr(CB))) ?? new Account()
    await sm.putAccount(addr(CB), miner)
    expect(await sm.getAccount(addr(CB))).toBeDefined()
    const access = await sm.finishTx()
    expect(access.reads.get(CB)).toEqual(ABSENT)
  })

  it('a wipe hides storage, keeps slots written after it, and is a write only if the account existed', async () => {
    const view = viewOf({
      [A]: { value: newAccountValue(1n, 1n), version: 2 },
      [A + toHex(slot(1))]: { value: Uint8Array.of(9), version: 2 },
    })
    const sm = managerOn(view)
    expect(await sm.getStorage(addr(A), slot(1))).toEqual(Uint8Array.of(9))
    await sm.clearStorage(addr(A))
    expect(await sm.getStorage(addr(A), slot(1))).toEqual(new Uint8Array(0))
    await sm.putStorage(addr(A), slot(1), Uint8Array.of(9)) // same value as before the wipe: still a write
    const access = await sm.finishTx()
    expect(access.writes.has(wipeKey(A))).toBe(true)
    expect(access.writes.get(A + toHex(slot(1)))).toEqual(Uint8Array.of(9))
    expect(access.reads.has(wipeKey(A))).toBe(true)

    const fresh = managerOn(viewOf({}))
    await fresh.clearStorage(addr(B)) // as CREATE does on a new address
    await fresh.putStorage(addr(B), slot(1), Uint8Array.of(1))
    const created = await fresh.finishTx()
    expect(created.writes.has(wipeKey(B))).toBe(false)
  })
})

describe('BlockView', () => {
  it('an in-block wipe hides block-start slots until they are written again', async () => {
    const view = viewOf({ [A + toHex(slot(1))]: { value: Uint8Array.of(9), version: 2 }, [A + toHex(slot(2))]: { value: Uint8Array.of(8), version: 2 } })
    expect((await view.get(A + toHex(slot(1)))).value).toEqual(Uint8Array.of(9))
    view.applyWrites(new Map([[wipeKey(A), Uint8Array.of(1)], [A + toHex(slot(2)), Uint8Array.of(3)]]), txVersion(5n, 4))
    expect(await view.get(A + toHex(slot(1)))).toEqual({ value: null, version: txVersion(5n, 4) })
    expect((await view.get(A + toHex(slot(2)))).value).toEqual(Uint8Array.of(3))
    expect(view.getInBlock(A)).toBeUndefined()
  })
})

describe('StateTable', () => {
  it('a slot older than its account\'s wipe reads as absent; a later one does not', async () => {
    const kv = new MemoryKeyValueStore()
    const table = new StateTable(kv)
    await table.seed([[A + toHex(slot(1)), Uint8Array.of(9)]], makeVersion(3, 1))
    await table.apply([
      { key: wipeKey(A), value: Uint8Array.of(1), version: makeVersion(4, 2), baseVersion: 0 },
      { key: A + toHex(slot(2)), value: Uint8Array.of(5), version: makeVersion(4, 3), baseVersion: 0 },
    ])
    const [one, two] = await table.load([A + toHex(slot(1)), A + toHex(slot(2))])
    expect(one!.value).toBeNull()
    expect(one!.version).toBe(makeVersion(3, 1)) // the stored item's version, for apply conditions
    expect(two!.value).toEqual(Uint8Array.of(5))
  })

  it('keeps code between blocks: one store read and one object per hash, the oldest dropped beyond its budget', async () => {
    const kv = new MemoryKeyValueStore()
    const reads: string[] = []
    const get = kv.get.bind(kv)
    kv.get = async (keys) => {
      reads.push(...keys.map((k) => k.pk))
      return get(keys)
    }
    const table = new StateTable(kv, 250)
    const code = (b: number): Uint8Array => new Uint8Array(100).fill(b)
    await new StateTable(kv).putCode([['aa', code(1)], ['bb', code(2)], ['cc', code(3)]])
    const [a1, b1] = await table.loadCode(['aa', 'bb'])
    const [a2, b2] = await table.loadCode(['aa', 'bb'])
    expect(a2).toBe(a1)
    expect(b2).toBe(b1)
    expect(a1).toEqual(code(1))
    expect(reads).toEqual(['aa', 'bb'])
    // A third 100-byte code exceeds the 250-byte budget: the oldest (aa) goes, and is read again.
    const [c1] = await table.loadCode(['cc'])
    expect(c1).toEqual(code(3))
    await table.loadCode(['bb', 'cc', 'aa'])
    expect(reads).toEqual(['aa', 'bb', 'cc', 'aa'])
    await expect(table.loadCode(['dd'])).rejects.toThrow(/not in the store/)
  })

  it('apply is conditional on block-start versions and idempotent', async () => {
    const kv = new MemoryKeyValueStore()
    const table = new StateTable(kv)
    await table.seed([[A, newAccountValue(1n)]], makeVersion(1, 1))
    const write = { key: A, value: newAccountValue(2n), version: makeVersion(2, 1), baseVersion: makeVersion(1, 1) }
    await table.apply([write])
    await table.apply([write]) // a retried apply changes nothing
    expect((await table.load([A]))[0]!.value).toEqual(newAccountValue(2n))
    await expect(table.apply([{ ...write, value: newAccountValue(3n), version: makeVersion(3, 1), baseVersion: makeVersion(1, 1) }])).rejects.toThrow(/state changed under block apply/)
  })

  it('a large apply has several write transactions in flight, lands every write, and a conflict in any group fails it', async () => {
    const kv = new MemoryKeyValueStore()
    let inFlight = 0
    let most = 0
    const transact = kv.transact.bind(kv)
    kv.transact = async (ops) => {
      inFlight++
      most = Math.max(most, inFlight)
      await new Promise((resolve) => setTimeout(resolve, 1))
      try {
        return await transact(ops)
      } finally {
        inFlight--
      }
    }
    const table = new StateTable(kv)
    const key = (i: number) => A + toHex(slot(i))
    const writes = Array.from({ length: 20 * STORE_LIMITS.transactOps }, (_, i) => ({ key: key(i), value: Uint8Array.of(i % 200, 1), version: makeVersion(2, 1), baseVersion: 0 }))
    const stats = await table.apply(writes)
    expect(stats.transactions).toBe(20)
    expect(most).toBeGreaterThan(1)
    expect(most).toBeLessThanOrEqual(APPLY_CALLS_IN_FLIGHT)
    const loaded = await table.load(writes.map((w) => w.key))
    loaded.forEach((l, i) => expect(l!.value).toEqual(writes[i]!.value))
    // One write (in the 13th group of 20) whose base version is not the stored one: the apply fails as a broken invariant.
    const stale = writes.map((w, i) => (i === 12 * STORE_LIMITS.transactOps + 5 ? { ...w, value: Uint8Array.of(7), version: makeVersion(4, 1), baseVersion: makeVersion(3, 1) } : w))
    await expect(table.apply(stale)).rejects.toThrow(/state changed under block apply/)
  })
})
