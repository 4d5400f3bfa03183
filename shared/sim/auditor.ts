/**
 * The auditor: after every simulated seed, the invariants of the issue, checked against what the
 * store really holds (read under the faults) and what the simulator saw commit:
 *   sequential    every sealed block equals sequential @ethereumjs/vm (receipts, gas, bloom, state root)
 *   header        replay mode: a sealed fixture block has the fixture header's fields and hash
 *                 (its state root: the reference's over the partial pre-state)
 *   stored-block  the store's block transactions and receipts are the sealed decision's
 *   exactly-once  every distinct input is included once, or rejected once with its reason
 *   unique-seal   no block number sealed twice or with two hashes
 *   chain         the head chain's parent hashes hold, the head is the last sealed block
 *   state-table   the state table holds every sealed write, and its trie root is the head's
 *   liveness      once faults stop, every input is accounted for within the bound
 * Each failure names the event of the trace where it first shows.
 */
import { createBlockHeader, createBlockHeaderFromRPC, type HeaderData } from '@ethereumjs/block'
import { KECCAK256_RLP_ARRAY_S } from '@ethereumjs/util'

import { createMainnetCommon } from '../chain/common.ts'
import { InvariantError } from '../errors.ts'
import { fromHex, to0x } from '../hex.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { Records } from '../store/records.ts'
import { StateTable } from '../store/state-table.ts'
import { WIPE_PREFIX, type StateKey } from '../state/keys.ts'
import { WorldStateTrie } from '../trie/world-state.ts'
import { compareWithHeader, describeReceipt, firstDifferingReceipt } from '../replay/compare.ts'
import { SequentialVerifier } from '../verify/sequential.ts'

import type { GenesisState } from '../chain/genesis.ts'
import type { SealedBlock } from '../coordinator/coordinator.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import type { ReplayFixture } from '../replay/fixture.ts'
import type { ReferenceResult } from '../replay/reference.ts'
import type { HeadRecord } from '../store/records.ts'
import type { SealJournal } from '../store/seal-journal.ts'
import type { SimWorld } from './world.ts'

export const INVARIANTS = ['sequential', 'header', 'stored-block', 'exactly-once', 'unique-seal', 'chain', 'state-table', 'liveness'] as const
export type Invariant = (typeof INVARIANTS)[number]

export interface AuditFailure {
  invariant: Invariant
  message: string
  /** A known engine bug (reported, with its own test): counted, but does not fail the seed. */
  known?: string
  /** Index of the first event of the trace where it shows. */
  event?: number | undefined
}

/** What the simulator observed while it ran. */
export interface Observations {
  /** Journals of sealed blocks, captured when their seal committed. */
  journals: Map<string, SealJournal>
  /** Seal commits per block number, with the event of the first. */
  seals: Map<string, { count: number; hashes: string[]; event: number }>
  /** Sealed writes missing from the state table right after their block's seal. */
  stateAtSeal: AuditFailure[]
  /** The last committed event that wrote each state key. */
  lastStateWrite: Map<string, number>
  /** Silently dropped writes (test hook), by key. */
  dropped: Map<string, number>
  /** Liveness failure found by the monitor, if any. */
  liveness?: AuditFailure
}

export interface AuditInput {
  world: SimWorld
  kv: KeyValueStore
  genesis: GenesisState
  /** Distinct raw inputs (0x-hex). */
  inputs: readonly string[]
  observed: Observations
}

/**
 * The ingress schema's test of a raw transaction (shared/pipeline/messages.ts): any string; intake
 * judges each transaction on its own (a bad one never takes a batch's others with it).
 */
export function envelopeAccepts(raw: string): boolean {
  return typeof raw === 'string'
}

/** The id of an input's record: intake names each input, well-formed or not (`inputId`). */
export function recordId(raw: string): string {
  return inputId(raw)
}

export function inputId(raw: string): string {
  const hex = raw.startsWith('0x') || raw.startsWith('0X') ? raw.slice(2) : raw
  // As intake names an input (shared/intake/decode.ts): the hash of its bytes, or of its text when it is not hex.
  const bytes = hex.length > 0 && hex.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(hex) ? fromHex(hex) : new TextEncoder().encode(raw)
  return to0x(keccak256(bytes))
}

export function sealedFromJournal(j: SealJournal): SealedBlock {
  return { record: j.record, head: j.head, env: j.env, raws: j.raws, receipts: j.receipts, rejections: j.rejections, report: j.report }
}

