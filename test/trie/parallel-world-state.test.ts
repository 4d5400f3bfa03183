/**
 * The state root on trie threads (shared/trie/parallel-world-state.ts) against one
 * WorldStateTrie: the same roots and statistics over consecutive blocks of random writes
 * (accounts created, updated and deleted, slots set and cleared, wipes, storage written to
 * accounts that do not exist), over states of 0, 1 and 2 occupied first nibbles, with 1, 2
 * and 5 threads; the root assembled from parts with embedded (under 32 bytes) child
 * references; a thread that dies or fails; and a threaded cluster whose blocks pass the
 * sequential check.
 */
import { Account } from '@ethereumjs/util'
import { afterEach, describe, expect, it } from 'vitest'

import { buildGenesis } from '../../shared/chain/genesis.ts'
import { threadEntry } from '../../shared/cluster/threads.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { ParevmError, isRetryable } from '../../shared/errors.ts'
import { gpuConfigOf } from '../../shared/gpu/config.ts'
import { GpuContext } from '../../shared/gpu/context.ts'
import { fromHex, toHex } from '../../shared/hex.ts'
import { EMPTY_TRIE_ROOT, MerkleTrie } from '../../shared/trie/mpt.ts'
import { ParallelWorldStateTrie, TrieThreadError, rootFromChildReferences, trieThreadsFromEnv } from '../../shared/trie/parallel-world-state.ts'
import { WorldStateTrie } from '../../shared/trie/world-state.ts'
import { createRng, generateWorkload } from '../../shared/workload/generator.ts'
import { runInline } from '../helpers/chain.ts'

import type { Worker } from 'node:worker_threads'
import type { StateKey } from '../../shared/state/keys.ts'
import type { StateValue } from '../../shared/state/values.ts'

const SEED = Number(process.env['PAREVM_TEST_SEED'] ?? Math.floor(Math.random() * 2 ** 31))
console.log(`parallel state trie tests: seed ${SEED}`)

const entry = threadEntry('trie-thread', '../trie/')
type Writes = [StateKey, StateValue][]

const address = (i: number): string => i.toString(16).padStart(40, '0')
const slot = (i: number): string => i.toString(16).padStart(64, '0')
const nibbleOf = (a: string): number => keccak256(fromHex(a))[0]! >> 4
const EMPTY_CODE_HASH = keccak256(new Uint8Array(0))
const account = (nonce: number, balance: bigint): Uint8Array => new Account(BigInt(nonce), balance, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH).serialize()

/** Addresses whose keccak starts with the given nibble (the first `count` found). */
function addressesAt(nibble: number, count: number): string[] {
  const out: string[] = []
  for (let i = 1; out.length < count; i++) if (nibbleOf(address(i)) === nibble) out.push(address(i))
  return out
}

/** A normalized storage value: 1..32 bytes, no leading zero (often one byte under 0x80). */
function storageValue(rng: () => number): Uint8Array {
  const length = rng() < 0.3 ? 1 : 1 + Math.floor(rng() * 32)
  const bytes = Uint8Array.from({ length }, () => Math.floor(rng() * 256))
  bytes[0] = 1 + Math.floor(rng() * (length === 1 ? 0x7f : 0xff))
  return bytes
}

/** One block's net writes over 300 plain accounts and 12 contracts with storage. */
function randomBlock(rng: () => number, n: number, count: number): Writes {
  const writes = new Map<StateKey, StateValue>()
  for (let i = 0; i < count; i++) {
    const r = rng()
    if (r < 0.3) writes.set(address(1 + Math.floor(rng() * 300)), account(n, BigInt(Math.floor(rng() * 1e15))))
    else if (r < 0.36) writes.set(address(1 + Math.floor(rng() * 300)), null)
    else {
      const contract = address(100_000 + Math.floor(rng() * 12))
      const s = rng()
      // Most storage writes come with the account's write; some without it (the trie reads the
      // account it holds, or deletes the account when it holds none).
      if (s < 0.8) writes.set(contract, account(1, BigInt(n)))
      else if (s < 0.83) writes.set(contract, null)
      const k = slot(Math.floor(rng() * 60))
      const t = rng()
      if (t < 0.75) writes.set(contract + k, storageValue(rng))
      else if (t < 0.96) writes.set(contract + k, null)
      else writes.set(`w${contract}`, Uint8Array.of(1))
    }
  }
  return [...writes]
}

const tries: ParallelWorldStateTrie[] = []
afterEach(async () => {
  for (const trie of tries.splice(0)) await trie.close()
})

async function start(writes: Writes, threads: number): Promise<ParallelWorldStateTrie> {
  const trie = await ParallelWorldStateTrie.start(writes, { entry, threads })
  tries.push(trie)
  return trie
}

