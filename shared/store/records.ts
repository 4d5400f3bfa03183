/**
 * The pipeline's records in the key-value store, each written so that a retry changes
 * nothing: plans (the sequencer), staged shard results (workers), shard progress, sealed
 * blocks and the chain head (the coordinator), receipts and rejection records.
 *
 * Layout (table / pk / sk):
 *   plans    / N          / meta              plan header (JSON), written last: the commit point
 *   plans    / N          / shard#S#K         shard S's transactions, part K (RLP)
 *   staged   / N          / shard#S#K         shard S's results, part K (RLP), put-if-absent
 *   meta     / progress#N / shard#S           a worker finished shard S (put-if-absent)
 *   meta     / head       / -                 the chain head (version = head number)
 *   blocks   / N          / header            the sealed block (JSON), put-if-absent
 *   blocks   / N          / txs#K             its transactions, part K (RLP of raw txs)
 *   receipts / 0xhash     / -                 a receipt or a rejection record (JSON)
 *
 * A staged part or a receipt larger than one item spans items (`spanItems`): its head under the
 * key above, continuations under `<sk>~1`, `<sk>~2`, ... (a block whose transaction logs 10,000
 * events has a result of 1.5 MB).
 */
import { RLP } from '@ethereumjs/rlp'

import { ConditionFailedError, InvariantError } from '../errors.ts'
import { concatBytes } from '../hex.ts'
import { encodeBytesList } from '../trie/rlp.ts'
import { STORE_LIMITS, type Item, type KeyValueStore, type TableName, type UnconditionalOp, type WriteOp } from '../ports/kv-store.ts'

import type { Rejection } from '../intake/rejection.ts'
import type { BlockEnv, ChainSpec } from '../exec/block-env.ts'

const enc = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
const TEXT = new TextDecoder()
const decBytes = <T>(value: Uint8Array): T => JSON.parse(TEXT.decode(value)) as T
const dec = <T>(item: Item): T => decBytes<T>(item.value)
const bn = (n: bigint | number | string): string => BigInt(n).toString()

/** The head record's key. */
const HEAD_KEY = { table: 'meta', pk: 'head', sk: '-' } as const
/** A block's plan meta. */
const planMetaKey = (block: bigint | string) => ({ table: 'plans', pk: bn(block), sk: 'meta' }) as const
/** A shard's first staged part: present once the shard is staged (parts are put together). */
const firstStagedPartKey = (block: bigint | string, shard: number) => ({ table: 'staged', pk: bn(block), sk: `shard#${shard}#0` }) as const

/** Part size under DynamoDB's 400 KB item limit with room for keys and attributes. */
export const PART_BYTES_MAX = 350 * 1024

export interface PlanMeta {
  v: 1
  block: string
  /**
   * This plan's id: its parts are stored under it, so two sequencers racing for one block never
   * overwrite each other's parts; the meta's conditional put decides which plan stands.
   */
  planId: string
  chain: ChainSpec
  env: BlockEnv
  /** Number of parts of each shard. */
  shardParts: number[]
  txCount: number
  /** Hashes of recent blocks for BLOCKHASH (number → 0x-hash). */
  blockHashes: Record<string, string>
  /**
   * Planned while its parent was settled but not sealed (shared/cluster/pipeline.ts): the env's
   * parent hash is zero and `blockHashes` end at the grandparent until the coordinator fills them
   * in from the sealed parent (`resolvePendingParent`); a worker's BLOCKHASH of the parent is
   * marked for re-execution.
   */
  parentPending?: true
  /** Sequencer statistics for the block report. */
  stats: PlanStats
  createdAtMs: number
}

export interface PlanStats {
  groups: number
  largestGroupGas: number
  totalGas: number
  templated: number
  intakeMs: number
  predictMs: number
  partitionMs: number
  /** Predicted keys per transaction (index-aligned), for the accuracy report. */
  predictedKeys: number
  /** Pre-execution of calls no template covered (shared/predict/speculate.ts), before predictMs. */
  speculateMs?: number
  /** Calls it executed. */
  speculatedCalls?: number
  /**
   * The intake threads' work within `intakeMs` (decoding, sender recovery, hashing, checks: the
   * part more intake threads shorten): the busiest thread's and all threads' together.
   */
  intakeThreadMsMax?: number
  intakeThreadMsSum?: number
}

