/**
 * The auditor: after every simulated seed, the invariants of the issue, checked against what the
 * store really holds (read under the faults) and what the simulator saw commit:
 *   sequential    every sealed block equals sequential @ethereumjs/vm (receipts, gas, bloom, state root)
 *   stored-block  the store's block transactions and receipts are the sealed decision's
 *   exactly-once  every distinct input is included once, or rejected once with its reason
 *   unique-seal   no block number sealed twice or with two hashes
 *   chain         the head chain's parent hashes hold, the head is the last sealed block
 *   state-table   the state table holds every sealed write, and its trie root is the head's
 *   liveness      once faults stop, every input is accounted for within the bound
 * Each failure names the event of the trace where it first shows.
 */
import { fromHex, to0x } from '../hex.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { Records } from '../store/records.ts'
import { StateTable } from '../store/state-table.ts'
import { WIPE_PREFIX, type StateKey } from '../state/keys.ts'
import { WorldStateTrie } from '../trie/world-state.ts'
import { SequentialVerifier } from '../verify/sequential.ts'

import type { GenesisState } from '../chain/genesis.ts'
import type { SealedBlock } from '../coordinator/coordinator.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import type { SealJournal } from '../store/seal-journal.ts'
import type { SimWorld } from './world.ts'

export const INVARIANTS = ['sequential', 'stored-block', 'exactly-once', 'unique-seal', 'chain', 'state-table', 'liveness'] as const
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

  // unique-seal
  for (const [n, s] of observed.seals) {
    if (s.count > 1 || new Set(s.hashes).size > 1) {
      failures.push({ invariant: 'unique-seal', message: `block ${n} sealed ${s.count} times (hashes ${[...new Set(s.hashes)].join(', ')})`, event: s.event })
    }
  }

  // chain, and every sealed block has its journal
  let parentHash: string = to0x(genesis.hash)
  for (let n = 1n; n <= headNumber; n++) {
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
  for (const n of observed.seals.keys()) {
    if (BigInt(n) > headNumber) failures.push({ invariant: 'chain', message: `block ${n} was sealed above the head ${head.number}`, event: observed.seals.get(n)!.event })
  }

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
    const raws = await records.getBlockTxs(n, journal.record.txParts).catch((e: Error) => e)
    if (raws instanceof Error || raws.length !== journal.raws.length || raws.some((r, i) => to0x(r) !== to0x(journal.raws[i]!))) {
      failures.push({ invariant: 'stored-block', message: `block ${n}: the stored transactions are not the sealed decision's${raws instanceof Error ? ` (${raws.message})` : ''}`, event })
    }
    const stored = await records.getReceipts(journal.receipts.map((r) => r.txHash))
    journal.receipts.forEach((r, i) => {
      const s = stored[i]
      if (s === undefined || s.kind !== 'receipt' || JSON.stringify({ ...s, includedAtMs: 0 }) !== JSON.stringify({ ...r, includedAtMs: 0 })) {
        failures.push({ invariant: 'stored-block', message: `block ${n}: the stored record of ${r.txHash} is not its sealed receipt (${s === undefined ? 'missing' : s.kind === 'receipt' ? `block ${s.block} index ${s.index}` : `a rejection: ${s.code}`})`, event })
      }
    })
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

  // state-table: at each seal, and the whole table's root at the end
  failures.push(...observed.stateAtSeal)
  const expected = new Map<StateKey, Uint8Array | null>(genesis.entries)
  for (let n = 1n; n <= headNumber; n++) {
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
    const first = differing[0]
    const event = first === undefined ? undefined : (observed.dropped.get(first) ?? observed.lastStateWrite.get(first))
    failures.push({
      invariant: 'state-table',
      message: `the state table's trie root ${to0x(root)} is not the head's state root ${head.stateRoot} (block ${head.number})${first === undefined ? '' : `; first differing key ${first}: stored ${describeValue(loaded[keys.indexOf(first)]!.value)}, sealed ${describeValue(expected.get(first) ?? null)}`}`,
      event,
    })
  }
  return failures
}

function describeValue(v: Uint8Array | null): string {
  if (v === null) return 'absent'
  const hex = to0x(v)
  return hex.length > 26 ? `${hex.slice(0, 26)}…` : hex
}
