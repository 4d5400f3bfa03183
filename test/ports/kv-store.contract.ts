/**
 * The KeyValueStore contract: one suite, run against the in-process store
 * (memory.contract.test.ts) and the DynamoDB adapter (aws.contract.aws.test.ts), so the engine
 * sees the same semantics on every backend: conditions, all-or-nothing transactions, limits,
 * batching beyond one call, pagination, and optimistic concurrency under contention.
 */
import { describe, expect, it } from 'vitest'

import { ConditionFailedError, ParevmError } from '../../shared/errors.ts'
import { STORE_LIMITS, keyString, type Item, type ItemKey, type KeyValueStore, type TableName } from '../../shared/ports/kv-store.ts'

export interface KvStoreFixture {
  /** A store over empty tables (or tables no other test writes under `scope`). */
  store: KeyValueStore
  /** A string unique to this fixture, prefixed to every key the suite writes. */
  scope: string
}

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

export function kvStoreContract(name: string, fixture: () => Promise<KvStoreFixture>): void {
  describe(`KeyValueStore contract: ${name}`, () => {
    let n = 0
    /** A fresh key space per test. */
    const setup = async (): Promise<{ kv: KeyValueStore; k: (pk: string, sk?: string, table?: TableName) => ItemKey; item: (key: ItemKey, value: Uint8Array, version: number) => Item }> => {
      const f = await fixture()
      const space = `${f.scope}-${++n}`
      return {
        kv: f.store,
        k: (pk, sk = '-', table = 'meta') => ({ table, pk: `${space}/${pk}`, sk }),
        item: (key, value, version) => ({ ...key, value, version }),
      }
    }

    it('get: missing keys are undefined, order and duplicates are preserved', async () => {
      const { kv, k, item } = await setup()
      await kv.transact([{ op: 'put', item: item(k('a'), bytes(1, 2, 3), 7) }])
      const got = await kv.get([k('missing'), k('a'), k('a')])
      expect(got[0]).toBeUndefined()
      for (const g of [got[1], got[2]]) {
        expect(g).toBeDefined()
        expect([...g!.value]).toEqual([1, 2, 3])
        expect(g!.version).toBe(7)
        expect(g!.pk).toBe(k('a').pk)
        expect(g!.table).toBe('meta')
      }
      expect(await kv.get([])).toEqual([])
    })

    it('values round-trip byte for byte, including empty and large ones', async () => {
      const { kv, k, item } = await setup()
      const large = new Uint8Array(300 * 1024).map((_, i) => (i * 31) & 0xff)
      await kv.write([
        { op: 'put', item: item(k('empty'), new Uint8Array(0), 1) },
        { op: 'put', item: item(k('large', '-', 'staged'), large, 2) },
        { op: 'put', item: item(k('big-version', '-', 'state'), bytes(9), 2 ** 52 + 3) },
      ])
      const [empty, big, version] = await kv.get([k('empty'), k('large', '-', 'staged'), k('big-version', '-', 'state')])
      expect(empty!.value.length).toBe(0)
      expect(Buffer.from(big!.value).equals(Buffer.from(large))).toBe(true)
      expect(version!.version).toBe(2 ** 52 + 3)
    })

    it('condition absent: a second put-if-absent fails with ConditionFailedError naming the key', async () => {
      const { kv, k, item } = await setup()
      await kv.transact([{ op: 'put', item: item(k('x'), bytes(1), 1), condition: { kind: 'absent' } }])
      const error = await kv.transact([{ op: 'put', item: item(k('x'), bytes(2), 2), condition: { kind: 'absent' } }]).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConditionFailedError)
      expect((error as ConditionFailedError).keys).toEqual([keyString(k('x'))])
      const [x] = await kv.get([k('x')])
      expect([...x!.value]).toEqual([1])
      expect(x!.version).toBe(1)
    })

    it('condition version oneOf, with and without orAbsent', async () => {
      const { kv, k, item } = await setup()
      await kv.transact([{ op: 'put', item: item(k('v'), bytes(1), 10) }])
      // Matching one of several versions.
      await kv.transact([{ op: 'put', item: item(k('v'), bytes(2), 11), condition: { kind: 'version', oneOf: [9, 10] } }])
      // Retrying the same write: the new version is accepted too (idempotent apply).
      await kv.transact([{ op: 'put', item: item(k('v'), bytes(2), 11), condition: { kind: 'version', oneOf: [10, 11] } }])
      await expect(kv.transact([{ op: 'put', item: item(k('v'), bytes(3), 12), condition: { kind: 'version', oneOf: [10] } }])).rejects.toBeInstanceOf(ConditionFailedError)
      // A missing item fails a version condition unless orAbsent.
      await expect(kv.transact([{ op: 'put', item: item(k('new'), bytes(1), 1), condition: { kind: 'version', oneOf: [0] } }])).rejects.toBeInstanceOf(ConditionFailedError)
      await kv.transact([{ op: 'put', item: item(k('new'), bytes(1), 1), condition: { kind: 'version', oneOf: [0], orAbsent: true } }])
      // orAbsent does not accept an existing item with another version.
      await expect(kv.transact([{ op: 'put', item: item(k('new'), bytes(1), 2), condition: { kind: 'version', oneOf: [0], orAbsent: true } }])).rejects.toBeInstanceOf(ConditionFailedError)
      // An empty list never matches an existing item.
      await expect(kv.transact([{ op: 'check', key: k('new'), condition: { kind: 'version', oneOf: [] } }])).rejects.toBeInstanceOf(ConditionFailedError)
      const [v, nw] = await kv.get([k('v'), k('new')])
      expect(v!.version).toBe(11)
      expect(nw!.version).toBe(1)
    })

    it('transactions are all-or-nothing: one failed condition (put, delete or check) changes nothing', async () => {
      const { kv, k, item } = await setup()
      await kv.transact([
        { op: 'put', item: item(k('a'), bytes(1), 1) },
        { op: 'put', item: item(k('b'), bytes(1), 1) },
      ])
      for (const failing of [
        { op: 'check' as const, key: k('b'), condition: { kind: 'version' as const, oneOf: [5] } },
        { op: 'delete' as const, key: k('b'), condition: { kind: 'absent' as const } },
        { op: 'put' as const, item: item(k('b'), bytes(9), 9), condition: { kind: 'version' as const, oneOf: [2] } },
      ]) {
        const error = await kv
          .transact([{ op: 'put', item: item(k('a'), bytes(2), 2), condition: { kind: 'version', oneOf: [1] } }, { op: 'put', item: item(k('c'), bytes(2), 2) }, failing])
          .catch((e: unknown) => e)
        expect(error).toBeInstanceOf(ConditionFailedError)
        expect((error as ConditionFailedError).keys).toEqual([keyString(k('b'))])
      }
      const [a, b, c] = await kv.get([k('a'), k('b'), k('c')])
      expect(a!.version).toBe(1)
      expect(b!.version).toBe(1)
      expect(c).toBeUndefined()
      // With the check satisfied, everything applies, including a conditional delete.
      await kv.transact([
        { op: 'put', item: item(k('a'), bytes(2), 2), condition: { kind: 'version', oneOf: [1] } },
        { op: 'check', key: k('c'), condition: { kind: 'absent' } },
        { op: 'delete', key: k('b'), condition: { kind: 'version', oneOf: [1] } },
      ])
      const [a2, b2] = await kv.get([k('a'), k('b')])
      expect(a2!.version).toBe(2)
      expect(b2).toBeUndefined()
    })

    it('a transaction spans tables', async () => {
      const { kv, k, item } = await setup()
      await kv.transact([
        { op: 'put', item: item(k('h', 'header', 'blocks'), bytes(1), 0), condition: { kind: 'absent' } },
        { op: 'put', item: item(k('head'), bytes(2), 1), condition: { kind: 'version', oneOf: [0], orAbsent: true } },
      ])
      const [h, head] = await kv.get([k('h', 'header', 'blocks'), k('head')])
      expect(h!.table).toBe('blocks')
      expect(head!.version).toBe(1)
    })

    it('limits: 100 operations, one operation per item, 400 KB items, 4 MB transactions - refused before anything is written', async () => {
      const { kv, k, item } = await setup()
      const ops = (count: number) => Array.from({ length: count }, (_, i) => ({ op: 'put' as const, item: item(k(`l${i}`), bytes(i & 0xff), 1) }))
      await kv.transact(ops(100))
      const tooMany = await kv.transact(ops(101)).catch((e: unknown) => e)
      expect(tooMany).toBeInstanceOf(ParevmError)
      expect(tooMany).not.toBeInstanceOf(ConditionFailedError)
      await expect(kv.transact([{ op: 'put', item: item(k('d'), bytes(1), 1) }, { op: 'delete', key: k('d') }])).rejects.toThrow(/twice/)
      await expect(kv.transact([{ op: 'put', item: item(k('huge'), new Uint8Array(STORE_LIMITS.itemBytes + 1), 1) }])).rejects.toThrow(/item limit/)
      await expect(kv.write([{ op: 'put', item: item(k('huge'), new Uint8Array(STORE_LIMITS.itemBytes + 1), 1) }])).rejects.toThrow(/item limit/)
      const fat = Array.from({ length: 11 }, (_, i) => ({ op: 'put' as const, item: item(k(`fat${i}`, '-', 'staged'), new Uint8Array(390 * 1024), 1) }))
      await expect(kv.transact(fat)).rejects.toThrow(/byte limit/)
      const [huge, fat0] = await kv.get([k('huge'), k('fat0', '-', 'staged')])
      expect(huge).toBeUndefined()
      expect(fat0).toBeUndefined()
    })

    it('write and get beyond one call (25 writes, 100 reads a call), deletes, last op on a key wins', async () => {
      const { kv, k, item } = await setup()
      const keys = Array.from({ length: 130 }, (_, i) => k(`w${i}`, '-', 'state'))
      await kv.write(keys.map((key, i) => ({ op: 'put' as const, item: item(key, bytes(i & 0xff, i >> 8), i) })))
      await kv.write([
        { op: 'delete', key: keys[0]! },
        { op: 'put', item: item(keys[1]!, bytes(0xaa), 1000) },
        { op: 'put', item: item(keys[1]!, bytes(0xbb), 1001) },
        { op: 'put', item: item(keys[2]!, bytes(0xcc), 1002) },
        { op: 'delete', key: keys[2]! },
      ])
      const got = await kv.get([...keys, k('absent', '-', 'state')])
      expect(got).toHaveLength(131)
      expect(got[0]).toBeUndefined()
      expect([...got[1]!.value]).toEqual([0xbb])
      expect(got[1]!.version).toBe(1001)
      expect(got[2]).toBeUndefined()
      for (let i = 3; i < 130; i++) {
        expect(got[i]!.version).toBe(i)
        expect([...got[i]!.value]).toEqual([i & 0xff, i >> 8])
      }
      expect(got[130]).toBeUndefined()
    })

    it('query: one partition in sort-key order, prefix filter, bounded pages through `after`', async () => {
      const { kv, k, item } = await setup()
      const sks = Array.from({ length: 45 }, (_, i) => `shard#${String(i).padStart(3, '0')}`)
      await kv.write([
        ...sks.map((sk, i) => ({ op: 'put' as const, item: item(k('p', sk), bytes(i), i) })),
        { op: 'put', item: item(k('p', 'meta'), bytes(1), 1) },
        { op: 'put', item: item(k('other', 'shard#000'), bytes(1), 1) },
      ])
      const all = await kv.query('meta', k('p').pk)
      expect(all.items.map((i) => i.sk)).toEqual(['meta', ...sks])
      expect(all.next).toBeUndefined()
      const collected: string[] = []
      let after: string | undefined
      for (let page = 0; page < 20; page++) {
        const result = await kv.query('meta', k('p').pk, { skPrefix: 'shard#', limit: 10, ...(after !== undefined ? { after } : {}) })
        expect(result.items.length).toBeLessThanOrEqual(10)
        collected.push(...result.items.map((i) => i.sk))
        if (result.next === undefined) break
        after = result.next
      }
      expect(collected).toEqual(sks)
      expect((await kv.query('meta', k('p').pk, { skPrefix: 'shard#04', after: 'shard#042' })).items.map((i) => i.sk)).toEqual(['shard#043', 'shard#044'])
      expect((await kv.query('meta', k('p').pk, { skPrefix: 'shard#', after: 'a' })).items).toHaveLength(45)
      expect((await kv.query('meta', k('p').pk, { skPrefix: 'shard#', after: 'zzz' })).items).toHaveLength(0)
      expect((await kv.query('meta', k('nothing').pk)).items).toEqual([])
    })

    it('query keysOnly: the same keys and versions in the same pages, every value empty', async () => {
      const { kv, k, item } = await setup()
      const sks = Array.from({ length: 12 }, (_, i) => `shard#${String(i).padStart(3, '0')}`)
      await kv.write([...sks.map((sk, i) => ({ op: 'put' as const, item: item(k('p', sk), bytes(i + 1), i + 3) })), { op: 'put', item: item(k('p', 'meta'), bytes(9), 1) }])
      const full = await kv.query('meta', k('p').pk, { skPrefix: 'shard#', limit: 5 })
      const keys = await kv.query('meta', k('p').pk, { skPrefix: 'shard#', limit: 5, keysOnly: true })
      expect(keys.next).toBe(full.next)
      expect(keys.items.map((i) => [i.table, i.pk, i.sk, i.version])).toEqual(full.items.map((i) => [i.table, i.pk, i.sk, i.version]))
      expect(full.items.every((i) => i.value.length > 0)).toBe(true)
      expect(keys.items.every((i) => i.value.length === 0)).toBe(true)
      const rest = await kv.query('meta', k('p').pk, { skPrefix: 'shard#', after: keys.next!, keysOnly: true })
      expect(rest.items.map((i) => i.sk)).toEqual(sks.slice(5))
      // The values are still stored: keysOnly reads, it does not change anything.
      expect((await kv.get([k('p', sks[0]!)]))[0]!.value).toEqual(bytes(1))
    })

    it('optimistic concurrency: of 8 concurrent writers conditioned on the same version, exactly one wins', async () => {
      const { kv, k, item } = await setup()
      await kv.transact([{ op: 'put', item: item(k('hot', '-', 'state'), bytes(0), 5) }])
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          kv.transact([
            { op: 'put', item: item(k('hot', '-', 'state'), bytes(i + 1), 6 + i), condition: { kind: 'version', oneOf: [5] } },
            { op: 'put', item: item(k(`side${i}`, '-', 'state'), bytes(i + 1), 1) },
          ]),
        ),
      )
      const won = results.map((r, i) => (r.status === 'fulfilled' ? i : -1)).filter((i) => i >= 0)
      expect(won).toHaveLength(1)
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConditionFailedError)
      const got = await kv.get([k('hot', '-', 'state'), ...Array.from({ length: 8 }, (_, i) => k(`side${i}`, '-', 'state'))])
      expect(got[0]!.version).toBe(6 + won[0]!)
      expect(got.slice(1).filter((g) => g !== undefined)).toHaveLength(1)
    })
  })
}
