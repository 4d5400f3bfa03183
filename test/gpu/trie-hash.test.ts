/**
 * The `keccak` GPU stage in the state root: a trie hashed a level at a time through the
 * batched kernel (here on the gpu.js cpu and webasm backends) gives the same roots and saves
 * the same nodes as the trie hashing node by node, in memory and over a node store (with
 * deletes that collapse branches), and a cluster with the stage forced on still seals blocks
 * identical to sequential execution.
 */
import { Account } from '@ethereumjs/util'
import { describe, expect, it } from 'vitest'

import { keccak256 } from '../../shared/crypto/keccak.ts'
import { createAccelerators } from '../../shared/gpu/accelerators.ts'
import { openBackend } from '../../shared/gpu/backend.ts'
import { gpuConfigOf } from '../../shared/gpu/config.ts'
import { GpuContext } from '../../shared/gpu/context.ts'
import { keccakBatchGpu } from '../../shared/gpu/kernels/keccak.ts'
import { toHex } from '../../shared/hex.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { EMPTY_TRIE_ROOT } from '../../shared/trie/mpt.ts'
import { KvTrieNodeStore, saveTrieNodes } from '../../shared/trie/node-store.ts'
import { WorldStateTrie } from '../../shared/trie/world-state.ts'
import { createRng, generateWorkload } from '../../shared/workload/generator.ts'
import { buildGenesis } from '../../shared/chain/genesis.ts'
import { runInline } from '../helpers/chain.ts'

import type { StateKey } from '../../shared/state/keys.ts'
import type { StateValue } from '../../shared/state/values.ts'
import { reportBackends } from '../helpers/gpu-backends.ts'

const SEED = Number(process.env['PAREVM_TEST_SEED'] ?? Math.floor(Math.random() * 2 ** 31))
console.log(`trie hashing tests: seed ${SEED}`)

const keccakOnWebasm = gpuConfigOf({ backend: 'webasm', stages: { keccak: 'on' } })

type Writes = [StateKey, StateValue][]
const address = (i: number): string => i.toString(16).padStart(40, '0')
const slot = (i: number): string => i.toString(16).padStart(64, '0')
const account = (nonce: number, balance: bigint): Uint8Array => new Account(BigInt(nonce), balance, EMPTY_TRIE_ROOT, keccak256(new Uint8Array(0))).serialize()

function randomWrites(rng: () => number, n: number, count: number): Writes {
  const writes = new Map<StateKey, StateValue>()
  for (let i = 0; i < count; i++) {
    const r = rng()
    if (r < 0.35) writes.set(address(Math.floor(rng() * 200)), account(n, BigInt(Math.floor(rng() * 1e12))))
    else if (r < 0.42) writes.set(address(Math.floor(rng() * 200)), null)
    else {
      const a = address(10_000 + Math.floor(rng() * 5))
      writes.set(a, account(1, 0n))
      const s = slot(Math.floor(rng() * 120))
      if (r < 0.85) writes.set(a + s, Uint8Array.from({ length: 1 + Math.floor(rng() * 32) }, () => 1 + Math.floor(rng() * 255)))
      else if (r < 0.98) writes.set(a + s, null)
      else writes.set(`w${a}`, new Uint8Array([1]))
    }
  }
  return [...writes]
}

describe('level-batched trie hashing', () => {
  it('gives the same roots and the same saved nodes as node-by-node hashing (cpu and webasm kernels)', async () => {
    await reportBackends('trie hashing tests', ['cpu', 'webasm'])
    for (const name of ['cpu', 'webasm'] as const) {
      const backend = await openBackend(name, 'test')
      let batches = 0
      const hashMany = async (messages: Uint8Array[]): Promise<Uint8Array[]> => {
        batches++
        return keccakBatchGpu(backend, messages)
      }
      const rng = createRng(SEED)
      const plain = new WorldStateTrie()
      const batched = new WorldStateTrie()
      for (let n = 0; n < 3; n++) {
        const writes = randomWrites(rng, n, n === 0 ? 150 : 40)
        const plainNodes: string[] = []
        const batchedNodes: string[] = []
        const a = plain.apply(writes, (h) => plainNodes.push(toHex(h)))
        const b = await batched.applyHashed(writes, hashMany, (h) => batchedNodes.push(toHex(h)))
        expect(toHex(b.root), `${name} block ${n}`).toBe(toHex(a.root))
        expect(b.stats).toEqual(a.stats)
        expect(batchedNodes.sort()).toEqual(plainNodes.sort())
      }
      expect(batches).toBeGreaterThan(3)
    }
  })

  it('a lazy trie over a node store with the keccak stage on (webasm backend) matches the stage off', async () => {
    const kv = new MemoryKeyValueStore()
    const eager = new WorldStateTrie()
    const rng = createRng(SEED + 1)
    let parent = eager.apply(randomWrites(rng, 0, 200)).root
    await saveTrieNodes(kv, eager)
    const gpu = new GpuContext({ config: keccakOnWebasm })
    const lazy = WorldStateTrie.lazy(new KvTrieNodeStore(kv))
    for (let n = 1; n <= 3; n++) {
      const writes = randomWrites(rng, n, 40)
      const expected = eager.apply(writes).root
      const got = await lazy.applyBlock(parent, writes, { gpu })
      expect(toHex(got.root), `block ${n}`).toBe(toHex(expected))
      parent = expected
    }
    expect(gpu.stageCounters('keccak').gpuRuns).toBeGreaterThan(0)
    expect(gpu.stageCounters('keccak').disabled).toBeUndefined()
  })

  it('the cluster with the keccak stage forced on seals blocks identical to sequential execution', async () => {
    const accelerators = createAccelerators({ gpu: keccakOnWebasm })
    const workload = generateWorkload({ txs: 40, mix: 'mixed', accounts: 12, hotShare: 0.1, pools: 3, seed: SEED % 1000 })
    const { summary } = await runInline(buildGenesis(workload.genesis), workload.rawTxs, { blockSize: 20, accelerators })
    expect(summary.included).toBe(40)
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    expect(accelerators.gpu.stageCounters('keccak').gpuRuns).toBeGreaterThan(0)
  })
})
