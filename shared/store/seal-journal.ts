/**
 * The seal journal: the coordinator's decision about a block, stored before any of it is
 * applied. A coordinator that dies between applying a block's state writes and sealing it
 * leaves state that already holds the block; re-deriving the block from that state would be
 * wrong (fees credited twice, a wrong root). With the journal, a retry finds the decision and
 * only finishes it: the writes are idempotent by version, the seal is conditional.
 *
 * Layout in the plans table (dropped with the block's other work after sealing); A is the
 * attempt's random id, so that two attempts racing for one block never overwrite each other's
 * parts (the meta names the winner's):
 *   plans / N / journal                 meta (small JSON), written last and only if absent: the commit point
 *   plans / N / journal#A#record#0      the block record and rejections (JSON; spans items in big blocks)
 *   plans / N / journal#A#writes#K      net state writes with block-start versions (binary)
 *   plans / N / journal#A#codes#K       new contract code (binary)
 *   plans / N / journal#A#raws#K        included transactions in order (binary)
 *   plans / N / journal#A#receipts#K    receipts (JSON; their block hash is the record's, filled in when read)
 */
import { randomBytes } from 'node:crypto'

import { ConditionFailedError, InvariantError, MalformedInputError } from '../errors.ts'
import { BinaryReader, BinaryWriter } from '../pipeline/binary.ts'
import { chunkBySize, PartsBySize } from '../pipeline/codec.ts'
import { joinSpan, PART_BYTES_MAX, spanItems, type HeadRecord, type ReceiptRecord, type SealedBlockRecord } from './records.ts'

import type { BlockReport } from '../coordinator/coordinator.ts'
import type { BlockEnv } from '../exec/block-env.ts'
import type { Rejection } from '../intake/rejection.ts'
import type { KeyValueStore, UnconditionalOp } from '../ports/kv-store.ts'
import type { StateWrite } from './state-table.ts'

export interface SealJournal {
  record: SealedBlockRecord
  head: HeadRecord
  env: BlockEnv
  writes: StateWrite[]
  codes: [string, Uint8Array][]
  raws: Uint8Array[]
  receipts: ReceiptRecord[]
  rejections: Rejection[]
  report: BlockReport
  /** Each receipt as JSON with the block's hash, once made (by assemble, or `putSealJournal`): the receipt records reuse it. Not stored. */
  receiptJson?: string[]
}

interface JournalMeta {
  v: 2
  attempt: string
  head: HeadRecord
  env: BlockEnv
  report: Omit<BlockReport, 'block' | 'gasUsed'> & { block: string; gasUsed: string }
  parts: JournalBody['parts']
}

/** What grows with the block's transaction count, apart from the meta. */
interface JournalRecord {
  record: SealedBlockRecord
  rejections: Rejection[]
}

const enc = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))
const dec = <T>(bytes: Uint8Array): T => JSON.parse(new TextDecoder().decode(bytes)) as T

/** First byte of binary parts: never the span marker (0x00) of spanned items. */
const FORMAT = 0x4a

function encodeWrites(writes: readonly StateWrite[]): Uint8Array {
  const w = new BinaryWriter(writes.length * 96 + 8)
  w.u8(FORMAT)
  w.uint(writes.length)
  for (const x of writes) {
    w.key(x.key)
    w.value(x.value)
    w.uint(x.version)
    w.uint(x.baseVersion)
  }
  return w.finish()
}

function decodeWrites(bytes: Uint8Array): StateWrite[] {
  const r = new BinaryReader(bytes)
  expectFormat(r)
  const out: StateWrite[] = new Array(r.uint())
  for (let i = 0; i < out.length; i++) {
    const key = r.key()
    const value = r.value()
    const version = r.uint()
    out[i] = { key, value, version, baseVersion: r.uint() }
  }
  return out
}

function encodeBlobs(items: readonly Uint8Array[], labels?: readonly string[]): Uint8Array {
  const w = new BinaryWriter(items.reduce((s, b) => s + b.length + 40, 8))
  w.u8(FORMAT)
  w.uint(items.length)
  items.forEach((b, i) => {
    if (labels !== undefined) w.text(labels[i]!)
    w.bytes(b)
  })
  return w.finish()
}

