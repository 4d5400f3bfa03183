/**
 * A replayed block's pre-state held by each worker thread. Worker threads read block-start
 * state from the store in the main thread, one message round trip per load; a mainnet block's
 * predictions cover only part of what it reads, so most of its keys were loaded one at a time
 * during execution, each waiting for the main thread (which also plans and settles). In replay
 * the whole block-start state is known before the block runs (the fixture's pre-state, seeded
 * into the store), so the cluster sends it to every worker thread first, as the sequential
 * baselines load it into their tries, and a worker answers that block's loads from it.
 *
 * The answers are the store's, key for key: what `seedReplayStore` wrote (the pre-state's
 * entries at the parent block's end), `UNSUPPLIED_VALUE` for an unlisted slot of an account with
 * code (`ReplayStore`), absent for everything else (a replay store holds no wipe markers before
 * its block is applied, and nothing is applied before every shard of the block has run).
 */
import { ParevmError } from '../errors.ts'
import { UNSUPPLIED_VALUE } from '../exec/executor.ts'
import { ACCOUNT_KEY_LENGTH, POSITION_BLOCK_END, STORAGE_KEY_LENGTH, makeVersion, type StateKey, type Version } from '../state/keys.ts'
import { ABSENT, type VersionedValue } from '../state/values.ts'

import type { StateLoader } from '../state/view.ts'
import type { StateTable } from '../store/state-table.ts'
import type { PreState } from './fixture.ts'

/** What a worker thread needs of a pre-state (it crosses threads by structured clone). */
export type HeldState = Pick<PreState, 'entries' | 'codes' | 'accountsWithCode' | 'suppliedSlots'>

/** The control message that hands a worker thread a block's pre-state, and its answer. */
export const HOLD_PRE_STATE = 'hold-pre-state'
export const PRE_STATE_HELD = 'pre-state-held'

export interface HoldPreStateMessage {
  control: typeof HOLD_PRE_STATE
  /** The block (decimal) whose block-start state this is. */
  block: string
  state: HeldState
}

/** A block-start state a worker holds: the loader for that block's shards. */
export interface HeldPreState {
  block: bigint
  /** Code goes through `table`, whose cache keeps one object per code hash from block to block (the jump analysis is cached by it). */
  loader(table: StateTable): StateLoader
}

export function holdPreStateMessage(block: bigint, preState: PreState): HoldPreStateMessage {
  const { entries, codes, accountsWithCode, suppliedSlots } = preState
  return { control: HOLD_PRE_STATE, block: block.toString(), state: { entries, codes, accountsWithCode, suppliedSlots } }
}

/** The version of a replayed block's pre-state items: the end of its parent block (seedReplayStore writes them so). */
export function preStateVersion(block: bigint): Version {
  return makeVersion(block - 1n, POSITION_BLOCK_END)
}

/** A slot the fixture does not supply: unlisted, of an account with code. */
export function isUnsuppliedSlot(state: Pick<PreState, 'accountsWithCode' | 'suppliedSlots'>, key: StateKey): boolean {
  return key.length === STORAGE_KEY_LENGTH && state.accountsWithCode.has(key.slice(0, ACCOUNT_KEY_LENGTH)) && !state.suppliedSlots.has(key)
}

const UNSUPPLIED: VersionedValue = Object.freeze({ value: UNSUPPLIED_VALUE, version: 0 }) as VersionedValue

/** The worker side of a `HoldPreStateMessage`. */
export function heldPreState(message: HoldPreStateMessage): HeldPreState {
  if (!/^[0-9]+$/.test(message.block)) throw new ParevmError(`a held pre-state names block ${JSON.stringify(message.block)}`)
  const block = BigInt(message.block)
  const { state } = message
  const version = preStateVersion(block)
  const answer = (key: StateKey): VersionedValue => {
    const value = state.entries.get(key)
    if (value !== undefined) return { value, version }
    return isUnsuppliedSlot(state, key) ? UNSUPPLIED : ABSENT
  }
  return {
    block,
    loader: (table) => ({
      load: (keys) => Promise.resolve(keys.map(answer)),
      loadCode: (hashes) => (hashes.every((h) => state.codes.has(h)) ? Promise.resolve(hashes.map((h) => table.keepCode(h, state.codes.get(h)!))) : table.loadCode(hashes)),
    }),
  }
}
