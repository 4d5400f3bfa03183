/** Entry point of an embedded worker thread: a ShardWorker over RPC proxies to the main thread. */
import { parentPort, workerData } from 'node:worker_threads'

import { connectRpc } from './rpc.ts'
import { runWorkerLoop, type StopSignal } from './worker-loop.ts'
import { ShardWorker } from '../worker/shard-worker.ts'
import { createAccelerators } from '../gpu/accelerators.ts'
import { HOLD_PRE_STATE, PRE_STATE_HELD, heldPreState, type HeldPreState, type HoldPreStateMessage } from '../replay/held-pre-state.ts'

import type { AcceleratorSettings } from '../gpu/config.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import type { Queue } from '../ports/queue.ts'

if (parentPort === null) throw new Error('worker-thread.ts must run in a worker thread')
const port = parentPort
const rpc = connectRpc(port)
const kv = rpc.proxy<KeyValueStore>('kv')
const shardQueue = rpc.proxy<Queue>('shards')
const doneQueue = rpc.proxy<Queue>('done')
const signal: StopSignal = { stopped: false }
const options = workerData as { visibilityTimeoutMs: number; waitMs: number; accelerators?: AcceleratorSettings }
// A replay's block-start state, held here until the next one (shared/replay/held-pre-state.ts).
let held: HeldPreState | undefined
port.on('message', (message: { control?: string }) => {
  if (message?.control === 'stop') signal.stopped = true
  if (message?.control === HOLD_PRE_STATE) {
    held = heldPreState(message as HoldPreStateMessage)
    port.postMessage({ control: PRE_STATE_HELD, block: held.block.toString() })
  }
})
// The main thread's GPU settings when it passed them (instances cannot cross threads), else this thread's defaults.
const inference = options.accelerators === undefined ? undefined : createAccelerators(options.accelerators).inference
const worker = new ShardWorker({ kv, shardQueue, doneQueue, held: () => held, ...(inference !== undefined ? { inference } : {}) })
runWorkerLoop(worker, shardQueue, signal, options).then(
  () => port.postMessage({ control: 'stopped' }),
  (error: unknown) => port.postMessage({ control: 'crashed', message: String(error) }),
)
