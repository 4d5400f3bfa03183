/** Errors say what they are: a broken invariant is never an ordinary retryable condition. */
import { describe, expect, it } from 'vitest'

import { Coordinator } from '../../shared/coordinator/coordinator.ts'
import { InvariantError, MalformedInputError, NotReadyError, ThrottledError, assert, isRetryable } from '../../shared/errors.ts'
import { initializeChain } from '../../shared/cluster/bootstrap.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { TemplateRegistry } from '../../shared/predict/templates.ts'
import { testGenesis } from '../helpers/chain.ts'

describe('typed errors', () => {
  it('assert throws a non-retryable InvariantError; throttling and not-ready are retryable; unknown errors count as transient', () => {
    expect(() => assert(1 + 1 === 3, 'arithmetic')).toThrow(InvariantError)
    expect(() => assert(false, 'x')).toThrow(/invariant broken: x/)
    expect(isRetryable(new InvariantError('x'))).toBe(false)
    expect(isRetryable(new MalformedInputError('x'))).toBe(false)
    expect(isRetryable(new ThrottledError('x'))).toBe(true)
    expect(isRetryable(new NotReadyError('x'))).toBe(true)
    expect(isRetryable(new Error('socket hang up'))).toBe(true)
  })

  it('the coordinator: a malformed done message is bad input, a done message before its plan is not ready yet', async () => {
    const genesis = testGenesis({ accounts: 2 })
    const kv = new MemoryKeyValueStore()
    await initializeChain(kv, genesis)
    const coordinator = new Coordinator({ kv, templates: new TemplateRegistry(), trie: genesis.trie })
    const message = (body: string) => ({ id: '1', body, receiptHandle: 'h', receiveCount: 1, sentAtMs: 0 })
    await expect(coordinator.handleDone(message('{"nope":1}'))).rejects.toBeInstanceOf(MalformedInputError)
    const done = JSON.stringify({ v: 1, kind: 'done', block: '1', shard: 0, parts: 1 })
    const error = await coordinator.handleDone(message(done)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NotReadyError)
    expect(isRetryable(error)).toBe(true)
  })
})
