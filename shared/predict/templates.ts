/**
 * Access templates learned from executed transactions, per (contract, selector).
 *
 * A template says, for each state key a call touched, how to compute that key from the call:
 * the account or the slot is a constant, the caller, the contract itself, or a 32-byte word of
 * the calldata, optionally hashed as a Solidity mapping (`keccak(key . slot)`) or a mapping of
 * mappings. An ERC20 `transfer(to, amount)` learns "balances[caller]" and "balances[arg0]";
 * a pool's `swap` learns its reserves (constants) and the token balances and allowances it
 * moves. Keys a template cannot explain become constants; a wrong template shows up as a
 * misprediction (a validation failure, never a wrong result) and is re-learned.
 */
import { keccak256 } from '../crypto/keccak.ts'
import { fromHex, toHex } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH, STORAGE_KEY_LENGTH, WIPE_PREFIX, type AddressHex, type StateKey } from '../state/keys.ts'
import { decodeAccount } from '../state/values.ts'

export type Source = { k: 'caller' } | { k: 'self' } | { k: 'arg'; i: number } | { k: 'const'; hex: string }

export type SlotTemplate =
  | { kind: 'const'; slot: string }
  | { kind: 'map'; key: Source; base: number }
  | { kind: 'map2'; outer: Source; inner: Source; base: number }

export interface KeyTemplate {
  address: Source
  /** Absent for an account key. */
  slot?: SlotTemplate
  write: boolean
}

export interface Template {
  entries: KeyTemplate[]
  /** Transactions predicted with this template, and those whose access it did not cover. */
  uses: number
  misses: number
  /** Mean gas of the calls seen (for shard balancing). */
  gasMean: number
}

/** What a prediction or a lesson needs to know of a call. */
export interface CallShape {
  caller: string
  to: string
  data: Uint8Array
}

export const MAX_TEMPLATE_ENTRIES = 96
const MAP_BASES = 64
const MAP2_BASES = 16
const MAX_ARGS = 8

function pad32(hex: string): Uint8Array {
  const out = new Uint8Array(32)
  const bytes = fromHex(hex)
  out.set(bytes.subarray(Math.max(0, bytes.length - 32)), 32 - Math.min(32, bytes.length))
  return out
}

function u256(n: number): Uint8Array {
  const out = new Uint8Array(32)
  new DataView(out.buffer).setUint32(28, n)
  return out
}

function mapSlotBytes(key: Uint8Array, base: Uint8Array): Uint8Array {
  const buf = new Uint8Array(64)
  buf.set(key, 0)
  buf.set(base, 32)
  return keccak256(buf)
}

function mapSlot(key: Uint8Array, base: Uint8Array): string {
  return toHex(mapSlotBytes(key, base))
}

function argWord(data: Uint8Array, i: number): Uint8Array | undefined {
  const start = 4 + i * 32
  if (data.length < start + 32) return undefined
  return data.subarray(start, start + 32)
}

function resolveWord(source: Source, call: CallShape): Uint8Array | undefined {
  switch (source.k) {
    case 'caller':
      return pad32(call.caller)
    case 'self':
      return pad32(call.to)
    case 'arg':
      return argWord(call.data, source.i)
    case 'const':
      return pad32(source.hex)
  }
}

function resolveAddress(source: Source, call: CallShape): string | undefined {
  const word = resolveWord(source, call)
  if (word === undefined) return undefined
  if (source.k === 'arg' && word.subarray(0, 12).some((b) => b !== 0)) return undefined
  return toHex(word.subarray(12))
}

export function selectorOf(data: Uint8Array): string {
  return data.length >= 4 ? toHex(data.subarray(0, 4)) : ''
}

/**
 * Candidate sources for a 32-byte word: caller, the contract, each argument word, each distinct
 * word once (the first source that has it). A repeated word (a zero argument, the caller passed
 * as an argument) would hash to slots an earlier candidate already explains, and the first
 * candidate wins: dropping it changes no explanation and saves its hashes.
 */
