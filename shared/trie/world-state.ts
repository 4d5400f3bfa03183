/**
 * The Ethereum state root of the flat state: an account trie (secure: keys keccak(address))
 * and one storage trie per account (keys keccak(slot), values RLP(value)). It is updated once
 * per block from the block's net writes and kept between blocks, so each root costs the
 * paths that block wrote. The flat account values carry a storageRoot field that is not
 * maintained per transaction: the trie supplies the live storage root of every leaf.
 *
 * A trie over a node store (`WorldStateTrie.lazy`) keeps no state of its own that matters:
 * `applyBlock(parentRoot, writes)` starts from `parentRoot` (re-rooting if its memory is at
 * another root, e.g. another coordinator instance sealed the blocks in between), loads the
 * nodes on the paths the block writes in batched rounds (one round per trie level), applies the
 * writes, and saves every new node before returning the root. Nodes are content-addressed, so
 * saving is idempotent and any instance can continue from any sealed root.
 */
import { Account, createAccountFromRLP } from '@ethereumjs/util'

import { keccak256 } from '../crypto/keccak.ts'
import { trieKeccak } from '../gpu/stages.ts'
import { InvariantError } from '../errors.ts'
import { bytesEqual, fromHex, toHex } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH, STORAGE_KEY_LENGTH, WIPE_PREFIX, type AddressHex, type StateKey } from '../state/keys.ts'
import { accountRlp, parseAccount, type StateValue } from '../state/values.ts'
import { EMPTY_TRIE_ROOT, MerkleTrie, MissingTrieNodeError, resolveNode, type NodeSink, type TrieSnapshot, type UnresolvedNode } from './mpt.ts'
import { encodeBytes } from './rlp.ts'

import type { GpuContext } from '../gpu/context.ts'
import type { StateRootTrie } from './state-root-trie.ts'

export interface WorldStateStats {
  accountsUpdated: number
  storageSlotsUpdated: number
  storageTriesRehashed: number
}

/** Where a lazy trie loads and saves its nodes (pk = node hash in the `trie` table). */
export interface TrieNodeStore {
  /** Encodings by hash, in order; undefined where the store has none. */
  load(hashes: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]>
  save(nodes: readonly (readonly [Uint8Array, Uint8Array])[]): Promise<void>
}

export interface LazyTrieStats {
  nodesLoaded: number
  loadRounds: number
  nodesSaved: number
  reroots: number
  /** Applies repeated because a delete needed a sibling that was not loaded. */
  collapseLoads: number
}

/** Rounds of node loading per block (a path is at most 64 nibbles deep, plus collapses on delete). */
const LOAD_ROUNDS_MAX = 200

export class WorldStateTrie implements StateRootTrie {
  private accounts = new MerkleTrie()
  private readonly storage = new Map<AddressHex, MerkleTrie>()
  private readonly hashedAddress = new Map<AddressHex, Uint8Array>()
  private store: TrieNodeStore | undefined
  /** Lazy mode: the root the in-memory nodes represent (undefined: unknown, re-root first). */
  private currentRoot: Uint8Array | undefined
  /** Lazy mode: addresses whose storage trie is in `storage` if it is not empty. */
  private readonly storageKnown = new Set<AddressHex>()
  private nodesCachedMax = 2_000_000
  readonly lazyStats: LazyTrieStats = { nodesLoaded: 0, loadRounds: 0, nodesSaved: 0, reroots: 0, collapseLoads: 0 }
  /**
   * While a block's writes are staged (`stageWrites`): the trie at its parent, to go back to -
   * the account trie, and each storage trie as it was before the block first changed it
   * (undefined: the account had none).
   */
  private parent: { accounts: TrieSnapshot; storage: Map<AddressHex, TrieSnapshot | undefined> } | undefined

  /**
   * A trie over a node store, starting empty-handed: the first `applyBlock` loads what it needs
   * from its parent root. `nodesCachedMax` bounds memory: past it, the next block re-roots.
   */
  static lazy(store: TrieNodeStore, options: { nodesCachedMax?: number } = {}): WorldStateTrie {
    const trie = new WorldStateTrie()
    trie.store = store
    if (options.nodesCachedMax !== undefined) trie.nodesCachedMax = options.nodesCachedMax
    return trie
  }

