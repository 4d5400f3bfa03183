/**
 * Entry point of a trie thread of a ParallelWorldStateTrie (parallel-world-state.ts): it owns
 * the accounts whose keccak(address) starts with some first nibbles, and their storage tries,
 * as a WorldStateTrie of its own. Each request is a block's writes to those accounts; the reply
 * is the references of its account trie's root children (the root branch's children of the
 * whole account trie at its nibbles), its own root, and the block's statistics. A request may
 * also stage part of the next block's writes, or discard what is staged (back to the parent).
 * Requests are answered in order. An error applying a block is answered, not thrown: the thread lives on.
 */
import { parentPort } from 'node:worker_threads'

import { unpackWrites, type TrieThreadReply, type TrieThreadRequest } from './trie-thread-protocol.ts'
import { WorldStateTrie, type WorldStateStats } from './world-state.ts'

if (parentPort === null) throw new Error('trie-thread.ts must run in a worker thread')
const port = parentPort
const trie = new WorldStateTrie()

port.on('message', (request: TrieThreadRequest) => {
  let reply: TrieThreadReply
  try {
    const writes = unpackWrites(request.writes)
    let result: { root: Uint8Array; stats: WorldStateStats }
    if (request.op === 'stage') {
      result = trie.stageWrites(writes)
    } else if (request.op === 'discard') {
      trie.discardStagedWrites()
      result = { root: trie.root(), stats: { accountsUpdated: 0, storageSlotsUpdated: 0, storageTriesRehashed: 0 } }
    } else {
      result = trie.apply(writes)
      trie.commitStaged()
    }
    reply = { id: request.id, ok: true, refs: trie.accountChildReferences(), root: result.root, stats: result.stats }
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error))
    reply = { id: request.id, ok: false, error: { name: e.name, message: e.message } }
  }
  port.postMessage(reply)
})
