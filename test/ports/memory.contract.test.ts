/** The port contracts against the in-process implementations. */
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
