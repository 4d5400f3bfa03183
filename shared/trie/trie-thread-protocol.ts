/**
 * Messages between a ParallelWorldStateTrie (main thread) and its trie threads
 * (trie-thread.ts). A block's writes (or a staged part of them) for one thread cross as three parts - the keys joined in
 * one string, the values' bytes in one buffer, their lengths (-1: null) - so that tens of
 * thousands of writes are one structured clone of a string and two transferred buffers instead
 * of as many small objects.
 */
import { InvariantError } from '../errors.ts'

import type { StateKey } from '../state/keys.ts'
import type { StateValue } from '../state/values.ts'
import type { WorldStateStats } from './world-state.ts'

export interface PackedWrites {
  /** The keys, joined with ',' (state keys are hex, with a 'w' prefix for wipes). */
  keys: string
  /** Each value's length in `data`, in order; -1 for null (a delete). */
  lengths: Int32Array
  data: Uint8Array
}

/**
 * `apply`: the writes complete a block (staged writes become part of the trie); `stage`: the
 * writes are part of the next block, applied ahead (the parent is kept to go back to);
 * `discard`: back to the parent (the writes are empty).
 */
export type TrieThreadOp = 'apply' | 'stage' | 'discard'

export interface TrieThreadRequest {
  id: number
  op: TrieThreadOp
  writes: PackedWrites
}

export type TrieThreadReply =
  | {
      id: number
      ok: true
      /** The thread's account trie's root children by first nibble (null: no account there). */
      refs: (Uint8Array | null)[]
      /** The thread's own account trie root: the whole root when it holds the only occupied nibble. */
      root: Uint8Array
      stats: WorldStateStats
    }
  | { id: number; ok: false; error: { name: string; message: string } }

export function packWrites(keys: readonly StateKey[], values: readonly StateValue[]): PackedWrites {
  if (keys.length !== values.length) throw new InvariantError(`packWrites: ${keys.length} keys and ${values.length} values`)
  const lengths = new Int32Array(values.length)
  let total = 0
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!
    lengths[i] = value === null ? -1 : value.length
    if (value !== null) total += value.length
  }
  const data = new Uint8Array(total)
  let offset = 0
  for (const value of values) {
    if (value === null) continue
    data.set(value, offset)
    offset += value.length
  }
  return { keys: keys.join(','), lengths, data }
}

/** The writes back as pairs; values are copies (a trie leaf must not keep the whole buffer alive). */
export function unpackWrites(packed: PackedWrites): [StateKey, StateValue][] {
  const count = packed.lengths.length
  if (count === 0) return []
  const keys = packed.keys.split(',')
  if (keys.length !== count) throw new InvariantError(`trie thread: ${keys.length} keys and ${count} values in one message`)
  const out: [StateKey, StateValue][] = new Array(count)
  let offset = 0
  for (let i = 0; i < count; i++) {
    const length = packed.lengths[i]!
    if (length < 0) {
      out[i] = [keys[i]!, null]
      continue
    }
    if (offset + length > packed.data.length) throw new InvariantError('trie thread: value lengths exceed the data')
    out[i] = [keys[i]!, packed.data.slice(offset, offset + length)]
    offset += length
  }
  return out
}