export async function audit(input: AuditInput): Promise<AuditFailure[]> {
  const { kv, genesis, observed, world } = input
  const failures: AuditFailure[] = []
  const records = new Records(kv)
  const head = (await records.getHead())!
  const headNumber = BigInt(head.number)
  if (observed.liveness !== undefined) failures.push(observed.liveness)
  failures.push(...checkSeals(observed, headNumber))
  failures.push(...(await checkChain(records, observed, { number: 0n, hash: to0x(genesis.hash) }, head)))

  // sequential, and the store holds the decision
  const verifier = await SequentialVerifier.fromGenesis(genesis)
  for (let n = 1n; n <= headNumber; n++) {
    const journal = observed.journals.get(n.toString())
    if (journal === undefined) break
    const event = observed.seals.get(n.toString())?.event
    const result = await verifier.verify(sealedFromJournal(journal))
    if (!result.ok) {
      failures.push({ invariant: 'sequential', message: `block ${n} differs from sequential @ethereumjs/vm: ${result.difference ?? 'unknown difference'}`, event })
      break
    }
    failures.push(...(await checkStoredBlock(records, journal, event)))
  }

  // exactly-once
  const included = new Map<string, string[]>()
  const rejectedAt = new Map<string, string[]>()
  for (const [n, j] of observed.journals) {
    for (const h of j.record.txHashes) included.set(h, [...(included.get(h) ?? []), n])
    for (const r of j.rejections) rejectedAt.set(r.id, [...(rejectedAt.get(r.id) ?? []), n])
  }
  const ids = input.inputs.map(recordId)
  const stored = await records.getReceipts(ids)
  const missing: string[] = []
  ids.forEach((id, i) => {
    const inc = included.get(id) ?? []
    const rej = rejectedAt.get(id) ?? []
    const eventOf = (n: string | undefined): number | undefined => (n === undefined ? undefined : observed.seals.get(n)?.event)
    if (inc.length > 1) failures.push({ invariant: 'exactly-once', message: `transaction ${id} (input ${i + 1}) was included in blocks ${inc.join(' and ')}`, event: eventOf(inc[1]) })
    if (inc.length > 0 && rej.length > 0) {
      const includedLater = BigInt(inc[0]!) > BigInt(rej[rej.length - 1]!)
      failures.push({
        invariant: 'exactly-once',
        message: `transaction ${id} (input ${i + 1}) was included in block ${inc.join(',')} and rejected at execution in block ${rej.join(',')}`,
        event: eventOf(includedLater ? inc[0] : rej[0]),
      })
    }
    if (rej.length > 1) failures.push({ invariant: 'exactly-once', message: `transaction ${id} (input ${i + 1}) was rejected at execution in blocks ${rej.join(' and ')}`, event: eventOf(rej[1]) })
    const record = stored[i]
    if (record === undefined) {
      missing.push(id)
      return
    }
    if (record.kind === 'receipt' && inc.length === 0) failures.push({ invariant: 'exactly-once', message: `transaction ${id} (input ${i + 1}) has a receipt for block ${record.block}, but no sealed block includes it` })
    if (record.kind === 'rejection' && inc.length > 0) failures.push({ invariant: 'exactly-once', message: `transaction ${id} (input ${i + 1}) is included in block ${inc[0]}, but its record is a rejection (${record.code})`, event: eventOf(inc[0]) })
    if (record.kind === 'rejection' && (record.code === undefined || record.reason === undefined || record.reason === '')) {
      failures.push({ invariant: 'exactly-once', message: `transaction ${id} (input ${i + 1}) is rejected without a reason` })
    }
  })
  if (missing.length > 0 && observed.liveness === undefined) {
    failures.push({ invariant: 'liveness', message: `${missing.length} of ${ids.length} inputs have neither a receipt nor a rejection: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}`, event: world.events.length - 1 })
  }

  failures.push(...(await checkStateTable(kv, observed, genesis.entries, 1n, head)))
  return failures
}

export interface ReplayAuditInput {
  world: SimWorld
  /** The store the block ran on (no faults). */
  kv: KeyValueStore
  fixture: ReplayFixture
  /** Sequential @ethereumjs/vm on the fixture's pre-state (shared/replay/reference.ts). */
  reference: ReferenceResult
  /** The parent as the store was seeded with it. */
  base: HeadRecord
  observed: Observations
}