export interface HeadRecord {
  number: string
  hash: string
  stateRoot: string
  timestamp: string
  gasLimit: string
  gasUsed: string
  difficulty: string
  baseFeePerGas?: string
  excessBlobGas?: string
  blobGasUsed?: string
  /** Hashes of the last 256 blocks up to and including this one (number → 0x-hash), for BLOCKHASH. */
  recentHashes: Record<string, string>
  /**
   * Only on a pending head (never stored): a block settled but not sealed yet, on which the next
   * block is planned (shared/cluster/pipeline.ts). Its `hash` and `stateRoot` are not known
   * (zero), and `recentHashes` end at its parent.
   */
  pending?: true
}

export interface SealedBlockRecord {
  number: string
  hash: string
  header: Record<string, string>
  txHashes: string[]
  txParts: number
  rejected: string[]
  stats: Record<string, number | string>
  sealedAtMs: number
}

export interface LogRecord {
  address: string
  topics: string[]
  data: string
}

export interface ReceiptRecord {
  kind: 'receipt'
  txHash: string
  block: string
  blockHash: string
  index: number
  from: string
  to: string | null
  contractAddress: string | null
  status: 0 | 1
  cumulativeGasUsed: string
  gasUsed: string
  effectiveGasPrice: string
  logsBloom: string
  logs: LogRecord[]
  type: number
  blobGasUsed?: string
  includedAtMs: number
}

export type ReceiptOrRejection = ReceiptRecord | ({ kind: 'rejection' } & Rejection)

/**
 * Values larger than one item (DynamoDB: 400 KB) span items: the head item under the key holds
 * 0x00, the number of items (4 bytes, big-endian) and the first chunk; continuation i under
 * `<sk>~i`. The values spanned here (RLP lists, JSON objects) never start with 0x00.
 */
const SPAN_MARKER = 0x00
const SPAN_HEADER_BYTES = 5
export const ITEM_VALUE_MAX = PART_BYTES_MAX

export function spanItems(key: { table: TableName; pk: string; sk: string }, value: Uint8Array, version: number): Item[] {
  // Fields spelled out, not spread: a block writes thousands of these (a spread costs ~10x).
  if (value.length <= ITEM_VALUE_MAX) return [{ table: key.table, pk: key.pk, sk: key.sk, value, version }]
  const first = ITEM_VALUE_MAX - SPAN_HEADER_BYTES
  const count = 1 + Math.ceil((value.length - first) / ITEM_VALUE_MAX)
  const head = new Uint8Array(SPAN_HEADER_BYTES + first)
  head[0] = SPAN_MARKER
  new DataView(head.buffer).setUint32(1, count)
  head.set(value.subarray(0, first), SPAN_HEADER_BYTES)
  const items: Item[] = [{ table: key.table, pk: key.pk, sk: key.sk, value: head, version }]
  for (let i = 1, offset = first; offset < value.length; i++, offset += ITEM_VALUE_MAX) {
    items.push({ table: key.table, pk: key.pk, sk: `${key.sk}~${i}`, value: value.slice(offset, offset + ITEM_VALUE_MAX), version })
  }
  return items
}

function spanCount(value: Uint8Array): number | undefined {
  if (value.length < SPAN_HEADER_BYTES || value[0] !== SPAN_MARKER) return undefined
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(1)
}

/** The whole value of an item written by `spanItems` (its own value if it does not span). */
export async function joinSpan(kv: KeyValueStore, head: Item): Promise<Uint8Array> {
  const count = spanCount(head.value)
  if (count === undefined) return head.value
  const keys = Array.from({ length: count - 1 }, (_, i) => ({ table: head.table, pk: head.pk, sk: `${head.sk}~${i + 1}` }))
  const rest = await kv.get(keys)
  const chunks = [head.value.subarray(SPAN_HEADER_BYTES)]
  rest.forEach((item, i) => {
    if (item === undefined) throw new InvariantError(`item ${head.table}/${head.pk}/${head.sk} is missing its continuation ${i + 1} of ${count - 1}`)
    chunks.push(item.value)
  })
  return concatBytes(...chunks)
}

function planPartKey(planId: string, shard: number, part: number): string {
  return `plan#${planId}#shard#${shard}#${part}`
}

export class Records {
  constructor(private readonly kv: KeyValueStore) {}

  // ----- plans ---------------------------------------------------------------------------