function wordCandidates(call: CallShape): { source: Source; word: Uint8Array }[] {
  const out: { source: Source; word: Uint8Array }[] = []
  const seen = new Set<string>()
  const add = (source: Source, word: Uint8Array): void => {
    const hex = toHex(word)
    if (seen.has(hex)) return
    seen.add(hex)
    out.push({ source, word })
  }
  add({ k: 'caller' }, pad32(call.caller))
  add({ k: 'self' }, pad32(call.to))
  for (let i = 0; i < MAX_ARGS; i++) {
    const word = argWord(call.data, i)
    if (word === undefined) break
    add({ k: 'arg', i }, word)
  }
  return out
}

function explainAddress(address: string, call: CallShape): Source {
  if (address === call.caller) return { k: 'caller' }
  if (address === call.to) return { k: 'self' }
  for (let i = 0; i < MAX_ARGS; i++) {
    const word = argWord(call.data, i)
    if (word === undefined) break
    if (word.subarray(0, 12).every((b) => b === 0) && toHex(word.subarray(12)) === address) return { k: 'arg', i }
  }
  return { k: 'const', hex: address }
}

const BASES = Array.from({ length: MAP_BASES }, (_, b) => u256(b))

/**
 * The mapping slots a call's candidate words can address, computed once per learned call (not
 * once per slot) and lazily, one base at a time, cheap layers first: a `map` base costs one hash
 * per candidate, a `map2` base one per pair of candidates. A slot is explained as soon as a
 * computed layer holds it, so an ERC20 balance (a low base) costs a few hashes, not the hundreds
 * that every base of both kinds would. The answer is the one an eager computation gives: a slot
 * has one base (keccak does not collide), and within a base the first candidate wins.
 */
class SlotExplainer {
  private readonly found = new Map<string, SlotTemplate>()
  /** Next layer: `map` base `k >> 1` for even k, `map2` base `k >> 1` for odd k below 2 x MAP2_BASES. */
  private layer = 0

  constructor(private readonly candidates: { source: Source; word: Uint8Array }[]) {}

  explain(slot: string): SlotTemplate {
    // Small literal slots are plain state variables.
    if (/^0{56}/.test(slot)) return { kind: 'const', slot }
    for (;;) {
      const hit = this.found.get(slot)
      if (hit !== undefined) return hit
      if (!this.nextLayer()) return { kind: 'const', slot }
    }
  }

  /** Compute the next layer of slots; false when every layer is computed. */
  private nextLayer(): boolean {
    const k = this.layer
    if (k >= 2 * MAP2_BASES + (MAP_BASES - MAP2_BASES)) return false
    this.layer++
    if (k >= 2 * MAP2_BASES) {
      this.addMap(k - MAP2_BASES)
    } else if (k % 2 === 0) {
      this.addMap(k >> 1)
    } else {
      this.addMap2(k >> 1)
    }
    return true
  }

  private addMap(b: number): void {
    for (const c of this.candidates) {
      const s = toHex(mapSlotBytes(c.word, BASES[b]!))
      if (!this.found.has(s)) this.found.set(s, { kind: 'map', key: c.source, base: b })
    }
  }

  private addMap2(b: number): void {
    for (const outer of this.candidates) {
      const innerBase = mapSlotBytes(outer.word, BASES[b]!)
      for (const inner of this.candidates) {
        const s = toHex(mapSlotBytes(inner.word, innerBase))
        if (!this.found.has(s)) this.found.set(s, { kind: 'map2', outer: outer.source, inner: inner.source, base: b })
      }
    }
  }
}

function entryId(e: KeyTemplate): string {
  return JSON.stringify([e.address, e.slot ?? null])
}

export class TemplateRegistry {
  private readonly templates = new Map<string, Template>()
  private readonly counts = { learned: 0, relearned: 0 }
  /** Lessons queued by `learnLater`, in order; applied before anything reads the templates. */
  private readonly lessons: (() => void)[] = []
  private lessonsScheduled = false

