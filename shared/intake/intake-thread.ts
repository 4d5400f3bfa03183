/**
 * Entry point of an intake thread (shared/intake/pool.ts): judges batches of raw transactions or
 * ingress message bodies (decode, recover the sender, hash, the stateless checks) and answers
 * with packed, transferred buffers. Bundled as dist/intake-thread.js (scripts/build.mjs).
 */
import { parentPort } from 'node:worker_threads'

import { runIntakeJob, transferList, type IntakeRequest } from './batch.ts'

if (parentPort === null) throw new Error('intake-thread.ts must run in a worker thread')
const port = parentPort
port.on('message', (message: { id: number; request: IntakeRequest }) => {
  try {
    const t0 = performance.now()
    const packed = runIntakeJob(message.request)
    port.postMessage({ id: message.id, packed, ms: performance.now() - t0 }, transferList(packed))
  } catch (error) {
    port.postMessage({ id: message.id, error: (error as Error)?.stack ?? String(error) })
  }
})
port.postMessage({ ready: true })
