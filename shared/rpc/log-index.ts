/**
 * An in-memory index of which blocks hold logs of which address and topic, fed with every
 * sealed block in order (the node announces each one): eth_getLogs over a covered range then
 * visits only the blocks that can match, instead of every block's header in the range. Blocks
 * outside the covered range are found through their header blooms.
 */
import type { ReceiptRecord } from '../store/records.ts'

export class LogIndex {
  private readonly byAddress = new Map<string, number[]>()
  private readonly byTopic = new Map<string, number[]>()
  private readonly withLogs: number[] = []
  /** Every block in [0, coveredTo] has been added (-1: none yet). */
  private coveredTo = -1
  private gap = false

  /** The highest block covered without a gap from genesis. */
  get covered(): number {
    return this.coveredTo
  }

  /** Add block `number`'s receipts; blocks must come in order from 0 (a gap stops the coverage). */
  add(number: number, receipts: readonly ReceiptRecord[]): void {
    if (this.gap || number !== this.coveredTo + 1) {
      // A block missed: what is covered stays valid, nothing after it is added.
      if (number > this.coveredTo + 1) this.gap = true
      return
    }
    this.coveredTo = number
    let any = false
    const seenA = new Set<string>()
    const seenT = new Set<string>()
    for (const r of receipts) {
      for (const log of r.logs) {
        any = true
        const a = log.address.toLowerCase()
        if (!seenA.has(a)) {
          seenA.add(a)
          push(this.byAddress, a, number)
        }
        for (const t of log.topics) {
          const topic = t.toLowerCase()
          if (seenT.has(topic)) continue
          seenT.add(topic)
          push(this.byTopic, topic, number)
        }
      }
    }
    if (any) this.withLogs.push(number)
  }

  /**
   * Blocks in [from, to] that can hold a match, ascending, or undefined where the range is not
   * covered. `addresses`: any of them; `topics`: per position, any of the options (null: any).
   */
  candidates(from: number, to: number, addresses: readonly string[] | undefined, topics: readonly (readonly string[] | null)[]): number[] | undefined {
    if (to > this.coveredTo || from < 0) return undefined
    let best: number[] = slice(this.withLogs, from, to)
    const consider = (lists: number[][]): void => {
      const merged = [...new Set(lists.flatMap((l) => slice(l, from, to)))].sort((x, y) => x - y)
      if (merged.length < best.length) best = merged
    }
    if (addresses !== undefined) consider(addresses.map((a) => this.byAddress.get(a) ?? []))
    for (const options of topics) if (options !== null) consider(options.map((t) => this.byTopic.get(t) ?? []))
    return best
  }
}

function push(map: Map<string, number[]>, key: string, block: number): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [block])
  else list.push(block)
}

/** The ascending list's entries in [from, to] (binary search). */
function slice(sorted: readonly number[], from: number, to: number): number[] {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid]! < from) lo = mid + 1
    else hi = mid
  }
  const out: number[] = []
  for (let i = lo; i < sorted.length && sorted[i]! <= to; i++) out.push(sorted[i]!)
  return out
}
