/**
 * Pipelined blocks (embedded cluster): block N+1 is planned and executed while block N's state
 * root, receipts, header, journal, apply and seal finish. Once the coordinator has settled N
 * (`CoordinatorDeps.onSettled`), what N+1 needs of N is known: its net state writes and new code,
 * and every header field N+1 takes from its parent except N's hash (`pendingHead`). So:
 *
 * - the sequencer plans N+1 on N's pending head (`Sequencer.planNext(parent)`, or `runOrdered`'s
 *   planning): nonces and speculation read N's writes, and a duplicate of one of N's
 *   transactions is dropped by N's planned hashes (N's receipts are not stored yet);
 * - the sequencer and the workers read the state table through `SettledOverlay`: N's writes as
 *   the items N's apply will leave, until N is sealed (then the table holds them);
 * - N+1's plan is marked `parentPending`: the parent hash is filled in by the coordinator from
 *   the sealed N (`resolvePendingParent`), a worker's BLOCKHASH of N is run again by validation
 *   (shared/worker/shard-worker.ts), EIP-2935's history write is the coordinator's as always,
 *   and prevRandao does not depend on the parent's hash (shared/chain/next-block.ts);
 * - the coordinator seals N+1 only after N (`Coordinator.handleDone`, `sealIfComplete`), reading
 *   the state table directly: its settlement starts from N's applied state.
 *
 * N's decision cannot change once it is settled: settlement is serial execution of N's plan on
 * N's block-start state, and N's plan is the only one (a plan is stored once). A coordinator
 * attempt that fails after settling decides the same again. So N+1 never builds on anything N
 * will not seal. The coordinator itself never reads through the overlay.
 */
import { codeItem, stateItem } from '../store/state-table.ts'
import { ForwardingKeyValueStore, type Item, type ItemKey } from '../ports/kv-store.ts'

import type { SettledOutcome } from '../coordinator/coordinator.ts'

/** A key-value store that answers state and code reads with a settled, unsealed block's writes first. */
export class SettledOverlay extends ForwardingKeyValueStore {
  private block: bigint | undefined
  private state = new Map<string, Item | undefined>()
  private code = new Map<string, Item>()

  /** The block whose writes are laid over the table now, if any. */
  get overlaid(): bigint | undefined {
    return this.block
  }

  /** Lay a settled block's writes over the state table (replacing any earlier block's). */
  lay(outcome: SettledOutcome): void {
    const state = new Map<string, Item | undefined>()
    for (const [key, { value, version }] of outcome.writes) {
      // A null value deletes: after the apply there is no item.
      state.set(key, value === null ? undefined : stateItem(key, value, version))
    }
    const code = new Map<string, Item>()
    for (const [hash, bytes] of outcome.codes) code.set(hash, codeItem(hash, bytes))
    this.block = outcome.block
    this.state = state
    this.code = code
  }

  /** Block `block` is sealed (the table holds its writes): drop its overlay, or an earlier block's, not a later block's. */
  lift(block: bigint): void {
    if (this.block === undefined || this.block > block) return
    this.block = undefined
    this.state = new Map()
    this.code = new Map()
  }

  override async get(keys: readonly ItemKey[]): Promise<(Item | undefined)[]> {
    if (this.block === undefined) return this.inner.get(keys)
    const { state, code } = this
    const out: (Item | undefined)[] = new Array(keys.length)
    const rest: ItemKey[] = []
    const restAt: number[] = []
    keys.forEach((key, i) => {
      if (key.table === 'state' && state.has(key.pk)) out[i] = state.get(key.pk)
      else if (key.table === 'code' && code.has(key.pk)) out[i] = code.get(key.pk)
      else {
        rest.push(key)
        restAt.push(i)
      }
    })
    if (rest.length > 0) {
      const items = await this.inner.get(rest)
      items.forEach((item, j) => {
        out[restAt[j]!] = item
      })
    }
    return out
  }
}