function decodeBlobs(bytes: Uint8Array, labelled: boolean): { labels: string[]; items: Uint8Array[] } {
  const r = new BinaryReader(bytes)
  expectFormat(r)
  const n = r.uint()
  const labels: string[] = []
  const items: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    if (labelled) labels.push(r.text())
    items.push(r.bytes().slice())
  }
  return { labels, items }
}

function expectFormat(r: BinaryReader): void {
  if (r.u8() !== FORMAT) throw new MalformedInputError('malformed seal journal part')
}

const key = (block: string, sk: string) => ({ table: 'plans' as const, pk: block, sk })

/** The parts of a decision that do not depend on its header, stored under an attempt before the rest (`putSealJournalBody`). */
export interface JournalBody {
  attempt: string
  parts: { writes: number; codes: number; raws: number; receipts: number }
}

/**
 * What the body is made of: the receipts as JSON, made before the header is known (their
 * `blockHash` empty, or any: the reader puts in the record's). `made`: the transactions' and
 * receipts' parts made already, as they settled (`raws` and `receiptJson` are then not read).
 */
export type BodyInput = Pick<SealJournal, 'writes' | 'codes' | 'raws'> & { receiptJson: readonly string[]; made?: BodyParts }

/**
 * The transactions' and receipts' parts of a journal body, made one transaction at a time as a
 * block settles (while its later shards execute, not after the last one): the same parts
 * `putSealJournalBody` makes from the whole lists.
 */
export class BodyParts {
  private readonly raws = new PartsBySize<Uint8Array>((r) => r.length + 8, PART_BYTES_MAX, (chunk) => encodeBlobs(chunk))
  // Each receipt was stringified once: a part is those strings joined as a JSON array.
  private readonly receipts = new PartsBySize<string>((r) => r.length + 2, PART_BYTES_MAX, (chunk) => new TextEncoder().encode(`[${chunk.join(',')}]`))
  private count = 0

  /** The next transaction in block order, with its receipt's JSON. */
  add(raw: Uint8Array, receiptJson: string): void {
    this.raws.add(raw)
    this.receipts.add(receiptJson)
    this.count++
  }

  /** Transactions added so far. */
  get added(): number {
    return this.count
  }

  finish(): { raws: Uint8Array[]; receipts: Uint8Array[] } {
    return { raws: this.raws.finish(), receipts: this.receipts.finish() }
  }
}

type PartsSink = (kind: string, parts: readonly Uint8Array[]) => void

function partsCollector(block: string, attempt: string, ops: UnconditionalOp[]): PartsSink {
  return (kind, parts) => {
    // A part over one item (a transaction with megabytes of logs) spans items.
    parts.forEach((value, k) => {
      for (const item of spanItems(key(block, `journal#${attempt}#${kind}#${k}`), value, 0)) ops.push({ op: 'put', item })
    })
  }
}

function addBody(add: PartsSink, body: BodyInput): JournalBody['parts'] {
  const writeParts = chunkBySize(body.writes, (w) => 120 + (w.value?.length ?? 0), PART_BYTES_MAX).map(encodeWrites)
  const codeParts = chunkBySize(body.codes, ([, c]) => c.length + 80, PART_BYTES_MAX).map((chunk) => encodeBlobs(chunk.map(([, c]) => c), chunk.map(([h]) => h)))
  let made = body.made
  if (made === undefined) {
    if (body.receiptJson.length !== body.raws.length) throw new InvariantError(`a journal body of ${body.raws.length} transactions and ${body.receiptJson.length} receipts`)
    made = new BodyParts()
    body.raws.forEach((raw, i) => made!.add(raw, body.receiptJson[i]!))
  }
  if (made.added !== body.raws.length) throw new InvariantError(`a journal body of ${body.raws.length} transactions, with parts made for ${made.added}`)
  const { raws: rawParts, receipts: receiptParts } = made.finish()
  add('writes', writeParts)
  add('codes', codeParts)
  add('raws', rawParts)
  add('receipts', receiptParts)
  return { writes: writeParts.length, codes: codeParts.length, raws: rawParts.length, receipts: receiptParts.length }
}