/** Apply each block to both tries and compare roots and statistics block by block. */
async function compare(parallel: ParallelWorldStateTrie, single: WorldStateTrie, blocks: Writes[], label: string): Promise<void> {
  for (const [i, writes] of blocks.entries()) {
    const expected = await single.applyBlock(single.root(), writes)
    const got = await parallel.applyBlock(expected.root, writes)
    expect(toHex(got.root), `${label} block ${i}`).toBe(toHex(expected.root))
    expect(got.stats, `${label} block ${i}`).toEqual(expected.stats)
  }
}

describe('ParallelWorldStateTrie gives the roots of WorldStateTrie', () => {
  for (const threads of [2, 5]) {
    it(`over 25 consecutive blocks of random writes (${threads} threads)`, async () => {
      const rng = createRng(SEED + threads)
      const genesis = randomBlock(rng, 0, 400)
      const single = new WorldStateTrie()
      const { root } = single.apply(genesis)
      const parallel = await ParallelWorldStateTrie.start(genesis, { entry, threads, expectedRoot: root })
      tries.push(parallel)
      const blocks = Array.from({ length: 25 }, (_, n) => randomBlock(rng, n + 1, n % 5 === 4 ? 3 : 10 + Math.floor(rng() * 150)))
      // A block without writes: every thread's last answer stands.
      blocks.splice(7, 0, [])
      await compare(parallel, single, blocks, `seed ${SEED}, ${threads} threads`)
    })
  }

  it('with 0, 1 and 2 occupied first nibbles (the root is empty, the one part\'s root, or the branch), 1 and 3 threads', async () => {
    const [a0, a1, a2] = addressesAt(0, 3) as [string, string, string]
    const [b0] = addressesAt(1, 1) as [string] // thread 1 of 3, thread 0 of 1
    const [c0] = addressesAt(3, 1) as [string] // thread 0 of 3 (with nibble 0)
    const blocks: Writes[] = [
      [],
      [[a0, account(0, 1n)]],
      [[a1, account(0, 2n)]],
      [[a0 + slot(1), Uint8Array.of(5)]],
      [[c0, account(1, 3n)]],
      [[c0, null]],
      [[b0, account(0, 4n)], [b0 + slot(2), Uint8Array.of(0x7f)]],
      [[a0, null], [a1, null]],
      [[`w${b0}`, Uint8Array.of(1)]],
      [[b0, null]],
      // Storage of an account that does not exist: nothing is created.
      [[a2 + slot(3), Uint8Array.of(9)]],
      [[a2, account(0, 5n)], [`w${a2}`, Uint8Array.of(1)], [a2 + slot(3), Uint8Array.of(9)]],
      [[a2, null]],
    ]
    for (const threads of [1, 3]) {
      const parallel = await start([], threads)
      await compare(parallel, new WorldStateTrie(), blocks, `${threads} threads`)
    }
  })

  it('from a genesis: the embedded cluster\'s start (genesis entries, checked against the genesis root)', async () => {
    const w = generateWorkload({ txs: 10, mix: 'mixed', accounts: 30, hotShare: 0, pools: 3, seed: 5 })
    const genesis = buildGenesis(w.genesis)
    const parallel = await ParallelWorldStateTrie.start(genesis.entries, { entry, threads: 2, expectedRoot: genesis.stateRoot })
    tries.push(parallel)
    await expect(ParallelWorldStateTrie.start(genesis.entries, { entry, threads: 2, expectedRoot: EMPTY_TRIE_ROOT })).rejects.toThrow(/starts at root/)
  })
})

describe('the root from parts split by first nibble', () => {
  it('equals the whole trie\'s with short keys and values (embedded child references under 32 bytes)', () => {
    const rng = createRng(SEED)
    // Child references under 32 bytes seen over all rounds: the case this test is for must occur.
    let embedded = 0
    for (let round = 0; round < 40; round++) {
      const parts = 1 + Math.floor(rng() * 4)
      const whole = new MerkleTrie()
      const split = Array.from({ length: parts }, () => new MerkleTrie())
      for (let op = 0; op < 1 + Math.floor(rng() * 30); op++) {
        const key = Uint8Array.from({ length: 1 + Math.floor(rng() * 3) }, () => Math.floor(rng() * (round % 2 === 0 ? 256 : 40)))
        const part = split[(key[0]! >> 4) % parts]!
        if (rng() < 0.25) {
          whole.del(key)
          part.del(key)
        } else {
          const value = Uint8Array.from({ length: 1 + Math.floor(rng() * 3) }, () => Math.floor(rng() * 256))
          whole.put(key, value)
          part.put(key, value)
        }
        const refs = split.map((t) => ({ refs: t.childReferences(), root: t.root() }))
        for (const p of refs) embedded += p.refs.filter((r) => r !== null && r.length < 32).length
        expect(toHex(rootFromChildReferences(refs)), `seed ${SEED} round ${round} op ${op}`).toBe(toHex(whole.root()))
      }
    }
    expect(embedded, `seed ${SEED}`).toBeGreaterThan(0)
  })

  it('refuses two parts holding the same nibble', () => {
    const a = new MerkleTrie()
    a.put(Uint8Array.of(0x12), Uint8Array.of(1))
    const b = new MerkleTrie()
    b.put(Uint8Array.of(0x13), Uint8Array.of(2))
    expect(() => rootFromChildReferences([a, b].map((t) => ({ refs: t.childReferences(), root: t.root() })))).toThrow(/first nibble 1/)
  })
})

