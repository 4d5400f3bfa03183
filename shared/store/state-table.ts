/**
 * The flat state in the key-value store.
 *
 * One item per state key (pk = the key, sk = '-'), so writes spread over partitions: no
 * contract's storage shares one partition. A storage wipe is an item under the wipe key of
 * the account, carrying the wipe's version; a slot item older than its account's wipe reads
 * as absent, so a wipe never has to find and delete every slot.
 */
import { ConditionFailedError, InvariantError, MalformedInputError } from '../errors.ts'
import { fromHex, toHex } from '../hex.ts'
import {
  ACCOUNT_KEY_LENGTH,
  STORAGE_KEY_LENGTH,
  WIPE_PREFIX,
  describeKey,
  type StateKey,
  type Version,
} from '../state/keys.ts'
import { ABSENT, type StateValue, type VersionedValue } from '../state/values.ts'
import { STORE_LIMITS, type Item, type ItemKey, type KeyValueStore, type WriteOp } from '../ports/kv-store.ts'

const SK = '-'

export function stateItemKey(key: StateKey): ItemKey {
  return { table: 'state', pk: key, sk: SK }
}

export function codeItemKey(codeHashHex: string): ItemKey {
  return { table: 'code', pk: codeHashHex, sk: SK }
}

// The item builders spell the key's fields out: an object spread (`{ ...stateItemKey(k), value }`)
// costs about ten times a literal in V8, and a block writes tens of thousands of these.

/** The state table's item of `key`. */
export function stateItem(key: StateKey, value: Uint8Array, version: Version): Item {
  return { table: 'state', pk: key, sk: SK, value, version }
}

/** The code table's item of a code hash (hex). */
export function codeItem(codeHashHex: string, code: Uint8Array): Item {
  return { table: 'code', pk: codeHashHex, sk: SK, value: code, version: 0 }
}

export interface StateWrite {
  key: StateKey
  value: StateValue
  /** Version of the writer (block, position). */
  version: Version
  /** Version of the item at block start (0 if absent): the write's condition. */
  baseVersion: Version
}

export interface ApplyStats {
  items: number
  transactions: number
  alreadyApplied: number
}

/** Conditional write transactions of a block's apply in flight at once. */
export const APPLY_CALLS_IN_FLIGHT = 8

/** Bytes of contract code a StateTable keeps between blocks (oldest dropped first beyond it). */
export const CODE_CACHE_BYTES = 32 * 1024 * 1024

export class StateTable {
  /**
   * Contract code by hash, kept across blocks: a hash's bytes never change, so a worker need not
   * read a contract's code from the store for every block, and the same bytes (one object) serve
   * every call of it, which is what lets the executor's jump analysis be computed once per
   * contract (shared/exec/jump-analysis.ts). Callers never change code bytes.
   */
  private readonly codes = new Map<string, Uint8Array>()
  private codeBytes = 0

  /** `codeCacheBytes`: how much code to keep between blocks (CODE_CACHE_BYTES). */
  constructor(
    private readonly kv: KeyValueStore,
    private readonly codeCacheBytes = CODE_CACHE_BYTES,
  ) {}

  /**
   * Block-start values of these keys, one per key, in order (versions are the stored items',
   * 0 for absent).
   */
  async load(keys: readonly StateKey[]): Promise<VersionedValue[]> {
    const wipeKeys = new Set<StateKey>()
    for (const key of keys) if (key.length === STORAGE_KEY_LENGTH) wipeKeys.add(WIPE_PREFIX + key.slice(0, ACCOUNT_KEY_LENGTH))
    const extra = [...wipeKeys].filter((k) => !keys.includes(k))
    const all = [...keys, ...extra]
    const items = await this.kv.get(all.map(stateItemKey))
    const byKey = new Map<StateKey, VersionedValue>()
    for (let i = 0; i < all.length; i++) {
      const item = items[i]
      byKey.set(all[i]!, item === undefined ? ABSENT : { value: item.value, version: item.version })
    }
    return keys.map((key) => {
      const entry = byKey.get(key)!
      if (key.length !== STORAGE_KEY_LENGTH) return entry
      const wipe = byKey.get(WIPE_PREFIX + key.slice(0, ACCOUNT_KEY_LENGTH))!
      // Older than its account's wipe: absent. The version stays the item's own, so a block's
      // apply can condition on what is physically stored.
      if (wipe.value !== null && entry.version < wipe.version) return { value: null, version: entry.version }
      return entry
    })
  }

  async loadCode(codeHashes: readonly string[]): Promise<Uint8Array[]> {
    const out: Uint8Array[] = new Array(codeHashes.length)
    const missing: number[] = []
    for (let i = 0; i < codeHashes.length; i++) {
      const known = this.codes.get(codeHashes[i]!)
      if (known !== undefined) out[i] = known
      else missing.push(i)
    }
    if (missing.length === 0) return out
    const items = await this.kv.get(missing.map((i) => codeItemKey(codeHashes[i]!)))
    for (let j = 0; j < missing.length; j++) {
      const hash = codeHashes[missing[j]!]!
      const item = items[j]
      if (item === undefined) throw new InvariantError(`contract code 0x${hash} is not in the store`)
      out[missing[j]!] = this.keepCode(hash, item.value)
    }
    return out
  }

