import { MerklePatriciaTrie } from '@ethereumjs/mpt'
import { MerkleStateManager } from '@ethereumjs/statemanager'
import { Account, Address, KECCAK256_NULL } from '@ethereumjs/util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { keccak256 } from '../../shared/crypto/keccak.ts'
import { fromHex, toHex } from '../../shared/hex.ts'
import { EMPTY_TRIE_ROOT, MerkleTrie, OrderedListTrie, orderedTrieRoot } from '../../shared/trie/mpt.ts'
import { WorldStateTrie } from '../../shared/trie/world-state.ts'
import { RLP } from '@ethereumjs/rlp'
import { encodeBytesList } from '../../shared/trie/rlp.ts'

import { createRng } from '../../shared/workload/generator.ts'

async function referenceRoot(entries: Map<string, Uint8Array>): Promise<string> {
  const trie = new MerklePatriciaTrie()
  for (const [k, v] of entries) await trie.put(fromHex(k), v)
  return toHex(trie.root())
}

describe('MerkleTrie', () => {
  it('has the empty root of an empty trie', () => {
    expect(toHex(new MerkleTrie().root())).toBe(toHex(new MerklePatriciaTrie().root()))
    expect(toHex(EMPTY_TRIE_ROOT)).toBe('56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421')
  })

  it('matches @ethereumjs/mpt after random puts and deletes, incrementally', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 1, maxLength: 64 })), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 4 }),
        async (ops, keySpace) => {
          const trie = new MerkleTrie()
          const live = new Map<string, Uint8Array>()
          const keys: Uint8Array[] = []
          for (const [del, rawKey, value] of ops) {
            // A small key space makes shared prefixes (extensions, branches) likely.
            const key = rawKey.map((b) => b % (keySpace * 4))
            if (del && keys.length > 0) {
              const victim = keys[rawKey[0]! % keys.length]!
              trie.del(victim)
              live.delete(toHex(victim))
            } else {
              trie.put(key, value)
              live.set(toHex(key), value)
              keys.push(key)
            }
            if (rawKey[1]! < 20) trie.root() // hash part-way, so cached references must be invalidated right
          }
          expect(toHex(trie.root())).toBe(await referenceRoot(live))
        },
      ),
      { numRuns: 60 },
    )
  })

  it('computes ordered-list roots like the transactions and receipts tries', async () => {
    const values = Array.from({ length: 300 }, (_, i) => RLP.encode([i, new Uint8Array(i % 70)]))
    const trie = new MerklePatriciaTrie()
    for (let i = 0; i < values.length; i++) await trie.put(RLP.encode(i), values[i]!)
    expect(toHex(orderedTrieRoot(values))).toBe(toHex(trie.root()))
    expect(toHex(orderedTrieRoot([]))).toBe(toHex(EMPTY_TRIE_ROOT))
  })

  it('gives every prefix of an ordered list its own root when hashed as the items arrive', () => {
    const values = Array.from({ length: 700 }, (_, i) => RLP.encode([i, new Uint8Array(i % 90)]))
    const list = new OrderedListTrie()
    // Hashed after uneven prefixes (as a block's shards settle), across the one-, two- and
    // three-byte index keys (0x80, 0x01..0x7f, 0x81xx, 0x82xxxx).
    const cuts = new Set([1, 2, 127, 128, 129, 255, 256, 257, 400, 699])
    values.forEach((value, i) => {
      list.push(value)
      if (cuts.has(i + 1)) expect(toHex(list.root()), `prefix of ${i + 1}`).toBe(toHex(orderedTrieRoot(values.slice(0, i + 1))))
    })
    expect(toHex(list.root())).toBe(toHex(orderedTrieRoot(values)))
    expect(() => list.push(new Uint8Array(0))).toThrow(/empty/)
  })
})

