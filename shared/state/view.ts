/**
 * A versioned flat-state view of one block: block-start state (loaded in batches from the
 * store and cached) under an overlay of in-block writes. A worker's view overlays its shard's
 * earlier transactions; the coordinator's view overlays every validated transaction so far.
 */
import { Account } from '@ethereumjs/util'

import { InvariantError } from '../errors.ts'
import { toHex } from '../hex.ts'
import {
  ACCOUNT_KEY_LENGTH,
  STORAGE_KEY_LENGTH,
  WIPE_PREFIX,
  type AddressHex,
  type StateKey,
  type Version,
} from './keys.ts'
import { constantSlotsCached } from './code-slots.ts'
import { decodeAccount, encodeAccount, wipeMarker, type StateValue, type VersionedValue } from './values.ts'

/** Where block-start state comes from (the state store, or an RPC to it from a worker thread). */
export interface StateLoader {
  /** Block-start values, one per key, in order; absent keys are `ABSENT`. */
  load(keys: readonly StateKey[]): Promise<VersionedValue[]>
  /** Contract code by hash (hex without 0x); an unknown hash is an error. */
  loadCode(codeHashes: readonly string[]): Promise<Uint8Array[]>
}

/** A transaction's (or a block's) net effect: key → new value; wipe markers included. */
export type WriteSet = Map<StateKey, StateValue>

export interface ViewStats {
  /** Keys loaded in prefetch batches. */
  prefetched: number
  /** Keys loaded one at a time because no prediction covered them. */
  missLoads: number
  /** Batched load calls (prefetch) and single-key load calls (misses). */
  loadCalls: number
  /** Milliseconds spent waiting for the loads of misses and of code during execution. */
  missMs: number
  /** Keys loaded along with a missed storage slot: its account's wipe marker and the contract's constant slots (shared/state/code-slots.ts). */
  hinted: number
}

export class BlockView {
  readonly block: bigint
  private readonly loader: StateLoader
  private readonly base = new Map<StateKey, VersionedValue>()
  private readonly overlay = new Map<StateKey, VersionedValue>()
  private readonly wiped = new Map<AddressHex, Version>()
  private readonly codes = new Map<string, Uint8Array>()
  readonly stats: ViewStats = { prefetched: 0, missLoads: 0, loadCalls: 0, missMs: 0, hinted: 0 }
  /** Contracts whose constant slots have been loaded (or asked for) in this view. */
  private readonly slotsHinted = new Set<AddressHex>()

  constructor(block: bigint, loader: StateLoader) {
    this.block = block
    this.loader = loader
  }

  /** Load every key not yet cached, in one batch. */
  async prefetch(keys: Iterable<StateKey>): Promise<void> {
    const missing: StateKey[] = []
    const seen = new Set<StateKey>()
    for (const key of keys) {
      if (this.base.has(key) || seen.has(key)) continue
      seen.add(key)
      missing.push(key)
    }
    if (missing.length === 0) return
    const values = await this.loader.load(missing)
    this.stats.loadCalls++
    this.stats.prefetched += missing.length
    for (let i = 0; i < missing.length; i++) this.base.set(missing[i]!, values[i]!)
  }

  async prefetchCode(codeHashes: Iterable<string>): Promise<void> {
    const missing = [...new Set(codeHashes)].filter((h) => !this.codes.has(h))
    if (missing.length === 0) return
    const codes = await this.loader.loadCode(missing)
    for (let i = 0; i < missing.length; i++) this.codes.set(missing[i]!, codes[i]!)
  }

  /** Seed block-start values that are already known (for example from the sequencer). */
  seedBase(key: StateKey, entry: VersionedValue): void {
    if (!this.base.has(key)) this.base.set(key, entry)
  }

  /** The in-block value of a key, if an in-block write (or wipe) decides it. */
  getInBlock(key: StateKey): VersionedValue | undefined {
    const entry = this.overlay.get(key)
    if (entry !== undefined) return entry
    if (this.wiped.size > 0 && key.length === STORAGE_KEY_LENGTH) {
      const wipedAt = this.wiped.get(key.slice(0, ACCOUNT_KEY_LENGTH))
      if (wipedAt !== undefined) return { value: null, version: wipedAt }
    }
    return undefined
  }

  /** Block-start value if it has been loaded. */
  getLoadedBase(key: StateKey): VersionedValue | undefined {
    return this.base.get(key)
  }

