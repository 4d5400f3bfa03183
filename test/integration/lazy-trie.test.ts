/**
 * The coordinator's state trie across cold starts: a lazy WorldStateTrie over a node store
 * (the `trie` table) gives, block after block, the same roots as the trie kept in memory from
 * genesis - whether the instance is warm, freshly started, or stale (another instance sealed
 * the blocks in between) - and loads only the paths a block writes.
 */
import { Account } from '@ethereumjs/util'
import { describe, expect, it } from 'vitest'

import { keccak256 } from '../../shared/crypto/keccak.ts'
import { toHex } from '../../shared/hex.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { EMPTY_TRIE_ROOT } from '../../shared/trie/mpt.ts'
import { KvTrieNodeStore, saveTrieNodes } from '../../shared/trie/node-store.ts'
import { WorldStateTrie } from '../../shared/trie/world-state.ts'
import { createRng } from '../../shared/workload/generator.ts'

import type { StateKey } from '../../shared/state/keys.ts'
import type { StateValue } from '../../shared/state/values.ts'

type Writes = [StateKey, StateValue][]

const address = (i: number): string => i.toString(16).padStart(40, '0')
const slot = (i: number): string => i.toString(16).padStart(64, '0')
const account = (nonce: number, balance: bigint): Uint8Array => new Account(BigInt(nonce), balance, EMPTY_TRIE_ROOT, keccak256(new Uint8Array(0))).serialize()
const word = (v: number): Uint8Array => Uint8Array.from([v & 0xff, (v >> 8) & 0xff, 1])

function genesisWrites(accounts: number, contracts: number, slotsEach: number): Writes {
  const writes: Writes = []
  for (let i = 0; i < accounts; i++) writes.push([address(i), account(i, BigInt(1000 + i))])
  for (let c = 0; c < contracts; c++) {
    const a = address(10_000 + c)
    writes.push([a, account(1, 0n)])
    for (let s = 0; s < slotsEach; s++) writes.push([a + slot(s), word(s + c)])
  }
  return writes
}

/** A block of random writes: balances, new accounts, slot updates and clears, wipes, deletions. */
function randomBlock(rng: () => number, n: number, accounts: number, contracts: number, slotsEach: number): Writes {
  const writes = new Map<StateKey, StateValue>()
  for (let i = 0; i < 40; i++) {
    const r = rng()
    if (r < 0.35) writes.set(address(Math.floor(rng() * accounts)), account(n, BigInt(Math.floor(rng() * 1e9))))
    else if (r < 0.45) writes.set(address(50_000 + n * 100 + i), account(0, 1n))
    else if (r < 0.5) writes.set(address(Math.floor(rng() * accounts)), null)
    else {
      const a = address(10_000 + Math.floor(rng() * contracts))
      const s = slot(Math.floor(rng() * slotsEach * 1.5))
      if (r < 0.8) writes.set(a + s, word(Math.floor(rng() * 65536)))
      else if (r < 0.97) writes.set(a + s, null)
      else writes.set(`w${a}`, new Uint8Array([1]))
    }
  }
  return [...writes]
}

describe('lazy world-state trie over the trie table', () => {
  it('gives the in-memory trie’s roots block after block: warm, cold and stale instances', async () => {
    const accounts = 300
    const contracts = 6
    const slotsEach = 40
    const kv = new MemoryKeyValueStore()
    const eager = new WorldStateTrie()
    const genesisRoot = eager.apply(genesisWrites(accounts, contracts, slotsEach)).root
    const saved = await saveTrieNodes(kv, eager)
    expect(saved).toBeGreaterThan(accounts)
    const store = new KvTrieNodeStore(kv)
    let warm = WorldStateTrie.lazy(store)
    const stale = WorldStateTrie.lazy(store)
    const rng = createRng(42)
    let parent = genesisRoot
    for (let n = 1; n <= 12; n++) {
      const writes = randomBlock(rng, n, accounts, contracts, slotsEach)
      const expected = eager.apply(writes).root
      if (n % 4 === 0) warm = WorldStateTrie.lazy(store) // a cold start
      const before = warm.lazyStats.nodesLoaded
      const got = await warm.applyBlock(parent, writes)
      expect(toHex(got.root)).toBe(toHex(expected))
      // Loads only the touched paths, never the whole state.
      expect(warm.lazyStats.nodesLoaded - before).toBeLessThan(saved / 2)
      if (n === 6) {
        // An instance that last saw genesis catches up from the parent root alone.
        const caughtUp = await stale.applyBlock(parent, writes)
        expect(toHex(caughtUp.root)).toBe(toHex(expected))
      }
      parent = expected
    }
    expect(warm.lazyStats.nodesSaved).toBeGreaterThan(0)
    // Deletes that collapse a branch onto a sibling not yet loaded were exercised.
    expect(warm.lazyStats.collapseLoads + stale.lazyStats.collapseLoads).toBeGreaterThan(0)
    expect(stale.lazyStats.reroots).toBe(1)
  })

  it('applying the same block twice from the same parent gives the same root (a retried seal)', async () => {
    const kv = new MemoryKeyValueStore()
    const eager = new WorldStateTrie()
    const root0 = eager.apply(genesisWrites(50, 2, 10)).root
    await saveTrieNodes(kv, eager)
    const lazy = WorldStateTrie.lazy(new KvTrieNodeStore(kv))
    const writes = randomBlock(createRng(7), 1, 50, 2, 10)
    const first = await lazy.applyBlock(root0, writes)
    const again = await lazy.applyBlock(root0, writes)
    expect(toHex(again.root)).toBe(toHex(first.root))
    expect(toHex(first.root)).toBe(toHex(eager.apply(writes).root))
  })

  it('a node missing from the store or with the wrong bytes is a clear error', async () => {
    const kv = new MemoryKeyValueStore()
    const eager = new WorldStateTrie()
    const root = eager.apply(genesisWrites(50, 1, 4)).root
    const writes: Writes = [[address(3), account(9, 9n)]]
    await expect(WorldStateTrie.lazy(new KvTrieNodeStore(kv)).applyBlock(root, writes)).rejects.toThrow(/missing from the node store/)
    await kv.write([{ op: 'put', item: { table: 'trie', pk: toHex(root), sk: '-', value: Uint8Array.of(0xc0), version: 0 } }])
    await expect(WorldStateTrie.lazy(new KvTrieNodeStore(kv)).applyBlock(root, writes)).rejects.toThrow(/do not hash/)
  })
})