/**
 * The auditor for a replayed fixture block: the usual invariants (one seal, the chain from the
 * fixture's parent, the stored block, the state table from the fixture's pre-state, liveness),
 * the block against sequential @ethereumjs/vm (every receipt, and the state root over the
 * partial pre-state), and against the fixture's header (see `checkReplayHeader`).
 */
export async function auditReplay(input: ReplayAuditInput): Promise<AuditFailure[]> {
  const { kv, fixture, reference, observed, base, world } = input
  const failures: AuditFailure[] = []
  const records = new Records(kv)
  const head = (await records.getHead())!
  const number = fixture.number
  const key = number.toString()
  if (observed.liveness !== undefined) failures.push(observed.liveness)
  failures.push(...checkSeals(observed, BigInt(head.number)))
  failures.push(...(await checkChain(records, observed, { number: BigInt(base.number), hash: base.hash }, head)))
  const journal = observed.journals.get(key)
  if (journal === undefined) {
    if (observed.liveness === undefined) failures.push({ invariant: 'liveness', message: `block ${number} was never sealed (head ${head.number})`, event: world.events.length - 1 })
    failures.push(...(await checkStateTable(kv, observed, fixture.preState.entries, number, head)))
    return failures
  }
  const event = observed.seals.get(key)?.event
  const sealed = sealedFromJournal(journal)

  failures.push(...checkReplaySequential(sealed, fixture, reference, event))
  failures.push(...checkReplayHeader(sealed, fixture, reference, event))
  failures.push(...(await checkStoredBlock(records, journal, event)))

  // exactly-once: the block's transactions, each included once, in the block's order.
  const want = fixture.txs.map((t) => t.hashHex)
  const got = journal.record.txHashes
  const firstDiff = want.findIndex((h, i) => got[i] !== h)
  if (got.length !== want.length || firstDiff >= 0) {
    failures.push({ invariant: 'exactly-once', message: `block ${number} includes ${got.length} transactions, the fixture has ${want.length}${firstDiff >= 0 ? `; the first that differs is at index ${firstDiff}: ${got[firstDiff] ?? 'none'}, not ${want[firstDiff]}` : ''}`, event })
  }
  if (journal.rejections.length > 0) {
    const r = journal.rejections[0]!
    failures.push({ invariant: 'exactly-once', message: `block ${number} rejected ${journal.rejections.length} of its transactions at execution (a real block has none): ${r.id} ${r.code}: ${r.reason}`, event })
  }
  const stored = await records.getReceipts(want)
  const unrecorded: string[] = []
  stored.forEach((record, i) => {
    if (record === undefined || record.kind !== 'receipt' || record.block !== key || record.index !== i) {
      unrecorded.push(`${want[i]} (index ${i}: ${record === undefined ? 'no record' : record.kind === 'receipt' ? `a receipt for block ${record.block} index ${record.index}` : `a rejection (${record.code})`})`)
    }
  })
  if (unrecorded.length > 0) {
    failures.push({ invariant: 'exactly-once', message: `block ${number}: ${unrecorded.length} of its ${want.length} transactions lack their receipt: ${listSome(unrecorded)}`, event })
  }

  failures.push(...(await checkStateTable(kv, observed, fixture.preState.entries, number, head)))
  return failures
}

/**
 * sequential, for a replayed block: every receipt equals the one sequential @ethereumjs/vm gives
 * on the same pre-state (status, cumulative gas, logs, bloom: the encoded receipt), and so does
 * the state root over that partial pre-state.
 */
export function checkReplaySequential(sealed: SealedBlock, fixture: ReplayFixture, reference: ReferenceResult, event: number | undefined): AuditFailure[] {
  const number = fixture.number
  const difference = firstDifferingReceipt(sealed, fixture, reference)
  if (difference !== undefined) {
    return [
      {
        invariant: 'sequential',
        message: `block ${number} differs from sequential @ethereumjs/vm at receipt ${difference.index} (${difference.txHash}): engine ${describeReceipt(difference.engine)}, reference ${describeReceipt(difference.reference)}`,
        event,
      },
    ]
  }
  if (sealed.head.stateRoot !== reference.stateRoot) {
    return [{ invariant: 'sequential', message: `block ${number}: state root ${sealed.head.stateRoot} over the fixture's pre-state, sequential @ethereumjs/vm ${reference.stateRoot}`, event }]
  }
  return []
}

/**
 * header: the sealed header against the fixture's, field by field, and the block hash. The state
 * root over a partial pre-state cannot be mainnet's: the expected header is the fixture's with
 * the sequential reference's state root (and, where the block has ommers, the empty ommers hash:
 * the JSON gives their hashes only, so replay does not carry them). Every other field, and so
 * the hash of the whole header, must be what the engine sealed.
 */