  /**
   * Parts first, meta last (the commit point). False if a plan for this block exists, or if the
   * head is no longer the block's parent: a sequencer whose head read went stale (the block was
   * sealed and its plan cleaned up meanwhile) must not store a plan that nothing will ever seal
   * (found by the simulator, seed 5362: 26 transactions acknowledged into a dead plan).
   */
  async putPlan(meta: PlanMeta, shardParts: Uint8Array[][]): Promise<boolean> {
    if ((await this.getPlanMeta(meta.block)) !== undefined) return false
    const ops: UnconditionalOp[] = []
    shardParts.forEach((parts, shard) =>
      parts.forEach((value, part) => {
        ops.push({ op: 'put', item: { table: 'plans', pk: meta.block, sk: planPartKey(meta.planId, shard, part), value, version: 0 } })
      }),
    )
    await this.writeAll(ops)
    try {
      await this.kv.transact([
        { op: 'put', item: { ...planMetaKey(meta.block), value: enc(meta), version: 0 }, condition: { kind: 'absent' } },
        // The head is the block's parent; or, for a plan on a pending parent, the grandparent
        // (the parent settled, sealing) or already the parent.
        { op: 'check', key: HEAD_KEY, condition: { kind: 'version', oneOf: meta.parentPending === true ? [Number(meta.block) - 2, Number(meta.block) - 1] : [Number(meta.block) - 1] } },
      ])
    } catch (error) {
      if (error instanceof ConditionFailedError) return false
      throw error
    }
    return true
  }

  async getPlanMeta(block: bigint | string): Promise<PlanMeta | undefined> {
    const [item] = await this.kv.get([planMetaKey(block)])
    return item === undefined ? undefined : dec<PlanMeta>(item)
  }

  async getShardPlanParts(meta: PlanMeta, shard: number): Promise<Uint8Array[]> {
    const parts = meta.shardParts[shard]
    if (parts === undefined) throw new InvariantError(`plan of block ${meta.block} has no shard ${shard}`)
    const keys = Array.from({ length: parts }, (_, k) => ({ table: 'plans' as const, pk: meta.block, sk: planPartKey(meta.planId, shard, k) }))
    const items = await this.kv.get(keys)
    return items.map((item, k) => {
      if (item === undefined) throw new InvariantError(`plan of block ${meta.block} is missing shard ${shard} part ${k}`)
      return item.value
    })
  }


  // ----- staged results ------------------------------------------------------------------

  /** Put-if-absent for every part. Returns false if this shard was already staged. */
  async stage(block: bigint | string, shard: number, parts: Uint8Array[]): Promise<boolean> {
    // A part larger than an item (one transaction's result can be: 10,000 logs) spans items;
    // continuations first and part 0's head last, so that head means the shard is complete.
    const spans = parts.map((value, k) => spanItems({ table: 'staged', pk: bn(block), sk: `shard#${shard}#${k}` }, value, 0))
    const items = [...spans.flatMap((span) => span.slice(1)), ...spans.map((span) => span[0]!).reverse()]
    const ops: WriteOp[] = items.map((item) => ({ op: 'put', item, condition: { kind: 'absent' } }))
    const total = items.reduce((s, i) => s + i.value.length, 0)
    try {
      if (ops.length <= STORE_LIMITS.transactOps && total <= STORE_LIMITS.transactBytes - 64 * 1024) {
        await this.kv.transact(ops)
        return true
      }
      // Too large for one transaction: part by part. Results are deterministic, so a part
      // already written by an earlier delivery holds the same bytes.
      let fresh = false
      for (const op of ops) {
        try {
          await this.kv.transact([op])
          fresh = true
        } catch (error) {
          if (!(error instanceof ConditionFailedError)) throw error
        }
      }
      return fresh
    } catch (error) {
      if (error instanceof ConditionFailedError) return false
      throw error
    }
  }

  /**
   * What a worker reads before it executes a shard, in one batch: the head, the block's plan
   * meta, and whether the shard is staged already (its first part).
   */
  async shardStart(block: bigint | string, shard: number): Promise<{ head: HeadRecord | undefined; meta: PlanMeta | undefined; staged: boolean }> {
    const [head, meta, staged] = await this.kv.get([HEAD_KEY, planMetaKey(block), firstStagedPartKey(block, shard)])
    return { head: head === undefined ? undefined : dec<HeadRecord>(head), meta: meta === undefined ? undefined : dec<PlanMeta>(meta), staged: staged !== undefined }
  }

  async isStaged(block: bigint | string, shard: number): Promise<boolean> {
    const [item] = await this.kv.get([firstStagedPartKey(block, shard)])
    return item !== undefined
  }

