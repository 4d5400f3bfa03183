/**
 * Staged state-trie writes (StateRootTrie.stage): a block's settled prefixes applied ahead and
 * the rest at its applyBlock give the root of the block's net writes applied at once, on one
 * thread (WorldStateTrie) and on trie threads (ParallelWorldStateTrie); discarding goes back to
 * the parent; a lazy trie cannot stage. The blocks are sequences of transaction write sets as
 * the engine makes them (a deleted account's storage wiped with it, wipes before the slots
 * written after them), composed by the settlement's own BlockView and cut by the coordinator's
 * own `unstagedWrites`.
 */
import { Account } from '@ethereumjs/util'
import { afterEach, describe, expect, it } from 'vitest'

import { threadEntry } from '../../shared/cluster/threads.ts'
import { unstagedWrites } from '../../shared/coordinator/coordinator.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { toHex } from '../../shared/hex.ts'
import { makeVersion, type StateKey } from '../../shared/state/keys.ts'
import { BlockView, type WriteSet } from '../../shared/state/view.ts'
import { EMPTY_TRIE_ROOT } from '../../shared/trie/mpt.ts'
import { ParallelWorldStateTrie } from '../../shared/trie/parallel-world-state.ts'
import { WorldStateTrie } from '../../shared/trie/world-state.ts'
import { createRng } from '../../shared/workload/generator.ts'

import type { StateValue, VersionedValue } from '../../shared/state/values.ts'
import type { StateRootTrie } from '../../shared/trie/state-root-trie.ts'

const SEED = Number(process.env['PAREVM_TEST_SEED'] ?? Math.floor(Math.random() * 2 ** 31))
console.log(`staged trie writes tests: seed ${SEED}`)

const entry = threadEntry('trie-thread', '../trie/')
const address = (i: number): string => i.toString(16).padStart(40, '0')
const slot = (i: number): string => i.toString(16).padStart(64, '0')
const account = (nonce: number, balance: bigint): Uint8Array => new Account(BigInt(nonce), balance, EMPTY_TRIE_ROOT, keccak256(new Uint8Array(0))).serialize()
const noLoads = { load: () => Promise.reject(new Error('not loaded')), loadCode: () => Promise.reject(new Error('not loaded')) }

/** One transaction's net writes over 40 accounts and 6 contracts, as TxStateManager makes them. */
function randomTx(rng: () => number, n: number): WriteSet {
  const writes: WriteSet = new Map()
  const pick = (k: number): number => Math.floor(rng() * k)
  for (let i = 1 + pick(6); i > 0; i--) {
    const r = rng()
    if (r < 0.35) writes.set(address(1 + pick(40)), account(n, BigInt(1 + pick(1e9))))
    else {
      const contract = address(100_000 + pick(6))
      const s = rng()
      if (s < 0.05) {
        // A deleted account: its storage is wiped with it (slots written before in this transaction dropped).
        for (const key of [...writes.keys()]) if (key.startsWith(contract) && key.length > 40) writes.delete(key)
        writes.set(`w${contract}`, Uint8Array.of(1))
        writes.set(contract, null)
        continue
      }
      if (s < 0.1) {
        // Re-created: storage cleared, then written again.
        for (const key of [...writes.keys()]) if (key.startsWith(contract) && key.length > 40) writes.delete(key)
        writes.set(`w${contract}`, Uint8Array.of(1))
      }
      writes.set(contract, account(1, BigInt(n + 1)))
      const k = contract + slot(pick(30))
      writes.set(k, rng() < 0.8 ? Uint8Array.of(1 + pick(250), pick(256)) : null)
    }
  }
  return writes
}

/** A block of transactions composed over a BlockView, staged after random prefixes. */
async function runBlock(rng: () => number, n: number, trie: StateRootTrie, opts: { stage: boolean }): Promise<{ net: [StateKey, StateValue][]; root: Uint8Array }> {
  const view = new BlockView(BigInt(n), noLoads)
  const staged = new Map<StateKey, VersionedValue>()
  const txs = 5 + Math.floor(rng() * 60)
  for (let i = 0; i < txs; i++) {
    view.applyWrites(randomTx(rng, n), makeVersion(BigInt(n), i + 1))
    if (opts.stage && rng() < 0.2) await trie.stage(unstagedWrites(view.inBlockWrites(), staged))
  }
  const { root } = await trie.applyBlock(EMPTY_TRIE_ROOT, unstagedWrites(view.inBlockWrites(), staged))
  return { net: [...view.netWrites()].map(([k, v]) => [k, v.value]), root }
}

const tries: ParallelWorldStateTrie[] = []
afterEach(async () => {
  for (const trie of tries.splice(0)) await trie.close()
})

