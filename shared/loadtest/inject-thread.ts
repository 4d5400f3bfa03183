/**
 * The injector in its own thread, sending to an SQS queue (inject-thread in the bundle). Shared
 * memory carries the send times, failure flags, the number issued and the stop request, so the
 * main thread sees progress without messages and can stop it at once.
 */
import { parentPort, workerData } from 'node:worker_threads'

import { createAwsClients } from '../adapters/aws/clients.ts'
import { SqsQueue } from '../adapters/aws/sqs-queue.ts'
import { epochNow, runInjection } from './inject.ts'

import type { InjectThreadData } from './injector.ts'

if (parentPort === null) throw new Error('inject-thread.ts must run in a worker thread')
const port = parentPort
const data = workerData as InjectThreadData
const control = new Int32Array(data.controlSab)
const sentAtMs = new Float64Array(data.sentAtSab)
const failedFlags = new Uint8Array(data.failedSab)

const clients = createAwsClients({ region: data.queue.region })
const queue = new SqsQueue({ client: clients.sqs, name: data.queue.name, url: data.queue.url, fifo: false })
const failures: { from: number; count: number; error: string }[] = []

port.once('message', (m: { startMs: number }) => {
  runInjection({
    raws: data.raws,
    offsetsMs: new Float64Array(data.offsetsMs),
    startMs: m.startMs,
    perMessage: data.perMessage,
    maxInFlight: data.maxInFlight,
    tickMs: data.tickMs,
    sentAtMs,
    send: (entries) => queue.send(entries),
    stopped: () => Atomics.load(control, 0) !== 0,
    now: epochNow,
    onIssued: (count) => Atomics.store(control, 1, count),
    onFailure: (from, count, error) => {
      failedFlags.fill(1, from, from + count)
      if (failures.length < 100) failures.push({ from, count, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) })
    },
  }).then(
    (result) => {
      clients.sqs.destroy()
      clients.dynamodb.destroy()
      port.postMessage({ result, failures })
    },
    (error: unknown) => port.postMessage({ error: (error as Error)?.stack ?? String(error) }),
  )
})
port.postMessage({ ready: true })