  async get(key: StateKey): Promise<VersionedValue> {
    const inBlock = this.getInBlock(key)
    if (inBlock !== undefined) return inBlock
    const cached = this.base.get(key)
    if (cached !== undefined) return cached
    const keys = key.length === STORAGE_KEY_LENGTH ? this.withSlotHints(key) : [key]
    const t = performance.now()
    const loaded = await this.loader.load(keys)
    this.stats.missMs += performance.now() - t
    this.stats.loadCalls++
    this.stats.missLoads++
    this.stats.hinted += keys.length - 1
    // A concurrent load may have filled some: the first value stays (both are block-start state).
    for (let i = 0; i < keys.length; i++) if (!this.base.has(keys[i]!)) this.base.set(keys[i]!, loaded[i]!)
    return this.base.get(key)!
  }

  /**
   * A missed slot and what its contract will likely read next, for one round trip: the account's
   * wipe marker (read with every slot) and, the first time one of its slots is missed, the
   * slots its code names as constants. All block-start state, loaded only into the cache: what
   * counts as read is what a transaction asks for.
   */
  private withSlotHints(key: StateKey): StateKey[] {
    const address = key.slice(0, ACCOUNT_KEY_LENGTH)
    const keys = [key]
    const wipe = WIPE_PREFIX + address
    if (!this.base.has(wipe)) keys.push(wipe)
    if (this.slotsHinted.has(address)) return keys
    this.slotsHinted.add(address)
    const code = this.codeOf(address)
    if (code === undefined) return keys
    for (const slot of constantSlotsCached(code.hash, code.bytes)) {
      const hinted = address + slot
      if (hinted !== key && !this.base.has(hinted) && this.getInBlock(hinted) === undefined) keys.push(hinted)
    }
    return keys
  }

  /** The code of the account at `address` if the view holds both already. */
  private codeOf(address: AddressHex): { hash: string; bytes: Uint8Array } | undefined {
    const entry = this.overlay.get(address) ?? this.base.get(address)
    const account = decodeAccount(entry?.value ?? null)
    if (account === undefined) return undefined
    const hash = toHex(account.codeHash)
    const bytes = this.codes.get(hash)
    return bytes === undefined || bytes.length === 0 ? undefined : { hash, bytes }
  }

  async getCode(codeHashHex: string): Promise<Uint8Array> {
    const cached = this.codes.get(codeHashHex)
    if (cached !== undefined) return cached
    const t = performance.now()
    const [code] = await this.loader.loadCode([codeHashHex])
    this.stats.missMs += performance.now() - t
    this.stats.loadCalls++
    if (code === undefined) throw new InvariantError(`code not found for hash 0x${codeHashHex}`)
    this.codes.set(codeHashHex, code)
    return code
  }

  addCodes(codes: Map<string, Uint8Array>): void {
    for (const [hash, code] of codes) this.codes.set(hash, code)
  }

  /** Apply a net write set at `version`: wipes first, then values. */
  applyWrites(writes: WriteSet, version: Version): void {
    for (const key of writes.keys()) {
      if (key[0] !== WIPE_PREFIX) continue
      this.applyWipe(key.slice(1), version)
    }
    for (const [key, value] of writes) {
      if (key[0] === WIPE_PREFIX) continue
      this.overlay.set(key, { value, version })
    }
  }

  private applyWipe(address: AddressHex, version: Version): void {
    this.wiped.set(address, version)
    this.overlay.set(WIPE_PREFIX + address, { value: wipeMarker(version), version })
    for (const key of this.overlay.keys()) {
      if (key.length === STORAGE_KEY_LENGTH && key.startsWith(address)) this.overlay.delete(key)
    }
  }

  /**
   * Credit `delta` wei to an account (deferred beneficiary fees, withdrawals, rewards).
   * With `touch` (EIP-158 semantics of a reward), an account left empty is deleted.
   */
  async credit(address: AddressHex, delta: bigint, version: Version, touch = false): Promise<void> {
    if (delta === 0n && !touch) return
    const current = await this.get(address)
    const account = decodeAccount(current.value) ?? new Account()
    account.balance += delta
    const value = touch && account.isEmpty() ? null : encodeAccount(account)
    if (value === null && current.value === null) return
    this.overlay.set(address, { value, version })
  }

  /** Every in-block write: the block's net effect (wipes included as marker keys). */
  netWrites(): Map<StateKey, VersionedValue> {
    return new Map(this.overlay)
  }

  /** The in-block writes as they stand, not copied: each write replaces its key's entry (a wipe removes the account's slots). */
  inBlockWrites(): ReadonlyMap<StateKey, VersionedValue> {
    return this.overlay
  }

  wipedAddresses(): Map<AddressHex, Version> {
    return new Map(this.wiped)
  }

  /** Codes known to this view (loaded or added). */
  knownCode(codeHashHex: string): Uint8Array | undefined {
    return this.codes.get(codeHashHex)
  }
}