/**
 * Store the state writes, code, transactions and receipts of a decision before its header is
 * known (while the state root is computed), under a fresh attempt; `putSealJournal` with the
 * returned body stores the rest and commits. Parts of an attempt that never commits are dropped
 * with the block's other work.
 */
export async function putSealJournalBody(kv: KeyValueStore, block: bigint | string, body: BodyInput): Promise<JournalBody> {
  const attempt = randomBytes(6).toString('hex')
  const ops: UnconditionalOp[] = []
  const parts = addBody(partsCollector(BigInt(block).toString(), attempt, ops), body)
  await kv.write(ops)
  return { attempt, parts }
}

/**
 * Store the decision (parts, then the meta if absent). False if another attempt stored one
 * first. `body`: its writes, code, transactions and receipts stored already (`putSealJournalBody`).
 */
export async function putSealJournal(kv: KeyValueStore, j: SealJournal, body?: JournalBody): Promise<boolean> {
  const block = j.record.number
  const attempt = body?.attempt ?? randomBytes(6).toString('hex')
  const ops: UnconditionalOp[] = []
  const add = partsCollector(block, attempt, ops)
  const parts = body?.parts ?? addBody(add, { ...j, receiptJson: (j.receiptJson ??= j.receipts.map((r) => JSON.stringify(r))) })
  add('record', [enc({ record: j.record, rejections: j.rejections } satisfies JournalRecord)])
  // One call: the port batches (25 an AWS call) and sends the batches in parallel.
  await kv.write(ops)
  const meta: JournalMeta = {
    v: 2,
    attempt,
    head: j.head,
    env: j.env,
    report: { ...j.report, block: j.report.block.toString(), gasUsed: j.report.gasUsed.toString() },
    parts,
  }
  try {
    await kv.transact([{ op: 'put', item: { ...key(block, 'journal'), value: enc(meta), version: 0 }, condition: { kind: 'absent' } }])
    return true
  } catch (error) {
    if (error instanceof ConditionFailedError) return false
    throw error
  }
}

export async function getSealJournal(kv: KeyValueStore, block: bigint | string): Promise<SealJournal | undefined> {
  const number = BigInt(block).toString()
  const [head] = await kv.get([key(number, 'journal')])
  if (head === undefined) return undefined
  const meta = dec<JournalMeta>(head.value)
  if (meta.v !== 2) throw new MalformedInputError(`seal journal of block ${number} has format ${String(meta.v)}; this version reads 2`)
  const load = async (kind: string, count: number): Promise<Uint8Array[]> => {
    const items = await kv.get(Array.from({ length: count }, (_, k) => key(number, `journal#${meta.attempt}#${kind}#${k}`)))
    return Promise.all(
      items.map((item, k) => {
        if (item === undefined) throw new InvariantError(`seal journal of block ${number} is missing ${kind} part ${k}`)
        return joinSpan(kv, item)
      }),
    )
  }
  const writes = (await load('writes', meta.parts.writes)).flatMap(decodeWrites)
  const codes: [string, Uint8Array][] = (await load('codes', meta.parts.codes)).flatMap((part) => {
    const { labels, items } = decodeBlobs(part, true)
    return items.map((c, i) => [labels[i]!, c] as [string, Uint8Array])
  })
  const raws = (await load('raws', meta.parts.raws)).flatMap((part) => decodeBlobs(part, false).items)
  const receipts = (await load('receipts', meta.parts.receipts)).flatMap((part) => dec<ReceiptRecord[]>(part))
  const { record, rejections } = dec<JournalRecord>((await load('record', 1))[0]!)
  for (const receipt of receipts) receipt.blockHash = record.hash
  return {
    record,
    head: meta.head,
    env: meta.env,
    writes,
    codes,
    raws,
    receipts,
    rejections,
    report: { ...meta.report, block: BigInt(meta.report.block), gasUsed: BigInt(meta.report.gasUsed) },
  }
}

/** Keys of a block's journal items (for cleanup after sealing). */
export async function journalItemKeys(kv: KeyValueStore, block: bigint | string): Promise<{ table: 'plans'; pk: string; sk: string }[]> {
  const number = BigInt(block).toString()
  const page = await kv.query('plans', number, { skPrefix: 'journal' })
  return page.items.map((i) => key(number, i.sk))
}
