/**
 * Trie nodes in the key-value store's `trie` table: pk = the node's keccak hash (hex), sk = '-',
 * value = its RLP encoding. Content-addressed, so writes are unconditional and idempotent, and
 * nodes are never deleted (a node may be shared by many roots; pruning is future work).
 */
import { toHex } from '../hex.ts'

import type { ItemKey, KeyValueStore, UnconditionalOp } from '../ports/kv-store.ts'
import type { TrieNodeStore, WorldStateTrie } from './world-state.ts'

const nodeKey = (hash: Uint8Array): ItemKey => ({ table: 'trie', pk: toHex(hash), sk: '-' })

export class KvTrieNodeStore implements TrieNodeStore {
  constructor(private readonly kv: KeyValueStore) {}

  async load(hashes: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    const items = await this.kv.get(hashes.map(nodeKey))
    return items.map((item) => item?.value)
  }

  async save(nodes: readonly (readonly [Uint8Array, Uint8Array])[]): Promise<void> {
    const unique = new Map<string, UnconditionalOp>()
    for (const [hash, encoded] of nodes) unique.set(toHex(hash), { op: 'put', item: { ...nodeKey(hash), value: encoded, version: 0 } })
    if (unique.size > 0) await this.kv.write([...unique.values()])
  }
}

/** Save every node of a trie built in memory (a genesis), so a lazy trie can start from its root. */
export async function saveTrieNodes(kv: KeyValueStore, trie: WorldStateTrie): Promise<number> {
  const nodes: [Uint8Array, Uint8Array][] = []
  trie.exportNodes((hash, encoded) => nodes.push([hash, encoded]))
  await new KvTrieNodeStore(kv).save(nodes)
  return nodes.length
}