export function checkReplayHeader(sealed: SealedBlock, fixture: ReplayFixture, reference: ReferenceResult, event: number | undefined): AuditFailure[] {
  const failures: AuditFailure[] = []
  const number = fixture.number
  const comparison = compareWithHeader(sealed, fixture)
  const fields = (['receiptsRoot', 'gasUsed', 'logsBloom', 'transactionsRoot', 'withdrawalsRoot'] as const).filter((f) => comparison[f] !== undefined && !comparison[f].ok)
  if (fields.length > 0) {
    failures.push({ invariant: 'header', message: `block ${number}: ${fields.map((f) => `${f} ${String(comparison[f]!.engine)}, header ${String(comparison[f]!.header)}`).join('; ')}`, event })
  }
  const expected = expectedReplayHeader(fixture, reference.stateRoot)
  const engine = sealed.record.header
  const differing = Object.keys(expected.json).filter((k) => String(engine[k] ?? '').toLowerCase() !== String(expected.json[k]).toLowerCase())
  if (differing.length > 0 || sealed.record.hash !== expected.hash) {
    failures.push({
      invariant: 'header',
      message: `block ${number}: sealed hash ${sealed.record.hash}, expected ${expected.hash} (the fixture's header with the reference's state root)${differing.length === 0 ? '' : `; differing fields: ${differing.map((k) => `${k} ${engine[k] ?? 'absent'} (expected ${expected.json[k]})`).join(', ')}`}`,
      event,
    })
  }
  return failures
}

/** The header a replayed block must seal: the fixture's, its state root over the partial pre-state. */
export function expectedReplayHeader(fixture: ReplayFixture, stateRoot: string): { json: Record<string, string>; hash: string } {
  const common = createMainnetCommon(fixture.number, BigInt(fixture.block.timestamp))
  const opts = { common, setHardfork: false, skipConsensusFormatValidation: true }
  const original = createBlockHeaderFromRPC(fixture.block as never, opts)
  if (to0x(original.hash()) !== fixture.block.hash.toLowerCase()) {
    throw new InvariantError(`fixture ${fixture.number}: its header fields hash to ${to0x(original.hash())}, not the block's hash ${fixture.block.hash}`)
  }
  const data = { ...original.toJSON(), stateRoot: stateRoot as `0x${string}`, ...(fixture.block.uncles.length > 0 ? { uncleHash: KECCAK256_RLP_ARRAY_S } : {}) }
  const header = createBlockHeader(data as HeaderData, opts)
  return { json: header.toJSON() as Record<string, string>, hash: to0x(header.hash()) }
}

/** unique-seal: no block number sealed twice or with two hashes, none above the head. */
export function checkSeals(observed: Observations, headNumber: bigint): AuditFailure[] {
  const failures: AuditFailure[] = []
  for (const [n, s] of observed.seals) {
    if (s.count > 1 || new Set(s.hashes).size > 1) {
      failures.push({ invariant: 'unique-seal', message: `block ${n} sealed ${s.count} times (hashes ${[...new Set(s.hashes)].join(', ')})`, event: s.event })
    }
    if (BigInt(n) > headNumber) failures.push({ invariant: 'chain', message: `block ${n} was sealed above the head ${headNumber}`, event: s.event })
  }
  return failures
}

/**
 * chain: from the base block (genesis, or a replayed block's parent) to the head, every block
 * has its record, its parent's hash, and the journal the simulator saw at its seal.
 */
export async function checkChain(records: Records, observed: Observations, base: { number: bigint; hash: string }, head: HeadRecord): Promise<AuditFailure[]> {
  const failures: AuditFailure[] = []
  const headNumber = BigInt(head.number)
  let parentHash = base.hash
  for (let n = base.number + 1n; n <= headNumber; n++) {
    const record = await records.getBlock(n)
    const seal = observed.seals.get(n.toString())
    if (record === undefined) {
      failures.push({ invariant: 'chain', message: `block ${n} is below the head ${headNumber} but has no record`, event: seal?.event })
      break
    }
    if (record.header.parentHash !== parentHash) {
      failures.push({ invariant: 'chain', message: `block ${n}: parent hash ${record.header.parentHash}, but block ${n - 1n} is ${parentHash}`, event: seal?.event })
    }
    parentHash = record.hash
    const journal = observed.journals.get(n.toString())
    if (journal === undefined) {
      failures.push({ invariant: 'chain', message: `block ${n} is sealed but the simulator saw no seal journal for it`, event: seal?.event })
    } else if (journal.record.hash !== record.hash) {
      failures.push({ invariant: 'unique-seal', message: `block ${n}: stored hash ${record.hash}, journaled decision ${journal.record.hash}`, event: seal?.event })
    }
  }
  if (head.hash !== parentHash) failures.push({ invariant: 'chain', message: `the head ${head.number} has hash ${head.hash}, its block record ${parentHash}` })
  return failures
}

