/** The port contracts against the in-process implementations. */
import { describe, expect, it } from 'vitest'

import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'
import { kvStoreContract } from './kv-store.contract.ts'
import { queueContract } from './queue.contract.ts'

kvStoreContract('in-process store', async () => ({ store: new MemoryKeyValueStore(), scope: 'mem' }))

let n = 0
queueContract('in-process queue', async (spec) => {
  const name = `q${++n}`
  const deadLetter = new MemoryQueue({ name: `${name}-dlq`, fifo: spec.fifo ?? false })
  const queue = new MemoryQueue({
    name,
    visibilityTimeoutMs: spec.visibilityTimeoutSec * 1000,
    fifo: spec.fifo ?? false,
    ...(spec.maxReceiveCount !== undefined ? { maxReceiveCount: spec.maxReceiveCount, deadLetter } : {}),
  })
  return { queue, deadLetter }
})

describe('in-process store: what it keeps of a written value', () => {
  it('a whole buffer reads back as written, a view out of a larger buffer is copied, and reads are copies', async () => {
    const store = new MemoryKeyValueStore()
    const whole = Uint8Array.of(1, 2, 3)
    const big = new Uint8Array(64 * 1024).fill(7)
    const view = big.subarray(100, 104)
    await store.write([
      { op: 'put', item: { table: 'state', pk: 'a', sk: '-', value: whole, version: 1 } },
      { op: 'put', item: { table: 'state', pk: 'b', sk: '-', value: view, version: 1 } },
    ])
    const [a, b] = await store.get([
      { table: 'state', pk: 'a', sk: '-' },
      { table: 'state', pk: 'b', sk: '-' },
    ])
    expect(a!.value).toEqual(whole)
    expect(b!.value).toEqual(Uint8Array.of(7, 7, 7, 7))
    // The view was copied: the 64 KB buffer is not what the store holds, and changing it does not reach the store.
    big.fill(0)
    const [b2] = await store.get([{ table: 'state', pk: 'b', sk: '-' }])
    expect(b2!.value).toEqual(Uint8Array.of(7, 7, 7, 7))
    // A read is a copy: changing it leaves the stored value alone.
    a!.value[0] = 9
    const [a2] = await store.get([{ table: 'state', pk: 'a', sk: '-' }])
    expect(a2!.value).toEqual(whole)
  })
})
