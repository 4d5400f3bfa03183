/**
 * Entry point of a trie thread of a ParallelWorldStateTrie (parallel-world-state.ts): it owns
 * the accounts whose keccak(address) starts with some first nibbles, and their storage tries,
 * as a WorldStateTrie of its own. Each request is a block's writes to those accounts; the reply
 * is the references of its account trie's root children (the root branch's children of the
 * whole account trie at its nibbles), its own root, and the block's statistics. Requests are
 * answered in order. An error applying a block is answered, not thrown: the thread lives on.
 */
import { parentPort } from 'node:worker_threads'

import { unpackWrites, type TrieThreadReply, type TrieThreadRequest } from './trie-thread-protocol.ts'
import { WorldStateTrie } from './world-state.ts'

if (parentPort === null) throw new Error('trie-thread.ts must run in a worker thread')
const port = parentPort
const trie = new WorldStateTrie()

port.on('message', (request: TrieThreadRequest) => {
  let reply: TrieThreadReply
  try {
    const { root, stats } = trie.apply(unpackWrites(request.writes))
    reply = { id: request.id, ok: true, refs: trie.accountChildReferences(), root, stats }
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error))
    reply = { id: request.id, ok: false, error: { name: e.name, message: e.message } }
  }
  port.postMessage(reply)
})