async function staging(kind: 'one thread' | 'trie threads'): Promise<StateRootTrie> {
  if (kind === 'one thread') return new WorldStateTrie()
  const trie = await ParallelWorldStateTrie.start([], { entry, threads: 3 })
  tries.push(trie)
  return trie
}

describe('staged writes give the root of the net writes applied at once', () => {
  for (const kind of ['one thread', 'trie threads'] as const) {
    it(`over 30 blocks, staged after random prefixes (${kind})`, async () => {
      const rng = createRng(SEED)
      const trie = await staging(kind)
      const reference = new WorldStateTrie()
      let stagedBlocks = 0
      for (let n = 1; n <= 30; n++) {
        const blockSeed = Math.floor(rng() * 2 ** 31)
        // The same block twice: staged on the trie under test, at once on the reference.
        const got = await runBlock(createRng(blockSeed), n, trie, { stage: true })
        const { root } = reference.apply(got.net)
        expect(toHex(got.root), `seed ${SEED}, block ${n}`).toBe(toHex(root))
        stagedBlocks++
      }
      expect(stagedBlocks).toBe(30)
    })

    it(`discarding goes back to the parent, and the next block applies over it (${kind})`, async () => {
      const rng = createRng(SEED + 1)
      const trie = await staging(kind)
      const reference = new WorldStateTrie()
      for (let n = 1; n <= 12; n++) {
        // A block staged and dropped (another plan, a failed settlement) before the one sealed.
        const view = new BlockView(BigInt(n), noLoads)
        const staged = new Map<StateKey, VersionedValue>()
        for (let i = 0; i < 20; i++) {
          view.applyWrites(randomTx(rng, n + 100), makeVersion(BigInt(n), i + 1))
          if (i % 7 === 3) await trie.stage(unstagedWrites(view.inBlockWrites(), staged))
        }
        await trie.discardStaged()
        if (n % 3 === 0) await trie.discardStaged() // nothing staged: nothing to do
        const got = await runBlock(rng, n, trie, { stage: n % 2 === 0 })
        expect(toHex(got.root), `seed ${SEED + 1}, block ${n}`).toBe(toHex(reference.apply(got.net).root))
      }
    })
  }

  it('a discarded block leaves the parent\'s root (one thread: the root read back)', async () => {
    const rng = createRng(SEED + 2)
    const trie = new WorldStateTrie()
    trie.apply([[address(1), account(0, 5n)], [address(100_000), account(1, 0n)], [address(100_000) + slot(1), Uint8Array.of(7)]])
    const parentRoot = toHex(trie.root())
    const view = new BlockView(1n, noLoads)
    const staged = new Map<StateKey, VersionedValue>()
    for (let i = 0; i < 30; i++) {
      view.applyWrites(randomTx(rng, 1), makeVersion(1n, i + 1))
      await trie.stage(unstagedWrites(view.inBlockWrites(), staged))
    }
    expect(toHex(trie.root())).not.toBe(parentRoot)
    await trie.discardStaged()
    expect(toHex(trie.root())).toBe(parentRoot)
  })

  it('unstagedWrites returns each entry once, and again when a later write replaces it', () => {
    const view = new BlockView(1n, noLoads)
    const staged = new Map<StateKey, VersionedValue>()
    const c = address(100_000)
    view.applyWrites(new Map([[address(1), account(0, 1n)], [c + slot(1), Uint8Array.of(1)]]), makeVersion(1n, 1))
    expect(unstagedWrites(view.inBlockWrites(), staged).map(([k]) => k)).toEqual([address(1), c + slot(1)])
    expect(unstagedWrites(view.inBlockWrites(), staged)).toEqual([])
    // The same value written again is a new entry; a wipe's own key is new (its slots are gone from the view).
    view.applyWrites(new Map([[address(1), account(0, 1n)]]), makeVersion(1n, 2))
    view.applyWrites(new Map<StateKey, StateValue>([[`w${c}`, Uint8Array.of(1)], [c + slot(2), Uint8Array.of(2)]]), makeVersion(1n, 3))
    expect(unstagedWrites(view.inBlockWrites(), staged).map(([k]) => k).sort()).toEqual([address(1), c + slot(2), `w${c}`].sort())
  })

  it('a lazy trie over a node store cannot stage', async () => {
    const lazy = WorldStateTrie.lazy({ load: () => Promise.resolve([]), save: () => Promise.resolve() })
    expect(lazy.canStage).toBe(false)
    await expect(lazy.stage([[address(1), account(0, 1n)]])).rejects.toThrow(/cannot stage/)
    expect(new WorldStateTrie().canStage).toBe(true)
  })
})
