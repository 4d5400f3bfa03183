/**
 * In-process KeyValueStore with DynamoDB's semantics and limits: all-or-nothing conditional
 * transactions of at most 100 operations and 4 MB, items of at most 400 KB, one operation per
 * item per transaction, and sorted queries within a partition.
 */
import { ConditionFailedError, LimitError } from '../../errors.ts'
import {
  STORE_LIMITS,
  itemSize,
  keyString,
  type Condition,
  type Item,
  type ItemKey,
  type KeyValueStore,
  type QueryOptions,
  type QueryPage,
  type TableName,
  type UnconditionalOp,
  type WriteOp,
} from '../kv-store.ts'

/** The value of every item a keys-only query returns (empty: nothing can be written into it). */
const NO_VALUE = new Uint8Array(0)

function copyItem(item: Item): Item {
  return { table: item.table, pk: item.pk, sk: item.sk, value: item.value.slice(), version: item.version }
}

/**
 * An item as the store keeps it. A value that is a whole buffer of its own is kept as it is: a
 * written value's bytes never change afterwards (the port's contract), and a copy per item was
 * most of a block's receipt and state writes here (an allocation each, and the collections
 * they bring on in a large heap). A view into a larger buffer (a field read out of a staged
 * result) is copied, so that the store never keeps the larger buffer alive. Reads hand out copies.
 */
function keptItem(item: Item): Item {
  const v = item.value
  const value = v.byteOffset === 0 && v.byteLength === v.buffer.byteLength ? v : v.slice()
  return { table: item.table, pk: item.pk, sk: item.sk, value, version: item.version }
}

function holds(condition: Condition | undefined, current: Item | undefined): boolean {
  if (condition === undefined) return true
  if (condition.kind === 'absent') return current === undefined
  if (current === undefined) return condition.orAbsent === true
  return condition.oneOf.includes(current.version)
}

function checkItem(item: Item): void {
  const size = itemSize(item)
  if (size > STORE_LIMITS.itemBytes) {
    throw new LimitError(`item ${keyString(item)} is ${size} bytes, over the ${STORE_LIMITS.itemBytes}-byte item limit`)
  }
}

export class MemoryKeyValueStore implements KeyValueStore {
  /** table → pk → sk → item */
  private readonly tables = new Map<TableName, Map<string, Map<string, Item>>>()
  readonly stats = { gets: 0, transacts: 0, writes: 0, queries: 0, itemsRead: 0, itemsWritten: 0 }

  private partition(table: TableName, pk: string, create: boolean): Map<string, Item> | undefined {
    let t = this.tables.get(table)
    if (t === undefined) {
      if (!create) return undefined
      t = new Map()
      this.tables.set(table, t)
    }
    let p = t.get(pk)
    if (p === undefined && create) {
      p = new Map()
      t.set(pk, p)
    }
    return p
  }

  private read(key: ItemKey): Item | undefined {
    return this.partition(key.table, key.pk, false)?.get(key.sk)
  }

  private putItem(item: Item): void {
    this.partition(item.table, item.pk, true)!.set(item.sk, keptItem(item))
  }

  private deleteItem(key: ItemKey): void {
    const p = this.partition(key.table, key.pk, false)
    if (p === undefined) return
    p.delete(key.sk)
    if (p.size === 0) this.tables.get(key.table)!.delete(key.pk)
  }

  async get(keys: readonly ItemKey[]): Promise<(Item | undefined)[]> {
    this.stats.gets++
    this.stats.itemsRead += keys.length
    return keys.map((key) => {
      const item = this.read(key)
      return item === undefined ? undefined : copyItem(item)
    })
  }

  async transact(ops: readonly WriteOp[]): Promise<void> {
    if (ops.length === 0) return
    if (ops.length > STORE_LIMITS.transactOps) {
      throw new LimitError(`transaction of ${ops.length} operations exceeds the limit of ${STORE_LIMITS.transactOps}`)
    }
    let bytes = 0
    const seen = new Set<string>()
    for (const op of ops) {
      const key = op.op === 'put' ? op.item : op.key
      const id = keyString(key)
      if (seen.has(id)) throw new LimitError(`transaction touches ${id} twice (DynamoDB forbids this)`)
      seen.add(id)
      if (op.op === 'put') {
        checkItem(op.item)
        bytes += itemSize(op.item)
      }
    }
    if (bytes > STORE_LIMITS.transactBytes) {
      throw new LimitError(`transaction of ${bytes} bytes exceeds the ${STORE_LIMITS.transactBytes}-byte limit`)
    }
    const failed: string[] = []
    for (const op of ops) {
      const key = op.op === 'put' ? op.item : op.key
      if (!holds(op.condition, this.read(key))) failed.push(keyString(key))
    }
    if (failed.length > 0) throw new ConditionFailedError(failed)
    this.stats.transacts++
    for (const op of ops) {
      if (op.op === 'put') this.putItem(op.item)
      else if (op.op === 'delete') this.deleteItem(op.key)
    }
    this.stats.itemsWritten += ops.length
  }

  async write(ops: readonly UnconditionalOp[]): Promise<void> {
    this.stats.writes++
    for (const op of ops) {
      if (op.op === 'put') {
        checkItem(op.item)
        this.putItem(op.item)
      } else {
        this.deleteItem(op.key)
      }
    }
    this.stats.itemsWritten += ops.length
  }

  async query(table: TableName, pk: string, options: QueryOptions = {}): Promise<QueryPage> {
    this.stats.queries++
    const limit = Math.min(options.limit ?? STORE_LIMITS.queryLimitMax, STORE_LIMITS.queryLimitMax)
    const p = this.partition(table, pk, false)
    if (p === undefined) return { items: [] }
    const sks = [...p.keys()].sort()
    const items: Item[] = []
    for (const sk of sks) {
      if (options.skPrefix !== undefined && !sk.startsWith(options.skPrefix)) continue
      if (options.after !== undefined && sk <= options.after) continue
      if (items.length === limit) return { items, next: items[items.length - 1]!.sk }
      const item = p.get(sk)!
      items.push(options.keysOnly === true ? { table: item.table, pk: item.pk, sk: item.sk, value: NO_VALUE, version: item.version } : copyItem(item))
    }
    return { items }
  }

  /** Number of items in a table (tests and reports). */
  count(table: TableName): number {
    let n = 0
    for (const p of this.tables.get(table)?.values() ?? []) n += p.size
    return n
  }
}