  async putCode(codes: Iterable<[string, Uint8Array]>): Promise<void> {
    const list = [...codes]
    // One call: the port batches (25 an AWS call) and sends the batches in parallel.
    await this.kv.write(list.map(([hash, code]) => ({ op: 'put' as const, item: codeItem(hash, code) })))
    for (const [hash, code] of list) this.keepCode(hash, code)
  }

  /** Remember a code's bytes (the first bytes seen for a hash stay: one object per contract); returns the ones kept. */
  keepCode(hash: string, code: Uint8Array): Uint8Array {
    const known = this.codes.get(hash)
    if (known !== undefined) return known
    if (code.length > this.codeCacheBytes) return code
    this.codes.set(hash, code)
    this.codeBytes += code.length
    for (const [oldest, bytes] of this.codes) {
      if (this.codeBytes <= this.codeCacheBytes) break
      this.codes.delete(oldest)
      this.codeBytes -= bytes.length
    }
    return code
  }

  /**
   * Apply a block's net writes, each conditioned on the item still having its block-start
   * version or already having the new one (a retried apply changes nothing). Groups of at most
   * 100 operations: atomicity across groups is not needed because readers start a block only
   * after its seal, and every write is idempotent by its version condition.
   */
  async apply(writes: readonly StateWrite[]): Promise<ApplyStats> {
    const stats: ApplyStats = { items: writes.length, transactions: 0, alreadyApplied: 0 }
    const groups: WriteOp[][] = []
    for (let i = 0; i < writes.length; i += STORE_LIMITS.transactOps) {
      groups.push(
        writes.slice(i, i + STORE_LIMITS.transactOps).map((w) => {
          const condition = { kind: 'version' as const, oneOf: [w.baseVersion, w.version], orAbsent: w.baseVersion === 0 || w.value === null }
          return w.value === null
            ? { op: 'delete' as const, key: stateItemKey(w.key), condition }
            : { op: 'put' as const, item: stateItem(w.key, w.value, w.version), condition }
        }),
      )
    }
    // The groups touch different keys and each condition accepts the old or the new version, so
    // they may land in any order (and again, after a crash): several calls in flight, not one
    // after another (on DynamoDB a 10,000-transaction block is hundreds of TransactWriteItems).
    let next = 0
    let failure: unknown
    const lane = async (): Promise<void> => {
      while (failure === undefined && next < groups.length) {
        const ops = groups[next++]!
        try {
          await this.kv.transact(ops)
          stats.transactions++
        } catch (error) {
          failure ??= error
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(APPLY_CALLS_IN_FLIGHT, groups.length) }, lane))
    if (failure instanceof ConditionFailedError) {
      throw new InvariantError(`state changed under block apply (${failure.keys.length} item(s))`, {
        details: failure.keys.map((k) => describeKey(k.split('|')[1]!)).slice(0, 5).join('; '),
        hint: 'another writer modified state between this block’s execution and its apply: the block must be re-executed',
        cause: failure,
      })
    }
    if (failure !== undefined) throw failure
    return stats
  }

  /** Initial state (genesis or a replay pre-state): unconditional writes at `version`. */
  async seed(entries: Iterable<[StateKey, Uint8Array]>, version: Version): Promise<number> {
    const batch: { op: 'put'; item: Item }[] = []
    let n = 0
    for (const [key, value] of entries) {
      batch.push({ op: 'put', item: stateItem(key, value, version) })
      n++
      // Bounded memory for a large state; within a call the port batches in parallel.
      if (batch.length === SEED_OPS_PER_CALL) await this.kv.write(batch.splice(0))
    }
    if (batch.length > 0) await this.kv.write(batch)
    return n
  }
}

const SEED_OPS_PER_CALL = 2_000

/** State key ↔ compact bytes (20-byte account, 52-byte storage, 'w' + 20-byte wipe). */
export function encodeStateKey(key: StateKey): Uint8Array {
  if (key[0] === WIPE_PREFIX) {
    const out = new Uint8Array(21)
    out[0] = 0x77
    out.set(fromHex(key.slice(1)), 1)
    return out
  }
  return fromHex(key)
}

export function decodeStateKey(bytes: Uint8Array): StateKey {
  if (bytes.length === 21 && bytes[0] === 0x77) return WIPE_PREFIX + toHex(bytes.subarray(1))
  if (bytes.length !== 20 && bytes.length !== 52) throw new MalformedInputError(`not an encoded state key (${bytes.length} bytes)`)
  return toHex(bytes)
}
