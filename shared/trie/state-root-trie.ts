/**
 * What the coordinator needs of a state trie: the block's state root from its parent's and the
 * block's net writes, some of them staged while the block still executes. Implemented by
 * `WorldStateTrie` (one thread; in memory from genesis, or lazy over a node store) and
 * `ParallelWorldStateTrie` (in memory, the account trie split by first nibble over worker
 * threads).
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

  /**
   * Whether the next block's writes can be staged: a trie kept in memory can, a lazy one over a
   * node store (which starts each block from its parent root) cannot.
   */
  readonly canStage: boolean
  /**
   * Apply part of the next block's net writes ahead of its `applyBlock` (a settled prefix, while
   * later shards still execute), hashing what they change now. `applyBlock` then takes the
   * block's net writes that are new or changed since they were staged, and makes the staged
   * writes part of the trie. Keys take absolute values, so a key staged twice keeps the last;
   * a wipe staged or applied later removes the storage staged before it.
   */
  stage(writes: readonly (readonly [StateKey, StateValue])[]): Promise<void>
  /** Back to the parent: every write staged since the last `applyBlock` undone (nothing when none is). */
  discardStaged(): Promise<void>
}