  /**
   * Code hashes of contracts seen (their executions, the sequencer's loads), and per (code hash,
   * selector) a template merged from every contract with that code (the union of their
   * entries, bounded): a call to another contract with the same code (another pool of the same
   * AMM, another instance of a token) is predicted from it until it has a template of its own.
   * Not persisted (`toJSON`): advice only.
   */
  private readonly codeHashOf = new Map<AddressHex, string>()
  private readonly byCode = new Map<string, Template>()
  /** Changes whenever a prediction could change (a template learned or loaded, a code hash learned, a clear). */
  private changes = 0

  /** A template's id: the contract (or code hash) and the selector. */
  static id(to: string, selector: string): string {
    return `${to}:${selector}`
  }

  /** The id of the template a call would be learned into: its contract and selector. */
  static idOf(call: CallShape): string {
    return TemplateRegistry.id(call.to, selectorOf(call.data))
  }

  /** Record the code hash of a contract (hex without 0x), for predictions by code. */
  knowCode(address: AddressHex, codeHash: string): void {
    if (this.codeHashOf.get(address) === codeHash) return
    this.codeHashOf.set(address, codeHash)
    this.changes++
  }

  /**
   * A number that changes whenever a prediction could (queued lessons applied first): a
   * prediction made at one version holds while the version is the same.
   */
  get version(): number {
    this.applyLessons()
    return this.changes
  }

  /** Is this contract's code hash known? */
  knowsCode(address: AddressHex): boolean {
    return this.codeHashOf.has(address)
  }

  /** Does this contract's code have a template for this selector (its own, or its code's)? */
  hasTemplate(to: string, data: Uint8Array): boolean {
    return this.get(to, data) !== undefined
  }

  /** Templates learned and relearned so far (queued lessons applied first). */
  get stats(): { learned: number; relearned: number } {
    this.applyLessons()
    return this.counts
  }

  /** The template of a call: the contract's own, else one learned on another contract with the same code. */
  get(to: string, data: Uint8Array): Template | undefined {
    this.applyLessons()
    const selector = selectorOf(data)
    const own = this.templates.get(TemplateRegistry.id(to, selector))
    if (own !== undefined) return own
    const codeHash = this.codeHashOf.get(to)
    return codeHash === undefined ? undefined : this.byCode.get(TemplateRegistry.id(codeHash, selector))
  }

  get size(): number {
    this.applyLessons()
    return this.templates.size
  }

  /**
   * Learn off the critical path: `lesson` (calls to `learn`) runs when this thread is next idle
   * (the event loop's check phase: e.g. while the workers execute the next block), or before
   * anything reads the templates, whichever comes first. So every read sees every lesson queued
   * before it, in order, exactly as if they had run at once: only the time they run moves.
   */
  learnLater(lesson: () => void): void {
    this.lessons.push(lesson)
    if (this.lessonsScheduled) return
    this.lessonsScheduled = true
    setImmediate(() => {
      this.lessonsScheduled = false
      this.applyLessons()
    })
  }

  /** Run the queued lessons now (a read does this itself). */
  applyLessons(): void {
    if (this.applying) return
    this.applying = true
    try {
      while (this.lessons.length > 0) this.lessons.shift()!()
    } finally {
      this.applying = false
    }
  }

  /** Forget every template and queued lesson (the benchmark's cold runs). */
  clear(): void {
    this.lessons.length = 0
    this.templates.clear()
    this.byCode.clear()
    this.codeHashOf.clear()
    this.changes++
  }

  /** A lesson is running (its own `learn` calls must not start the next one). */
  private applying = false

  /** Keys predicted by the template for this call (reads, and writes flagged). */
  predict(call: CallShape): { keys: StateKey[]; writes: StateKey[]; gas: number } | undefined {
    const template = this.get(call.to, call.data)
    if (template === undefined) return undefined
    template.uses++
    const { keys, writes } = this.resolve(template, call)
    return { keys: [...keys], writes: [...writes], gas: template.gasMean }
  }

