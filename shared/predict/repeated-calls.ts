/**
 * Calls within one shard to a (contract, selector) pair that an earlier call of the same shard
 * already made: once the first such call has run and missed keys its plan did not predict, a
 * template learned from it (the same learning as the coordinator's, in a registry of the
 * shard's own) predicts the keys of the later calls, and the worker loads them in one batch
 * instead of one store round trip per key as each call reaches them. A hint only: the keys are
 * block-start state loaded into the worker's view; what each call reads is still what it reads.
 */
import { toHex } from '../hex.ts'
import { learnFromExecution, TemplateRegistry, type CallShape } from './templates.ts'

import type { AddressHex, StateKey } from '../state/keys.ts'

interface CallTx {
  to?: { bytes: Uint8Array } | undefined
  data: Uint8Array
}

export class RepeatedCalls {
  /** The shard's calls and, for each pair made more than once, its positions not yet learned from: indexed at the first miss (a shard that misses nothing pays nothing). */
  private index: { calls: (CallShape | undefined)[]; byPair: Map<string, number[]> } | undefined
  private readonly templates = new TemplateRegistry()

  /** `txs` in shard order and the sender of each (by position). */
  constructor(
    private readonly txs: readonly CallTx[],
    private readonly senderOf: (k: number) => Uint8Array,
  ) {}

  /**
   * After the call at shard position `k` ran (and missed keys): the keys a template learned from
   * it predicts for the later calls of its pair, once per pair (empty when the pair does not
   * repeat later, or was learned from already).
   */
  keysAfter(k: number, access: { reads: ReadonlyMap<StateKey, unknown>; writes: ReadonlyMap<StateKey, unknown> }, gasUsed: bigint, coinbase: AddressHex): StateKey[] {
    const { calls, byPair } = (this.index ??= this.indexCalls())
    const call = calls[k]
    if (call === undefined) return []
    const pair = TemplateRegistry.idOf(call)
    const positions = byPair.get(pair)
    if (positions === undefined) return []
    byPair.delete(pair)
    const later = positions.filter((j) => j > k)
    if (later.length === 0) return []
    learnFromExecution(this.templates, call, access, Number(gasUsed), coinbase)
    const keys = new Set<StateKey>()
    for (const j of later) {
      const predicted = this.templates.predict(calls[j]!)
      if (predicted === undefined) continue
      for (const key of predicted.keys) keys.add(key)
      for (const key of predicted.writes) keys.add(key)
    }
    return [...keys]
  }

  private indexCalls(): { calls: (CallShape | undefined)[]; byPair: Map<string, number[]> } {
    const calls = this.txs.map((tx, k) => (tx.to !== undefined && tx.data.length >= 4 ? { caller: toHex(this.senderOf(k)), to: toHex(tx.to.bytes), data: tx.data } : undefined))
    const positions = new Map<string, number[]>()
    calls.forEach((call, k) => {
      if (call === undefined) return
      const pair = TemplateRegistry.idOf(call)
      const list = positions.get(pair)
      if (list === undefined) positions.set(pair, [k])
      else list.push(k)
    })
    const byPair = new Map<string, number[]>()
    for (const [pair, list] of positions) if (list.length > 1) byPair.set(pair, list)
    return { calls, byPair }
  }
}