/** stored-block: the store's block transactions and receipts are the sealed decision's. */
export async function checkStoredBlock(records: Records, journal: SealJournal, event: number | undefined): Promise<AuditFailure[]> {
  const failures: AuditFailure[] = []
  const n = journal.record.number
  const raws = await records.getBlockTxs(BigInt(n), journal.record.txParts).catch((e: Error) => e)
  if (raws instanceof Error || raws.length !== journal.raws.length || raws.some((r, i) => to0x(r) !== to0x(journal.raws[i]!))) {
    failures.push({ invariant: 'stored-block', message: `block ${n}: the stored transactions are not the sealed decision's${raws instanceof Error ? ` (${raws.message})` : ''}`, event })
  }
  const stored = await records.getReceipts(journal.receipts.map((r) => r.txHash))
  const wrong: string[] = []
  journal.receipts.forEach((r, i) => {
    const s = stored[i]
    if (s === undefined || s.kind !== 'receipt' || JSON.stringify({ ...s, includedAtMs: 0 }) !== JSON.stringify({ ...r, includedAtMs: 0 })) {
      wrong.push(`${r.txHash} (${s === undefined ? 'missing' : s.kind === 'receipt' ? `block ${s.block} index ${s.index}` : `a rejection: ${s.code}`})`)
    }
  })
  if (wrong.length > 0) {
    failures.push({ invariant: 'stored-block', message: `block ${n}: the stored records of ${wrong.length} of its ${journal.receipts.length} transactions are not their sealed receipts: ${listSome(wrong)}`, event })
  }
  return failures
}

/**
 * state-table: every sealed write was in the table at its seal (observed), and the whole table
 * (the base state, then the writes of blocks `first`..head) has the head's state root.
 */
export async function checkStateTable(kv: KeyValueStore, observed: Observations, base: Iterable<readonly [StateKey, Uint8Array | null]>, first: bigint, head: HeadRecord): Promise<AuditFailure[]> {
  const failures: AuditFailure[] = [...observed.stateAtSeal]
  const expected = new Map<StateKey, Uint8Array | null>(base)
  for (let n = first; n <= BigInt(head.number); n++) {
    for (const w of observed.journals.get(n.toString())?.writes ?? []) expected.set(w.key, w.value)
  }
  const keys = [...expected.keys()].filter((k) => k[0] !== WIPE_PREFIX)
  const loaded = await new StateTable(kv).load(keys)
  const trie = new WorldStateTrie()
  const { root } = trie.apply(keys.map((k, i) => [k, loaded[i]!.value] as const))
  if (to0x(root) !== head.stateRoot) {
    const differing = keys.filter((k, i) => {
      const want = expected.get(k) ?? null
      const got = loaded[i]!.value
      return want === null ? got !== null : got === null || to0x(got) !== to0x(want)
    })
    const firstKey = differing[0]
    const event = firstKey === undefined ? undefined : (observed.dropped.get(firstKey) ?? observed.lastStateWrite.get(firstKey))
    failures.push({
      invariant: 'state-table',
      message: `the state table's trie root ${to0x(root)} is not the head's state root ${head.stateRoot} (block ${head.number})${firstKey === undefined ? '' : `; first differing key ${firstKey}: stored ${describeValue(loaded[keys.indexOf(firstKey)]!.value)}, sealed ${describeValue(expected.get(firstKey) ?? null)}`}`,
      event,
    })
  }
  return failures
}

/** The first few of a list, and how many more. */
function listSome(items: readonly string[], shown = 3): string {
  return `${items.slice(0, shown).join(', ')}${items.length > shown ? `, … (${items.length - shown} more)` : ''}`
}

function describeValue(v: Uint8Array | null): string {
  if (v === null) return 'absent'
  const hex = to0x(v)
  return hex.length > 26 ? `${hex.slice(0, 26)}…` : hex
}
