/**
 * A store failure in the middle of a transaction must not leave anything behind in the
 * executor: the simulator found a retried shard reading transient storage (EIP-1153) left by
 * the aborted attempt, so the retry wrote a value serial execution never writes.
 */
import { createTxFromRLP } from '@ethereumjs/tx'
import { describe, expect, it } from 'vitest'

import { genesisHead, initializeChain } from '../../shared/cluster/bootstrap.ts'
import { nextBlockEnv } from '../../shared/chain/next-block.ts'
import { BackendError } from '../../shared/errors.ts'
import { Executor } from '../../shared/exec/executor.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { storageKey } from '../../shared/state/keys.ts'
import { BlockView, type StateLoader } from '../../shared/state/view.ts'
import { StateTable } from '../../shared/store/state-table.ts'
import { lookupFromHashes } from '../../shared/worker/shard-worker.ts'
import { fromHex } from '../../shared/hex.ts'
import { COINBASE, signTx, testGenesis } from '../helpers/chain.ts'

// v = TLOAD(0); SSTORE(1, v); TSTORE(0, 1); SLOAD(5); STOP
const CONTRACT = `0x${'ab'.repeat(20)}`
const CODE = '0x60005c600155600160005d6005545000'

describe('an executor after a store failure mid-transaction', () => {
  it('runs the retried transaction exactly as a fresh executor does', async () => {
    const genesis = testGenesis({ accounts: 2, extraAlloc: { [CONTRACT]: { balance: '0x0', code: CODE } } })
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const state = new StateTable(kv)
    const env = nextBlockEnv(genesisHead(genesis), new Executor(genesis.chain).commonForEnv({ number: '0x1', timestamp: '0x0' } as never), { coinbase: COINBASE, blockTimeSec: 12 })
    const slot5 = storageKey(CONTRACT.slice(2), '05'.padStart(64, '0'))
    let failures = 1
    const flaky: StateLoader = {
      load: async (keys) => {
        if (keys.includes(slot5) && failures-- > 0) throw new BackendError('injected: the store failed mid-transaction')
        return state.load(keys)
      },
      loadCode: (hashes) => state.loadCode(hashes),
    }
    const good: StateLoader = { load: (keys) => state.load(keys), loadCode: (hashes) => state.loadCode(hashes) }
    const executor = new Executor(genesis.chain)
    const raw = signTx({ from: 0, nonce: 0, to: CONTRACT, gasLimit: 100_000n })
    const tx = () => createTxFromRLP(fromHex(raw), { common: executor.txCommonForEnv(env) })
    const hashes = lookupFromHashes(genesisHead(genesis).recentHashes)

    await executor.beginBlock(env, new BlockView(1n, flaky), hashes)
    await expect(executor.execute(tx())).rejects.toThrow(/injected/)

    await executor.beginBlock(env, new BlockView(1n, good), hashes)
    const retried = await executor.execute(tx())
    const fresh = new Executor(genesis.chain)
    await fresh.beginBlock(env, new BlockView(1n, good), hashes)
    const reference = await fresh.execute(tx())
    expect(retried.gasUsed).toBe(reference.gasUsed)
    expect([...retried.access.writes.keys()].sort()).toEqual([...reference.access.writes.keys()].sort())
    // Serial execution reads 0 from transient storage and so writes nothing to slot 1.
    expect(retried.access.writes.has(storageKey(CONTRACT.slice(2), '01'.padStart(64, '0')))).toBe(false)
  })
})

describe('executors and the process-wide Common', () => {
  it('a VM made and dropped leaves nothing registered on the cached Common (simulator: out of heap after ~3,150 seeds)', async () => {
    const genesis = testGenesis({ accounts: 2 })
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const state = new StateTable(kv)
    const loader: StateLoader = { load: (keys) => state.load(keys), loadCode: (hashes) => state.loadCode(hashes) }
    const common = new Executor(genesis.chain).commonForEnv({ number: '0x1', timestamp: '0x0' } as never)
    const env = nextBlockEnv(genesisHead(genesis), common, { coinbase: COINBASE, blockTimeSec: 12 })
    const before = common.events.listenerCount('hardforkChanged')
    for (let i = 0; i < 5; i++) {
      // Each new executor makes a VM (and an EVM) on the same cached Common.
      await new Executor(genesis.chain).beginBlock(env, new BlockView(1n, loader), lookupFromHashes(genesisHead(genesis).recentHashes))
    }
    expect(common.events.listenerCount('hardforkChanged')).toBe(before)
  })
})