  /** Every node of this (fully loaded) trie, accounts and storage, for a node store. */
  exportNodes(sink: NodeSink): void {
    for (const trie of this.storage.values()) trie.exportNodes(sink)
    this.accounts.exportNodes(sink)
  }

  /**
   * The block's state root from its parent's. Without a node store this is `apply` (the trie
   * is kept warm in memory from genesis). With one, see the class comment.
   */
  async applyBlock(
    parentRoot: Uint8Array,
    writes: readonly (readonly [StateKey, StateValue])[],
    options: { gpu?: GpuContext | undefined } = {},
  ): Promise<{ root: Uint8Array; stats: WorldStateStats }> {
    const store = this.store
    // The `keccak` GPU stage of the caller's context, where it runs: nodes hashed a level at a
    // time (shared/gpu/stages.ts). No context: node by node on the CPU.
    const hashMany = await trieKeccak(options.gpu)
    const applyWrites = (sink?: NodeSink): Promise<{ root: Uint8Array; stats: WorldStateStats }> =>
      hashMany === undefined ? Promise.resolve(this.apply(writes, sink)) : this.applyHashed(writes, hashMany, sink)
    if (store === undefined) {
      const result = await applyWrites()
      this.commitStaged()
      return result
    }
    if (this.parent !== undefined) throw new InvariantError('a lazy state trie has writes staged')
    if (this.currentRoot === undefined || !bytesEqual(this.currentRoot, parentRoot) || this.lazyStats.nodesLoaded > this.nodesCachedMax) {
      this.reroot(parentRoot)
    }
    this.currentRoot = undefined
    const nodes: [Uint8Array, Uint8Array][] = []
    const sink: NodeSink = (hash, encoded) => nodes.push([hash, encoded])
    await this.prepare(writes)
    let result: { root: Uint8Array; stats: WorldStateStats } | undefined
    for (let round = 0; result === undefined; round++) {
      try {
        result = await applyWrites(sink)
      } catch (error) {
        // A delete that collapses a branch needs its remaining sibling: load it and apply again
        // (applying the same writes twice gives the same trie).
        if (!(error instanceof MissingTrieNodeError) || round >= LOAD_ROUNDS_MAX) throw error
        this.lazyStats.collapseLoads++
        await this.load(store, [error.node])
      }
    }
    await store.save(nodes)
    this.lazyStats.nodesSaved += nodes.length
    this.currentRoot = result.root
    return result
  }

  private reroot(root: Uint8Array): void {
    this.accounts = MerkleTrie.fromRoot(root)
    this.storage.clear()
    this.storageKnown.clear()
    this.lazyStats.reroots++
    this.lazyStats.nodesLoaded = 0
  }

  private async load(store: TrieNodeStore, nodes: readonly UnresolvedNode[]): Promise<void> {
    const unique = new Map<string, UnresolvedNode[]>()
    for (const node of nodes) {
      const id = toHex(node.hash)
      const list = unique.get(id)
      if (list === undefined) unique.set(id, [node])
      else list.push(node)
    }
    const ids = [...unique.keys()]
    const encoded = await store.load(ids.map((id) => unique.get(id)![0]!.hash))
    ids.forEach((id, i) => {
      const bytes = encoded[i]
      if (bytes === undefined) {
        throw new InvariantError(`trie node 0x${id} is missing from the node store`, {
          hint: 'the trie table must hold every node of the head state root: initialise the chain with its trie nodes (saveGenesisTrie) and seal only through coordinators that save theirs',
        })
      }
      for (const node of unique.get(id)!) resolveNode(node, bytes)
    })
    this.lazyStats.nodesLoaded += ids.length
    this.lazyStats.loadRounds++
  }

