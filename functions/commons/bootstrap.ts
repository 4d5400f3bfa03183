/**
 * A new chain in an AWS backend: the genesis trie's nodes first (so a coordinator that starts
 * cold can load the state trie from the head's root), then the flat state, block 0 and the head.
 * Idempotent: trie nodes are content-addressed and initializeChain accepts the same genesis again.
 */
import { initializeChain } from '../../shared/cluster/bootstrap.ts'
import { saveTrieNodes } from '../../shared/trie/node-store.ts'

import type { GenesisState } from '../../shared/chain/genesis.ts'
import type { KeyValueStore } from '../../shared/ports/kv-store.ts'
import type { HeadRecord } from '../../shared/store/records.ts'

export async function bootstrapChain(kv: KeyValueStore, genesis: GenesisState): Promise<{ head: HeadRecord; trieNodes: number }> {
  const trieNodes = await saveTrieNodes(kv, genesis.trie)
  const head = await initializeChain(kv, genesis)
  return { head, trieNodes }
}