  private resolveSlot(slot: SlotTemplate, call: CallShape): string | undefined {
    if (slot.kind === 'const') return slot.slot
    if (slot.kind === 'map') {
      const key = resolveWord(slot.key, call)
      return key === undefined ? undefined : mapSlot(key, u256(slot.base))
    }
    const outer = resolveWord(slot.outer, call)
    const inner = resolveWord(slot.inner, call)
    if (outer === undefined || inner === undefined) return undefined
    return mapSlot(inner, fromHex(mapSlot(outer, u256(slot.base))))
  }

  /**
   * Learn from an executed call: `reads` and `writes` are its actual keys (beneficiary and
   * wipe markers excluded). Keys already explained by the template are skipped; new ones are
   * explained and added (bounded).
   */
  learn(call: CallShape, reads: Iterable<StateKey>, writes: Iterable<StateKey>, gasUsed: number): void {
    this.applyLessons()
    const id = TemplateRegistry.idOf(call)
    let template = this.templates.get(id)
    const predicted = template === undefined ? undefined : this.resolve(template, call)
    const writeSet = new Set(writes)
    const all = new Set([...reads, ...writeSet])
    let missed = false
    if (predicted !== undefined) {
      for (const key of all) {
        if (!predicted.keys.has(key) || (writeSet.has(key) && !predicted.writes.has(key))) {
          missed = true
          break
        }
      }
      if (!missed) {
        template!.gasMean += (gasUsed - template!.gasMean) / Math.min(template!.uses + 1, 64)
        this.changes++
        return
      }
      template!.misses++
      this.counts.relearned++
    } else {
      this.counts.learned++
    }
    template ??= { entries: [], uses: 0, misses: 0, gasMean: gasUsed }
    const known = new Map(template.entries.map((e) => [entryId(e), e]))
    const explainer = new SlotExplainer(wordCandidates(call))
    for (const key of all) {
      if (predicted?.keys.has(key) === true && (!writeSet.has(key) || predicted.writes.has(key))) continue
      const entry = this.explain(key, call, explainer, writeSet.has(key))
      if (entry === undefined) continue
      const existing = known.get(entryId(entry))
      if (existing !== undefined) {
        existing.write ||= entry.write
        continue
      }
      if (known.size >= MAX_TEMPLATE_ENTRIES) break
      known.set(entryId(entry), entry)
    }
    template.entries = [...known.values()]
    this.templates.set(id, template)
    this.changes++
    const codeHash = this.codeHashOf.get(call.to)
    if (codeHash !== undefined) this.mergeIntoCode(TemplateRegistry.id(codeHash, selectorOf(call.data)), template)
  }

  /** Add a contract's template entries to its code's template (entries that are new, bounded). */
  private mergeIntoCode(codeId: string, template: Template): void {
    let merged = this.byCode.get(codeId)
    if (merged === undefined) {
      merged = { entries: [], uses: 0, misses: 0, gasMean: template.gasMean }
      this.byCode.set(codeId, merged)
    }
    const known = new Map(merged.entries.map((e) => [entryId(e), e]))
    for (const entry of template.entries) {
      const existing = known.get(entryId(entry))
      if (existing !== undefined) existing.write ||= entry.write
      else if (known.size < MAX_TEMPLATE_ENTRIES) known.set(entryId(entry), { ...entry })
    }
    merged.entries = [...known.values()]
    merged.gasMean = Math.max(merged.gasMean, template.gasMean)
  }

  private explain(key: StateKey, call: CallShape, explainer: SlotExplainer, write: boolean): KeyTemplate | undefined {
    if (key.length === ACCOUNT_KEY_LENGTH) return { address: explainAddress(key, call), write }
    if (key.length !== STORAGE_KEY_LENGTH) return undefined
    const address = explainAddress(key.slice(0, ACCOUNT_KEY_LENGTH), call)
    return { address, slot: explainer.explain(key.slice(ACCOUNT_KEY_LENGTH)), write }
  }

