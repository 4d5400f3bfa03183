/**
 * What the coordinator needs of a state trie: the block's state root from its parent's and the
 * block's net writes. Implemented by `WorldStateTrie` (one thread; in memory from genesis, or
 * lazy over a node store) and `ParallelWorldStateTrie` (in memory, the account trie split by
 * first nibble over worker threads).
 */
import type { GpuContext } from '../gpu/context.ts'
import type { StateKey } from '../state/keys.ts'
import type { StateValue } from '../state/values.ts'
import type { WorldStateStats } from './world-state.ts'

export interface StateRootTrie {
  /**
   * Apply the block's net writes (account, storage and wipe keys) and return the new root.
   * A trie kept in memory ignores `parentRoot` (it is at the parent by construction); a lazy
   * one starts from it.
   */
  applyBlock(
    parentRoot: Uint8Array,
    writes: readonly (readonly [StateKey, StateValue])[],
    options?: { gpu?: GpuContext | undefined },
  ): Promise<{ root: Uint8Array; stats: WorldStateStats }>
}
