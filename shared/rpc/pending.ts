/**
 * Transactions this endpoint accepted that are not sealed yet, per sender: the `pending`
 * nonce, replacement refusals, the funds already committed, and eth_getTransactionByHash
 * before inclusion. An entry leaves when the sealed nonce passes it, when a record (receipt
 * or rejection) for it appears, or after `ttlMs`. Per process (on AWS, per function instance).
 */
import type { TypedTransaction } from '@ethereumjs/tx'

export interface PendingTx {
  hash: string
  raw: string
  tx: TypedTransaction
  sender: string
  nonce: bigint
  /** gas limit × fee cap + value. */
  cost: bigint
  feeCap: bigint
  tip: bigint
  atMs: number
  /** Sequence number of acceptance (pending-transaction filters). */
  seq: number
}

const RECORD_CHECK_MS = 250

export class PendingPool {
  private readonly bySender = new Map<string, Map<bigint, PendingTx>>()
  private readonly byHash = new Map<string, PendingTx>()
  private seq = 0
  private readonly recordChecks = new Map<string, number>()
  /** Recently accepted hashes with their sequence numbers (pending-transaction filters). */
  readonly recent: { seq: number; hash: string }[] = []

  constructor(
    private readonly ttlMs = 120_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.byHash.size
  }

  get lastSeq(): number {
    return this.seq
  }

  get(hash: string): PendingTx | undefined {
    return this.byHash.get(hash)
  }

  ofSender(sender: string): PendingTx[] {
    return [...(this.bySender.get(sender)?.values() ?? [])]
  }

  add(entry: Omit<PendingTx, 'seq' | 'atMs'>): PendingTx {
    const full: PendingTx = { ...entry, atMs: this.now(), seq: ++this.seq }
    let m = this.bySender.get(entry.sender)
    if (m === undefined) this.bySender.set(entry.sender, (m = new Map()))
    m.set(entry.nonce, full)
    this.byHash.set(entry.hash, full)
    this.recent.push({ seq: full.seq, hash: full.hash })
    if (this.recent.length > 10_000) this.recent.splice(0, this.recent.length - 10_000)
    return full
  }

  remove(entry: PendingTx): void {
    this.byHash.delete(entry.hash)
    const m = this.bySender.get(entry.sender)
    if (m?.get(entry.nonce) === entry) m.delete(entry.nonce)
    if (m?.size === 0) this.bySender.delete(entry.sender)
  }

  /**
   * Drop a sender's entries below its sealed nonce, those whose hash has a record
   * (`hasRecord` is asked about the rest), and expired ones.
   */
  async refresh(sender: string, sealedNonce: bigint, hasRecord: (hashes: string[]) => Promise<boolean[]>): Promise<void> {
    const entries = this.ofSender(sender)
    if (entries.length === 0) return
    const now = this.now()
    const rest: PendingTx[] = []
    for (const e of entries) {
      if (e.nonce < sealedNonce || now - e.atMs > this.ttlMs) this.remove(e)
      else rest.push(e)
    }
    if (rest.length === 0) return
    // Rejection records: looked up at most every RECORD_CHECK_MS per sender (a burst of sends
    // from one sender would otherwise look up all its pending hashes on every send).
    const last = this.recordChecks.get(sender) ?? 0
    if (now - last < RECORD_CHECK_MS) return
    this.recordChecks.set(sender, now)
    if (this.recordChecks.size > 100_000) this.recordChecks.clear()
    const recorded = await hasRecord(rest.map((e) => e.hash))
    rest.forEach((e, i) => {
      if (recorded[i] === true) this.remove(e)
    })
  }

  /** The next nonce after the sealed one and this sender's consecutive pending transactions. */
  nextNonce(sender: string, sealedNonce: bigint): bigint {
    const m = this.bySender.get(sender)
    let n = sealedNonce
    while (m?.has(n) === true) n++
    return n
  }

  /** Funds committed by this sender's pending transactions. */
  committed(sender: string): bigint {
    let sum = 0n
    for (const e of this.bySender.get(sender)?.values() ?? []) sum += e.cost
    return sum
  }
}