  /** Load every node on the paths the writes touch, level by level, and the touched storage roots. */
  private async prepare(writes: readonly (readonly [StateKey, StateValue])[]): Promise<void> {
    const store = this.store!
    const touched = new Set<AddressHex>()
    const wiped = new Set<AddressHex>()
    const slots = new Map<AddressHex, Uint8Array[]>()
    for (const [key] of writes) {
      if (key.length === ACCOUNT_KEY_LENGTH) touched.add(key)
      else if (key.length === STORAGE_KEY_LENGTH) {
        const address = key.slice(0, ACCOUNT_KEY_LENGTH)
        touched.add(address)
        let list = slots.get(address)
        if (list === undefined) slots.set(address, (list = []))
        list.push(keccak256(fromHex(key.slice(ACCOUNT_KEY_LENGTH))))
      } else if (key[0] === WIPE_PREFIX) {
        touched.add(key.slice(1))
        wiped.add(key.slice(1))
      }
    }
    const resolvePaths = async (paths: [MerkleTrie, Uint8Array][]): Promise<void> => {
      for (let round = 0; round < LOAD_ROUNDS_MAX; round++) {
        const needed: UnresolvedNode[] = []
        for (const [trie, key] of paths) {
          const node = trie.unresolvedOnPath(key)
          if (node !== undefined) needed.push(node)
        }
        if (needed.length === 0) return
        await this.load(store, needed)
      }
      throw new InvariantError(`trie paths still unresolved after ${LOAD_ROUNDS_MAX} load rounds`)
    }
    await resolvePaths([...touched].map((address) => [this.accounts, this.addressKey(address)]))
    // The storage root of every touched account whose storage trie is not in memory yet.
    for (const address of touched) {
      if (this.storageKnown.has(address)) continue
      const leaf = this.accounts.get(this.addressKey(address))
      if (leaf !== undefined) {
        const storageRoot = parseAccount(leaf)[2]
        if (!bytesEqual(storageRoot, EMPTY_TRIE_ROOT)) this.storage.set(address, MerkleTrie.fromRoot(storageRoot))
      }
      this.storageKnown.add(address)
    }
    const slotPaths: [MerkleTrie, Uint8Array][] = []
    for (const [address, keys] of slots) {
      const trie = this.storage.get(address)
      if (trie === undefined || wiped.has(address)) continue
      for (const key of keys) slotPaths.push([trie, key])
    }
    await resolvePaths(slotPaths)
  }

  private addressKey(address: AddressHex): Uint8Array {
    let hashed = this.hashedAddress.get(address)
    if (hashed === undefined) {
      hashed = keccak256(fromHex(address))
      this.hashedAddress.set(address, hashed)
    }
    return hashed
  }

  /** Whether `stage` is supported: a trie kept in memory, not a lazy one over a node store. */
  get canStage(): boolean {
    return this.store === undefined
  }

  async stage(writes: readonly (readonly [StateKey, StateValue])[]): Promise<void> {
    this.stageWrites(writes)
  }

  async discardStaged(): Promise<void> {
    this.discardStagedWrites()
  }

  /**
   * Apply some of the next block's net writes now (a settled prefix), remembering the parent
   * to go back to (`discardStagedWrites`) until the block is applied (`applyBlock`) or
   * committed (`commitStaged`). In memory only.
   */
  stageWrites(writes: readonly (readonly [StateKey, StateValue])[]): { root: Uint8Array; stats: WorldStateStats } {
    if (this.store !== undefined) throw new InvariantError('a lazy state trie cannot stage writes (it starts each block from its parent root)')
    this.parent ??= { accounts: this.accounts.snapshot(), storage: new Map() }
    return this.apply(writes)
  }

  /** The staged writes become part of the trie (the block they belong to is applied). */
  commitStaged(): void {
    this.parent = undefined
  }

  /** Back to the parent the first staged writes found (nothing when none are staged). */
  discardStagedWrites(): void {
    const parent = this.parent
    if (parent === undefined) return
    this.parent = undefined
    this.accounts.restore(parent.accounts)
    for (const [address, snapshot] of parent.storage) {
      if (snapshot === undefined) this.storage.delete(address)
      else this.storage.set(address, MerkleTrie.fromSnapshot(snapshot))
    }
  }

  /** Before a storage trie changes while writes are staged: remember it as the parent had it. */
  private keepParentStorage(address: AddressHex): void {
    const parent = this.parent
    if (parent === undefined || parent.storage.has(address)) return
    parent.storage.set(address, this.storage.get(address)?.snapshot())
  }

  /** Apply net writes (account, storage and wipe keys) and return the new state root. */
  apply(writes: Iterable<readonly [StateKey, StateValue]>, sink?: NodeSink): { root: Uint8Array; stats: WorldStateStats } {
    const steps = this.applySteps(writes, sink)
    let step = steps.next()
    while (step.done !== true) step = steps.next()
    return step.value
  }