  private resolve(template: Template, call: CallShape): { keys: Set<StateKey>; writes: Set<StateKey> } {
    const keys = new Set<StateKey>()
    const writes = new Set<StateKey>()
    for (const entry of template.entries) {
      const address = resolveAddress(entry.address, call)
      if (address === undefined) continue
      let key: StateKey = address
      if (entry.slot !== undefined) {
        const slot = this.resolveSlot(entry.slot, call)
        if (slot === undefined) continue
        key = address + slot
      }
      keys.add(key)
      if (entry.write) writes.add(key)
    }
    return { keys, writes }
  }

  /** Serializable form (to persist between Lambda invocations). */
  toJSON(): Record<string, Template> {
    this.applyLessons()
    return Object.fromEntries(this.templates)
  }

  /**
   * Take the templates of `data` (a registry shared through the store): each replaces the held
   * one of its (contract, selector). Held templates that `data` lacks stay: on AWS the sequencer
   * learns some itself (speculation, shared/predict/speculate.ts) and the coordinator, which
   * learns only from mispredictions, never sees a call that was predicted right; dropping them
   * would make the sequencer speculate on those pairs again after every load.
   */
  load(data: Record<string, Template>): void {
    this.applyLessons()
    for (const [id, template] of Object.entries(data)) this.templates.set(id, template)
    this.changes++
  }

  static fromJSON(data: Record<string, Template>): TemplateRegistry {
    const registry = new TemplateRegistry()
    for (const [id, template] of Object.entries(data)) registry.templates.set(id, template)
    return registry
  }
}

/**
 * Teach `templates` what one executed call touched: its read and write sets without the block
 * beneficiary (its fee is a deferred delta, not a conflict) and without wipe markers. The one
 * lesson for every learner: the coordinator after validation, the sequencer's speculation.
 */
export function learnFromExecution(
  templates: TemplateRegistry,
  call: CallShape,
  access: { reads: ReadonlyMap<StateKey, unknown>; writes: ReadonlyMap<StateKey, unknown> },
  gasUsed: number,
  coinbase: AddressHex,
): void {
  const keep = (k: StateKey): boolean => k !== coinbase && k[0] !== WIPE_PREFIX
  // The called contract's code hash, from the account value the call read: the lesson also
  // teaches other contracts with the same code.
  const read = access.reads.get(call.to) as { value?: unknown } | undefined
  if (read?.value instanceof Uint8Array) {
    const codeHash = decodeAccount(read.value)?.codeHash
    if (codeHash !== undefined) templates.knowCode(call.to, toHex(codeHash))
  }
  templates.learn(call, [...access.reads.keys()].filter(keep), [...access.writes.keys()].filter(keep), gasUsed)
}

/**
 * Before predicting: the code hashes of called contracts that have no template of their own
 * yet, from their accounts (one batched load), so that `get` can predict them by their code.
 */
export async function learnCodeHashes(
  templates: TemplateRegistry,
  calls: readonly { to: AddressHex | undefined; data: Uint8Array }[],
  load: (keys: StateKey[]) => Promise<{ value: Uint8Array | null }[]>,
): Promise<void> {
  const wanted = new Set<AddressHex>()
  for (const c of calls) if (c.to !== undefined && c.data.length >= 4 && !templates.knowsCode(c.to) && !templates.hasTemplate(c.to, c.data)) wanted.add(c.to)
  if (wanted.size === 0) return
  const addresses = [...wanted]
  const accounts = await load(addresses)
  addresses.forEach((address, i) => {
    const account = decodeAccount(accounts[i]?.value ?? null)
    if (account !== undefined && account.isContract()) templates.knowCode(address, toHex(account.codeHash))
  })
}