describe('failures', () => {
  it('a thread that exits fails the call in flight and every later one with a TrieThreadError', async () => {
    const rng = createRng(SEED + 9)
    const trie = await start(randomBlock(rng, 0, 50), 2)
    const workers = (trie as unknown as { workers: Worker[] }).workers
    const inFlight = trie.applyBlock(EMPTY_TRIE_ROOT, randomBlock(rng, 1, 5_000))
    // Usually while the threads apply it (either way the call must fail, not hang).
    await new Promise((resolve) => setTimeout(resolve, 5))
    await workers[1]!.terminate()
    await expect(inFlight).rejects.toThrow(TrieThreadError)
    await expect(inFlight).rejects.toThrow(/state-root thread \d (exited|failed)/)
    await expect(trie.applyBlock(EMPTY_TRIE_ROOT, randomBlock(rng, 2, 10))).rejects.toThrow(TrieThreadError)
    expect(isRetryable(await trie.applyBlock(EMPTY_TRIE_ROOT, []).catch((e: unknown) => e))).toBe(false)
  })

  it('a block a thread cannot apply fails with the thread\'s error; the trie goes on', async () => {
    const trie = await start([[address(1), account(0, 1n)]], 2)
    // Not an account's RLP: WorldStateTrie fails on it the same way.
    const bad: Writes = [[address(2), Uint8Array.of(1, 2, 3)]]
    await expect(new WorldStateTrie().applyBlock(EMPTY_TRIE_ROOT, bad)).rejects.toThrow()
    const error = await trie.applyBlock(EMPTY_TRIE_ROOT, bad).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ParevmError)
    expect((error as Error).message).toMatch(/failed to apply the block/)
    const single = new WorldStateTrie()
    single.apply([[address(1), account(0, 1n)]])
    await compare(trie, single, [[[address(3), account(0, 3n)]]], 'after a failed block')
  })

  it('the GPU context records its keccak stage as off (the threads hash on the CPU)', async () => {
    const trie = await start([], 2)
    const gpu = new GpuContext({ config: gpuConfigOf({ backend: 'cpu' }) })
    await trie.applyBlock(EMPTY_TRIE_ROOT, [[address(2), account(0, 2n)]], { gpu })
    expect(gpu.status().stages.keccak).toMatch(/^off \(the state root is hashed on 2 trie threads\)/)
    expect(gpu.stageCounters('keccak')).toMatchObject({ gpuRuns: 0, cpuRuns: 0 })
  })

  it('a closed trie refuses calls', async () => {
    const trie = await start([], 2)
    await trie.close()
    await expect(trie.applyBlock(EMPTY_TRIE_ROOT, [])).rejects.toThrow(/closed/)
  })

  it('PAREVM_TRIE_THREADS is read as 0..16', () => {
    expect(trieThreadsFromEnv({})).toBeUndefined()
    expect(trieThreadsFromEnv({ PAREVM_TRIE_THREADS: '0' })).toBe(0)
    expect(trieThreadsFromEnv({ PAREVM_TRIE_THREADS: '4' })).toBe(4)
    expect(() => trieThreadsFromEnv({ PAREVM_TRIE_THREADS: '17' })).toThrow(/PAREVM_TRIE_THREADS/)
    expect(() => trieThreadsFromEnv({ PAREVM_TRIE_THREADS: 'two' })).toThrow(/PAREVM_TRIE_THREADS/)
  })
})

describe('a cluster with trie threads', () => {
  it('seals blocks identical to sequential execution (worker threads, the sequential check in its thread)', async () => {
    const w = generateWorkload({ txs: 150, mix: 'mixed', accounts: 60, hotShare: 0.2, pools: 4, seed: SEED % 1000 })
    const { summary, events, cluster } = await runInline(buildGenesis(w.genesis), w.rawTxs, { workers: 2, threads: true, trieThreads: 3, blockSize: 40 })
    const trie = (cluster as unknown as { parallelTrie: unknown }).parallelTrie
    expect(trie).toBeInstanceOf(ParallelWorldStateTrie)
    // Stopped with the cluster.
    await expect((trie as ParallelWorldStateTrie).applyBlock(EMPTY_TRIE_ROOT, [])).rejects.toThrow(/closed/)
    expect(summary.included).toBe(150)
    expect(summary.blocks).toBeGreaterThanOrEqual(4)
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    expect(events.every((e) => e.verify?.ok === true)).toBe(true)
  })
})