describe('RLP lists of byte strings', () => {
  it('encodes as @ethereumjs/rlp does: single low bytes, short and long strings, the empty string, long lists', () => {
    const rng = createRng(7)
    const item = (): Uint8Array => {
      const kind = Math.floor(rng() * 5)
      const length = kind === 0 ? 0 : kind === 1 ? 1 : kind === 2 ? 55 + Math.floor(rng() * 3) : kind === 3 ? Math.floor(rng() * 300) : 70_000
      return Uint8Array.from({ length }, () => Math.floor(rng() * 256))
    }
    for (const count of [0, 1, 2, 40, 1000]) {
      const items = Array.from({ length: count }, item)
      expect(toHex(encodeBytesList(items)), `${count} items`).toBe(toHex(RLP.encode(items)))
    }
    expect(toHex(encodeBytesList([Uint8Array.of(0x7f), Uint8Array.of(0x80)]))).toBe(toHex(RLP.encode([Uint8Array.of(0x7f), Uint8Array.of(0x80)])))
  })
})

describe('WorldStateTrie', () => {
  const accountValue = (nonce: bigint, balance: bigint): Uint8Array => new Account(nonce, balance, undefined, KECCAK256_NULL).serialize()

  it('resets an account\'s storage on a wipe, and keeps slots written after it', async () => {
    const a = '11'.repeat(20)
    const address = new Address(fromHex(a))
    const slot = (i: number): string => i.toString(16).padStart(64, '0')
    const world = new WorldStateTrie()
    const reference = new MerkleStateManager()
    await reference.putAccount(address, new Account(1n, 5n))
    for (const i of [1, 2, 3]) await reference.putStorage(address, fromHex(slot(i)), Uint8Array.of(i))
    await reference.checkpoint()
    await reference.commit()
    world.apply([[a, accountValue(1n, 5n)], ...[1, 2, 3].map((i) => [a + slot(i), Uint8Array.of(i)] as [string, Uint8Array])])
    expect(toHex(world.root())).toBe(toHex(await reference.getStateRoot()))
    // Next block: wipe, then one slot written again.
    await reference.clearStorage(address)
    await reference.putStorage(address, fromHex(slot(2)), Uint8Array.of(9))
    await reference.checkpoint()
    await reference.commit()
    const { root } = world.apply([[`w${a}`, Uint8Array.of(1)], [a + slot(2), Uint8Array.of(9)]])
    expect(toHex(root)).toBe(toHex(await reference.getStateRoot()))
  })

  it('gives the same state root as MerkleStateManager over blocks of account, storage and wipe writes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 }), async (seed) => {
        const next = createRng(seed)
        const rnd = (n: number): number => Math.floor(next() * n)
        const addresses = Array.from({ length: 8 }, (_, i) => toHex(keccak256(Uint8Array.of(i, seed & 255)).subarray(12)))
        const world = new WorldStateTrie()
        const reference = new MerkleStateManager()
        for (let block = 0; block < 5; block++) {
          const writes: [string, Uint8Array | null][] = []
          for (const a of addresses) {
            const address = new Address(fromHex(a))
            const kind = rnd(8)
            if (kind === 0) continue
            if (kind === 1) {
              writes.push([a, null])
              await reference.deleteAccount(address)
              continue
            }
            const existing = await reference.getAccount(address)
            const nonce = BigInt(rnd(5))
            const balance = BigInt(1 + rnd(1_000_000))
            if (existing === undefined) {
              await reference.putAccount(address, new Account(nonce, balance))
              // As CREATE does: MerkleStateManager keeps a deleted account's cached storage
              // trie until clearStorage, so a re-created account is cleared first.
              await reference.clearStorage(address)
            } else {
              await reference.modifyAccountFields(address, { nonce, balance })
            }
            if (kind === 2 && existing !== undefined) {
              writes.push([`w${a}`, Uint8Array.of(1)])
              await reference.clearStorage(address)
            }
            const slots = rnd(4)
            for (let k = 0; k < slots; k++) {
              const slot = keccak256(Uint8Array.of(k, rnd(3)))
              const value = rnd(3) === 0 ? null : Uint8Array.of(1 + rnd(200))
              writes.push([a + toHex(slot), value])
              await reference.putStorage(address, slot, value ?? new Uint8Array(0))
            }
            // The flat account value carries no live storage root: the trie supplies it.
            writes.push([a, accountValue(nonce, balance)])
          }
          await reference.checkpoint()
          await reference.commit()
          const { root } = world.apply(writes)
          expect(toHex(root)).toBe(toHex(await reference.getStateRoot()))
        }
      }),
      { numRuns: 30 },
    )
  })
})