  /**
   * `apply`, with every new node hashed through `hashMany` a trie level at a time (all touched
   * storage tries together, then the account trie): the `keccak` GPU stage's batches.
   */
  async applyHashed(writes: Iterable<readonly [StateKey, StateValue]>, hashMany: (messages: Uint8Array[]) => Promise<Uint8Array[]>, sink?: NodeSink): Promise<{ root: Uint8Array; stats: WorldStateStats }> {
    const steps = this.applySteps(writes, sink)
    let step = steps.next()
    while (step.done !== true) {
      await MerkleTrie.hashPending(step.value, hashMany, sink)
      step = steps.next()
    }
    return step.value
  }

  /** apply's body; it pauses where tries are complete and about to be hashed (storage, accounts). */
  private *applySteps(writes: Iterable<readonly [StateKey, StateValue]>, sink?: NodeSink): Generator<MerkleTrie[], { root: Uint8Array; stats: WorldStateStats }, void> {
    const accountWrites = new Map<AddressHex, StateValue>()
    const storageTouched = new Set<AddressHex>()
    const stats: WorldStateStats = { accountsUpdated: 0, storageSlotsUpdated: 0, storageTriesRehashed: 0 }
    const slotWrites: [StateKey, StateValue][] = []
    for (const [key, value] of writes) {
      if (key.length === ACCOUNT_KEY_LENGTH) accountWrites.set(key, value)
      else if (key.length === STORAGE_KEY_LENGTH) slotWrites.push([key, value])
      else if (key[0] === WIPE_PREFIX) {
        const address = key.slice(1)
        this.keepParentStorage(address)
        this.storage.delete(address)
        this.storageKnown.add(address)
        storageTouched.add(address)
      }
    }
    for (const [key, value] of slotWrites) {
      const address = key.slice(0, ACCOUNT_KEY_LENGTH)
      this.keepParentStorage(address)
      let trie = this.storage.get(address)
      if (trie === undefined) {
        trie = new MerkleTrie()
        this.storage.set(address, trie)
      }
      const slotKey = keccak256(fromHex(key.slice(ACCOUNT_KEY_LENGTH)))
      if (value === null) trie.del(slotKey)
      else trie.put(slotKey, encodeBytes(value))
      storageTouched.add(address)
      stats.storageSlotsUpdated++
    }
    const touched = new Set<AddressHex>([...accountWrites.keys(), ...storageTouched])
    yield [...storageTouched].flatMap((address) => this.storage.get(address) ?? [])
    for (const address of touched) {
      const key = this.addressKey(address)
      let value: StateValue
      if (accountWrites.has(address)) {
        value = accountWrites.get(address)!
      } else {
        const leaf = this.accounts.get(key)
        value = leaf ?? null
      }
      if (value === null) {
        this.accounts.del(key)
        this.keepParentStorage(address)
        this.storage.delete(address)
        continue
      }
      const [nonce, balance, , codeHash] = parseAccount(value)
      const trie = this.storage.get(address)
      if (trie !== undefined && trie.isEmpty) {
        this.keepParentStorage(address)
        this.storage.delete(address)
      }
      const storageRoot = trie === undefined || trie.isEmpty ? EMPTY_TRIE_ROOT : trie.root(sink)
      if (storageTouched.has(address)) stats.storageTriesRehashed++
      this.accounts.put(key, accountRlp(nonce, balance, storageRoot, codeHash))
      stats.accountsUpdated++
    }
    yield [this.accounts]
    return { root: this.accounts.root(sink), stats }
  }

  root(): Uint8Array {
    return this.accounts.root()
  }

  /**
   * The references of the account trie's root children by first nibble of keccak(address)
   * (null where none): a part of the account trie held by one thread of a
   * ParallelWorldStateTrie gives these for the root branch the main thread assembles.
   */
  accountChildReferences(): (Uint8Array | null)[] {
    return this.accounts.childReferences()
  }

  /** The node store of a lazy trie (undefined for one kept in memory from genesis). */
  get nodeStore(): TrieNodeStore | undefined {
    return this.store
  }

  /** The account as the trie holds it (with its live storage root). */
  account(address: AddressHex): Account | undefined {
    const leaf = this.accounts.get(this.addressKey(address))
    return leaf === undefined ? undefined : createAccountFromRLP(leaf)
  }
}
