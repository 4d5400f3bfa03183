/**
 * The sequential check in a thread of its own: sealed blocks arrive in order and are checked
 * one after another against @ethereumjs/vm, while the engine goes on with the next block.
 */
import { parentPort, workerData } from 'node:worker_threads'

import { buildGenesis, parseGenesis } from '../chain/genesis.ts'
import { SequentialVerifier } from './sequential.ts'

import type { SealedBlock } from '../coordinator/coordinator.ts'

const port = parentPort!
const verifier = await SequentialVerifier.fromGenesis(buildGenesis(parseGenesis((workerData as { genesisFile: unknown }).genesisFile)))
let queue: Promise<void> = Promise.resolve()
port.on('message', (sealed: SealedBlock) => {
  queue = queue.then(async () => {
    try {
      port.postMessage({ result: await verifier.verify(sealed) })
    } catch (error) {
      port.postMessage({ error: (error as Error).message ?? String(error), block: sealed.record.number })
    }
  })
})
port.postMessage({ ready: true })
