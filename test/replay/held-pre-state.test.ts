/**
 * A replay's worker threads hold each block's pre-state and answer their loads from it
 * (shared/replay/held-pre-state.ts). Those answers must be the store's, key for key (value and
 * version), or a worker would execute on state the coordinator does not validate against; and the
 * threads must actually use them.
 */
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { monotonicClock } from '../../shared/cluster/driver.ts'
import { ShardWorkerPool } from '../../shared/cluster/threads.ts'
import { UNSUPPLIED_VALUE } from '../../shared/exec/executor.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { ReplayCluster } from '../../shared/replay/cluster.ts'
import { loadFixture, type ReplayFixture } from '../../shared/replay/fixture.ts'
import { PRE_STATE_HELD, heldPreState, holdPreStateMessage } from '../../shared/replay/held-pre-state.ts'
import { ReplayStore, seedReplayStore } from '../../shared/replay/store.ts'
import { ACCOUNT_KEY_LENGTH, storageKey, wipeKey, type StateKey } from '../../shared/state/keys.ts'
import { StateTable } from '../../shared/store/state-table.ts'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'mainnet-blocks')

/** Every kind of key a worker can ask for: listed and unlisted, present and absent, wipe markers. */
function keysOf(fixture: ReplayFixture): StateKey[] {
  const pre = fixture.preState
  const keys = new Set<StateKey>([...pre.entries.keys(), ...pre.suppliedSlots])
  const accounts = [...pre.entries.keys()].filter((k) => k.length === ACCOUNT_KEY_LENGTH)
  for (const [i, a] of accounts.entries()) {
    keys.add(wipeKey(a))
    keys.add(storageKey(a, i.toString(16).padStart(64, '0')))
    keys.add(storageKey(a, 'f'.repeat(64)))
  }
  for (let i = 0; i < 20; i++) {
    const absent = (0xabc000 + i).toString(16).padStart(40, '0')
    keys.add(absent)
    keys.add(storageKey(absent, '0'.repeat(64)))
    keys.add(wipeKey(absent))
  }
  return [...keys]
}

describe('a held pre-state', () => {
  it('answers every key as the seeded replay store does: the same value and version', async () => {
    for (const block of ['19933122', '12300570']) {
      const fixture = await loadFixture(join(FIXTURES, block))
      const store = new ReplayStore()
      store.reset(fixture.preState)
      await seedReplayStore(store, fixture)
      const table = new StateTable(store)
      // As a worker thread gets it: a structured clone.
      const held = heldPreState(structuredClone(holdPreStateMessage(fixture.number, fixture.preState)))
      expect(held.block).toBe(fixture.number)
      const keys = keysOf(fixture)
      const fromStore = await table.load(keys)
      const fromHeld = await held.loader(new StateTable(store)).load(keys)
      expect(fromHeld).toEqual(fromStore)
      // Every kind came up: present, absent, unsupplied.
      expect(fromStore.some((v) => v.value !== null && v.value.length > 0)).toBe(true)
      expect(fromStore.some((v) => v.value === null)).toBe(true)
      expect(fromStore.some((v) => v.value === UNSUPPLIED_VALUE)).toBe(true)
    }
  })

  it('serves code through the worker\'s table: one object per code hash from block to block', async () => {
    const fixture = await loadFixture(join(FIXTURES, '19933122'))
    const store = new ReplayStore()
    store.reset(fixture.preState)
    await seedReplayStore(store, fixture)
    const table = new StateTable(store)
    const hashes = [...fixture.preState.codes.keys()]
    expect(hashes.length).toBeGreaterThan(0)
    const first = await heldPreState(structuredClone(holdPreStateMessage(fixture.number, fixture.preState))).loader(table).loadCode(hashes)
    // The same block sent again (a second replay of it) is a fresh copy; the table keeps the first bytes.
    const again = await heldPreState(structuredClone(holdPreStateMessage(fixture.number, fixture.preState))).loader(table).loadCode(hashes)
    for (let i = 0; i < hashes.length; i++) {
      expect(first[i]).toEqual(fixture.preState.codes.get(hashes[i]!))
      expect(again[i]).toBe(first[i])
    }
  })
})

describe('worker threads of a replay', () => {
  let cluster: ReplayCluster | undefined
  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  })

  it('run every shard on the pre-state they hold, and the blocks match their headers', async () => {
    cluster = await ReplayCluster.start({ workers: 2 })
    for (const block of ['19933122', '9068998']) {
      const run = await cluster.replay(await loadFixture(join(FIXTURES, block)))
      expect(run.comparison.ok).toBe(true)
      expect(run.timings.workerHeldShards).toBe(run.shards)
      // Keys no prediction covered were asked for, and answered by the thread itself.
      expect(run.timings.workerMissLoads).toBeGreaterThan(0)
    }
  })

  it('a thread that dies instead of taking the pre-state fails the handoff at once, not after its timeout', async () => {
    const kv = new MemoryKeyValueStore()
    const queue = (name: string) => new MemoryQueue({ name })
    const pool = ShardWorkerPool.start({ workers: 2, threads: true, ports: { kv, shardQueue: queue('s'), doneQueue: queue('d') }, visibilityTimeoutMs: 30_000, onThreadError: () => {} })
    try {
      await pool.ready(monotonicClock, 120_000)
      const fixture = await loadFixture(join(FIXTURES, '9068998'))
      // A block number that is not one: the threads' handler throws, and the threads exit.
      const bad = { ...holdPreStateMessage(fixture.number, fixture.preState), block: 'not-a-number' }
      await expect(pool.tellThreads(bad, PRE_STATE_HELD, monotonicClock, 600_000)).rejects.toThrow(/exited/)
      // Later handoffs are refused at once too.
      await expect(pool.tellThreads(holdPreStateMessage(fixture.number, fixture.preState), PRE_STATE_HELD, monotonicClock, 600_000)).rejects.toThrow(/exited/)
    } finally {
      await pool.stop()
    }
  })

  it('load from the store in the main thread with holdPreState: false', async () => {
    cluster = await ReplayCluster.start({ workers: 2, holdPreState: false })
    const run = await cluster.replay(await loadFixture(join(FIXTURES, '19933122')))
    expect(run.comparison.ok).toBe(true)
    expect(run.timings.workerHeldShards).toBe(0)
    expect(run.holdMs).toBe(0)
  })
})
