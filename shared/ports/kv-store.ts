/**
 * The key-value store port: what the engine needs from DynamoDB, and no more.
 *
 * Items live in named tables under (pk, sk) and carry opaque bytes and a numeric version.
 * `transact` has the semantics and limits of DynamoDB TransactWriteItems: all-or-nothing,
 * at most 100 operations and 4 MB, each operation optionally conditional; a failed condition
 * cancels everything and reports, per operation, whether its condition failed.
 * The in-process implementation enforces the same limits, so code that works on it fits AWS.
 */
export const TABLE_NAMES = [
  /** Flat state: accounts, storage slots, wipe markers (pk = state key). */
  'state',
  /** Contract code by hash. */
  'code',
  /** Sealed block headers and bodies (pk = number). */
  'blocks',
  /** Block plans written by the sequencer: header fields, transactions, shard assignment. */
  'plans',
  /** Workers' staged shard results (pk = block, sk = shard and part). */
  'staged',
  /** Receipts and rejection records by transaction hash. */
  'receipts',
  /** Chain head, sequencer cursor and other singletons. */
  'meta',
  /** Trie nodes by hash (for a coordinator that starts cold). */
  'trie',
] as const
export type TableName = (typeof TABLE_NAMES)[number]

export interface ItemKey {
  table: TableName
  pk: string
  sk: string
}

export interface Item extends ItemKey {
  value: Uint8Array
  version: number
}

/**
 * - absent: no item under the key;
 * - version: the item exists with one of these versions, or (orAbsent) does not exist.
 */
export type Condition = { kind: 'absent' } | { kind: 'version'; oneOf: readonly number[]; orAbsent?: boolean }

export type WriteOp =
  | { op: 'put'; item: Item; condition?: Condition }
  | { op: 'delete'; key: ItemKey; condition?: Condition }
  | { op: 'check'; key: ItemKey; condition: Condition }

export type UnconditionalOp = { op: 'put'; item: Item } | { op: 'delete'; key: ItemKey }

export interface QueryOptions {
  /** Only items whose sort key starts with this. */
  skPrefix?: string
  /** At most this many items (bounded; default 1,000). */
  limit?: number
  /** Continue after this sort key (from a previous page's `next`). */
  after?: string
  /**
   * Keys and versions only: each item comes back with an empty value (DynamoDB: a projection
   * of the key and version attributes). For finding items to delete without reading them.
   */
  keysOnly?: boolean
}

export interface QueryPage {
  items: Item[]
  /** Present when more items may follow. */
  next?: string
}

export interface KeyValueStore {
  /** Read any number of items (batched 100 at a time by adapters); order preserved. */
  get(keys: readonly ItemKey[]): Promise<(Item | undefined)[]>
  /**
   * Atomic conditional write: throws ConditionFailedError or ThrottledError, changes nothing then.
   * Here and in `write`, a written value's bytes are never changed afterwards by the caller
   * (DynamoDB has serialized them; the in-process store keeps them).
   */
  transact(ops: readonly WriteOp[]): Promise<void>
  /** Unconditional writes, not atomic as a whole (batched 25 at a time by adapters). */
  write(ops: readonly UnconditionalOp[]): Promise<void>
  /** Items of one partition in sort-key order. */
  query(table: TableName, pk: string, options?: QueryOptions): Promise<QueryPage>
}

export const STORE_LIMITS = {
  transactOps: 100,
  transactBytes: 4 * 1024 * 1024,
  itemBytes: 400 * 1024,
  queryLimitMax: 1000,
} as const

/** Approximate DynamoDB item size: attribute names plus values. */
export function itemSize(item: Item): number {
  return item.pk.length + item.sk.length + item.value.length + 8 + 16
}

export function keyString(key: ItemKey): string {
  return `${key.table}|${key.pk}|${key.sk}`
}

/** A store that passes every call on to another; a wrapper overrides the calls it changes. */
export class ForwardingKeyValueStore implements KeyValueStore {
  constructor(protected inner: KeyValueStore) {}

  get(keys: readonly ItemKey[]): Promise<(Item | undefined)[]> {
    return this.inner.get(keys)
  }

  transact(ops: readonly WriteOp[]): Promise<void> {
    return this.inner.transact(ops)
  }

  write(ops: readonly UnconditionalOp[]): Promise<void> {
    return this.inner.write(ops)
  }

  query(table: TableName, pk: string, options?: QueryOptions): Promise<QueryPage> {
    return this.inner.query(table, pk, options)
  }
}