  /**
   * How many parts a shard's staged results have (undefined if not completely staged): what a
   * worker reports when it finds its shard staged by an earlier delivery.
   */
  async stagedPartCount(block: bigint | string, shard: number): Promise<number | undefined> {
    if (!(await this.isStaged(block, shard))) return undefined
    let count = 0
    let after: string | undefined
    for (let page = 0; page < 1000; page++) {
      const result = await this.kv.query('staged', bn(block), { skPrefix: `shard#${shard}#`, ...(after === undefined ? {} : { after }) })
      for (const item of result.items) if (!item.sk.includes('~')) count++
      if (result.next === undefined) break
      after = result.next
    }
    return count
  }

  async getStaged(block: bigint | string, shard: number, parts: number): Promise<Uint8Array[]> {
    const keys = Array.from({ length: parts }, (_, k) => ({ table: 'staged' as const, pk: bn(block), sk: `shard#${shard}#${k}` }))
    const items = await this.kv.get(keys)
    return Promise.all(
      items.map((item, k) => {
        if (item === undefined) throw new InvariantError(`staged results of block ${bn(block)} shard ${shard} part ${k} are missing`)
        return this.joinSpan(item)
      }),
    )
  }

  // ----- progress --------------------------------------------------------------------------

  async markShardDone(block: bigint | string, shard: number, parts: number, timings: Record<string, number>): Promise<void> {
    try {
      await this.kv.transact([
        {
          op: 'put',
          item: { table: 'meta', pk: `progress#${bn(block)}`, sk: `shard#${shard}`, value: enc({ parts, timings }), version: 0 },
          condition: { kind: 'absent' },
        },
      ])
    } catch (error) {
      if (!(error instanceof ConditionFailedError)) throw error
    }
  }

  async doneShards(block: bigint | string): Promise<Map<number, { parts: number; timings: Record<string, number> }>> {
    const out = new Map<number, { parts: number; timings: Record<string, number> }>()
    let after: string | undefined
    for (let page = 0; page < 100; page++) {
      const result = await this.kv.query('meta', `progress#${bn(block)}`, after === undefined ? {} : { after })
      for (const item of result.items) out.set(Number(item.sk.split('#')[1]), dec(item))
      if (result.next === undefined) break
      after = result.next
    }
    return out
  }

  // ----- head and blocks -------------------------------------------------------------------

  async getHead(): Promise<HeadRecord | undefined> {
    const [item] = await this.kv.get([HEAD_KEY])
    return item === undefined ? undefined : dec<HeadRecord>(item)
  }

  async getBlock(number: bigint | string): Promise<SealedBlockRecord | undefined> {
    const [item] = await this.kv.get([{ table: 'blocks', pk: bn(number), sk: 'header' }])
    return item === undefined ? undefined : decBytes<SealedBlockRecord>(await this.joinSpan(item))
  }

  async getBlockTxs(number: bigint | string, parts: number): Promise<Uint8Array[]> {
    const keys = Array.from({ length: parts }, (_, k) => ({ table: 'blocks' as const, pk: bn(number), sk: `txs#${k}` }))
    const out: Uint8Array[] = []
    for (const item of await this.kv.get(keys)) {
      if (item === undefined) throw new InvariantError(`transactions of block ${bn(number)} are incomplete in the store`)
      out.push(...(RLP.decode(item.value) as Uint8Array[]))
    }
    return out
  }

  /** The genesis head (no condition beyond absence). */
  async putGenesis(block: SealedBlockRecord, head: HeadRecord): Promise<void> {
    await this.kv.transact([
      { op: 'put', item: { table: 'blocks', pk: '0', sk: 'header', value: enc(block), version: 0 }, condition: { kind: 'absent' } },
      { op: 'put', item: { ...HEAD_KEY, value: enc(head), version: 0 }, condition: { kind: 'absent' } },
    ])
  }

  /**
   * A chain that starts at block `head.number` instead of a genesis (replay of a real block
   * from its pre-state): that block's record and the head, at the version `seal` of the next
   * block expects. Only into an empty store.
   */
  async putBaseHead(block: SealedBlockRecord, head: HeadRecord): Promise<void> {
    if (block.number !== head.number) throw new InvariantError(`base block ${block.number} and head ${head.number} differ`)
    await this.kv.transact([
      { op: 'put', item: { table: 'blocks', pk: block.number, sk: 'header', value: enc(block), version: 0 }, condition: { kind: 'absent' } },
      { op: 'put', item: { ...HEAD_KEY, value: enc(head), version: Number(head.number) }, condition: { kind: 'absent' } },
    ])
  }

