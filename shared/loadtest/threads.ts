/**
 * Thread entries of the load test. Bundled (dist/), `loadtest-<name>.js` beside the CLI bundle
 * (scripts/build.mjs); from TypeScript sources (tests, tsx), `<name>.ts` from this folder through
 * the cluster's bootstrap (`shared/cluster/threads.ts`).
 */
import { startThread, threadEntry } from '../cluster/threads.ts'

import type { Worker } from 'node:worker_threads'

export function loadtestThread(name: 'sign-thread' | 'inject-thread', workerData: Record<string, unknown>, transferList: ArrayBuffer[] = []): Worker {
  return startThread(threadEntry(name, '../loadtest/', `loadtest-${name}`), workerData, transferList)
}
