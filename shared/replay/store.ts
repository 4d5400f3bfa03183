/**
 * The store a replayed block runs on: an in-process key-value store holding exactly the
 * fixture's pre-state, a synthetic head for the parent block, and the rule for keys the
 * fixture does not list (see fixture.ts): an unlisted slot of an account with code is answered
 * with `UNSUPPLIED_VALUE`, which the executor turns into a `MissingStateError` naming the key
 * if a transaction actually reads it. Every other absent key is absent (a new account, an
 * empty slot of an account without code).
 *
 * One `ReplayStore` serves many blocks: `reset` swaps in a fresh inner store, so worker threads
 * that reach it over RPC keep their connection from block to block.
 */
import { UNSUPPLIED_VALUE } from '../exec/executor.ts'
import { ConfigError } from '../errors.ts'
import { to0x } from '../hex.ts'
import { MemoryKeyValueStore } from '../ports/memory/memory-kv-store.ts'
import { Records, type HeadRecord, type SealedBlockRecord } from '../store/records.ts'
import { makeHeadRecord } from '../store/head.ts'
import { StateTable } from '../store/state-table.ts'
import { isUnsuppliedSlot, preStateVersion } from './held-pre-state.ts'
import { preStateTrie, type PreState, type ReplayFixture } from './fixture.ts'

import { ForwardingKeyValueStore, type Item, type ItemKey, type KeyValueStore } from '../ports/kv-store.ts'
import type { WorldStateTrie } from '../trie/world-state.ts'

export class ReplayStore extends ForwardingKeyValueStore {
  /** The current block's store (`inner`). */
  private memory: MemoryKeyValueStore
  private preState: PreState | undefined
  /** Keys of the current block answered as unsupplied (speculative reads and prefetches included). */
  unsuppliedAnswers = 0

  constructor() {
    const memory = new MemoryKeyValueStore()
    super(memory)
    this.memory = memory
  }

  /** Start over with an empty store that knows what `preState` supplies. */
  reset(preState?: PreState): void {
    this.memory = new MemoryKeyValueStore()
    this.inner = this.memory
    this.preState = preState
    this.unsuppliedAnswers = 0
  }

  /** Item and call counts of the current block's store. */
  get stats(): MemoryKeyValueStore['stats'] {
    return this.memory.stats
  }

  override async get(keys: readonly ItemKey[]): Promise<(Item | undefined)[]> {
    const items = await this.inner.get(keys)
    const pre = this.preState
    if (pre === undefined) return items
    for (let i = 0; i < keys.length; i++) {
      if (items[i] !== undefined) continue
      const key = keys[i]!
      if (key.table !== 'state' || !isUnsuppliedSlot(pre, key.pk)) continue
      items[i] = { ...key, value: UNSUPPLIED_VALUE, version: 0 }
      this.unsuppliedAnswers++
    }
    return items
  }
}

export interface SeededBlock {
  head: HeadRecord
  /** The coordinator's trie, over the pre-state: its root is not mainnet's (the state is partial). */
  trie: WorldStateTrie
}

/**
 * Seed an empty store for replaying `fixture`: the pre-state (version: the end of the parent
 * block), its code, and the parent block as the chain head: number N-1, hash = the block's
 * parentHash, BLOCKHASH history from the fixture. The head's other fields (timestamp, gas,
 * difficulty, fees) are the block's own: replay takes every header field from the block, so
 * nothing derives the next header from the head.
 */
export async function seedReplayStore(kv: KeyValueStore, fixture: ReplayFixture): Promise<SeededBlock> {
  const records = new Records(kv)
  if ((await records.getHead()) !== undefined) throw new ConfigError('a replay store must be empty before seeding')
  const parent = fixture.number - 1n
  const state = new StateTable(kv)
  await state.seed(fixture.preState.entries, preStateVersion(fixture.number))
  await state.putCode(fixture.preState.codes)
  const trie = preStateTrie(fixture.preState)
  const b = fixture.block
  const head = makeHeadRecord({
    number: parent,
    hash: b.parentHash.toLowerCase(),
    stateRoot: to0x(trie.root()),
    timestamp: b.timestamp,
    gasLimit: b.gasLimit,
    gasUsed: b.gasUsed,
    difficulty: b.difficulty,
    recentHashes: fixture.blockHashes,
    baseFeePerGas: b.baseFeePerGas,
    excessBlobGas: b.excessBlobGas,
  })
  const base: SealedBlockRecord = {
    number: head.number,
    hash: head.hash,
    header: { number: `0x${parent.toString(16)}`, hash: head.hash, note: 'replay base: the parent of a replayed block, known by hash only' },
    txHashes: [],
    txParts: 0,
    rejected: [],
    stats: {},
    sealedAtMs: Date.now(),
  }
  await records.putBaseHead(base, head)
  return { head, trie }
}