  /**
   * Seal: the block record (if absent) and the head moving from its parent, in one
   * transaction, after the block's transactions are stored. A second seal of the same
   * number is refused (returns false).
   */
  async seal(block: SealedBlockRecord, head: HeadRecord, rawTxParts: Uint8Array[][]): Promise<boolean> {
    // A big block's record (its transaction hashes: 10,000 of them are about 700 KB) spans
    // items; the continuations go first, with the transactions, and the head item commits.
    // Every attempt writes the same record (it comes from the block's seal journal).
    const [header, ...continuations] = spanItems({ table: 'blocks', pk: block.number, sk: 'header' }, enc(block), 0)
    await this.writeAll([
      ...rawTxParts.map((txs, k) => ({
        op: 'put' as const,
        item: { table: 'blocks' as const, pk: block.number, sk: `txs#${k}`, value: encodeBytesList(txs), version: 0 },
      })),
      ...continuations.map((item) => ({ op: 'put' as const, item })),
    ])
    const parent = Number(block.number) - 1
    try {
      await this.kv.transact([
        { op: 'put', item: header!, condition: { kind: 'absent' } },
        {
          op: 'put',
          item: { ...HEAD_KEY, value: enc(head), version: Number(block.number) },
          condition: { kind: 'version', oneOf: [parent] },
        },
      ])
      return true
    } catch (error) {
      if (error instanceof ConditionFailedError) return false
      throw error
    }
  }

  // ----- receipts and rejections -----------------------------------------------------------

  /** `json`: each receipt's JSON where it is made already (the seal journal's). */
  async putReceipts(receipts: readonly ReceiptRecord[], json?: readonly string[]): Promise<void> {
    const encoder = new TextEncoder()
    // A receipt larger than an item spans items (continuations first, the head last).
    await this.writeAll(
      receipts.flatMap((r, i) => {
        const value = json === undefined ? enc(r) : encoder.encode(json[i])
        const [head, ...rest] = spanItems({ table: 'receipts', pk: r.txHash, sk: '-' }, value, 1)
        return [...rest, head!].map((item) => ({ op: 'put' as const, item }))
      }),
    )
  }

  /** A rejection never overwrites a receipt (a duplicate delivery of an included tx). */
  async putRejection(rejection: Rejection): Promise<boolean> {
    try {
      await this.kv.transact([
        {
          op: 'put',
          item: { table: 'receipts', pk: rejection.id, sk: '-', value: enc({ kind: 'rejection', ...rejection }), version: 0 },
          condition: { kind: 'version', oneOf: [0], orAbsent: true },
        },
      ])
      return true
    } catch (error) {
      if (error instanceof ConditionFailedError) return false
      throw error
    }
  }

  async getReceipts(ids: readonly string[]): Promise<(ReceiptOrRejection | undefined)[]> {
    const items = await this.kv.get(ids.map((id) => ({ table: 'receipts' as const, pk: id, sk: '-' })))
    return Promise.all(
      items.map(async (item) => (item === undefined ? undefined : decBytes<ReceiptOrRejection>(await this.joinSpan(item)))),
    )
  }

  // ----- cleanup ---------------------------------------------------------------------------

  /** Drop a sealed block's plan, staged results and progress markers (best effort). */
  async dropBlockWork(block: bigint | string, meta: PlanMeta): Promise<void> {
    const ops: UnconditionalOp[] = []
    meta.shardParts.forEach((_parts, shard) => {
      ops.push({ op: 'delete', key: { table: 'meta', pk: `progress#${bn(block)}`, sk: `shard#${shard}` } })
    })
    // Everything under the block in the plans table: the meta, every plan's parts (a losing
    // sequencer's too), the seal journal.
    let after: string | undefined
    for (let page = 0; page < 1000; page++) {
      const items = await this.kv.query('plans', bn(block), after === undefined ? { keysOnly: true } : { after, keysOnly: true })
      for (const item of items.items) ops.push({ op: 'delete', key: { table: 'plans', pk: item.pk, sk: item.sk } })
      if (items.next === undefined) break
      after = items.next
    }
    await this.writeAll(ops)
    for (let shard = 0; shard < meta.shardParts.length; shard++) {
      const staged = await this.kv.query('staged', bn(block), { skPrefix: `shard#${shard}#`, keysOnly: true })
      await this.writeAll(staged.items.map((i) => ({ op: 'delete' as const, key: { table: i.table, pk: i.pk, sk: i.sk } })))
    }
  }

  /** The whole value of an item written by `spanItems` (its own value if it does not span). */
  private joinSpan(head: Item): Promise<Uint8Array> {
    return joinSpan(this.kv, head)
  }

  /** One call: the port batches (25 an AWS call) and sends the batches in parallel. */
  private async writeAll(ops: readonly UnconditionalOp[]): Promise<void> {
    await this.kv.write(ops)
  }
}
