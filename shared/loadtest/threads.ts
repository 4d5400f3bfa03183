/**
 * Thread entries of the load test. Bundled (dist/), `loadtest-<name>.js` beside the CLI bundle
 * (scripts/build.mjs); from TypeScript sources (tests, tsx), the cluster's bootstrap that
 * registers tsx and then loads `<name>.ts` from this folder.
 */
import { Worker } from 'node:worker_threads'

export function loadtestThread(name: 'sign-thread' | 'inject-thread', workerData: Record<string, unknown>, transferList: ArrayBuffer[] = []): Worker {
  const self = import.meta.url
  if (self.endsWith('.ts')) {
    const url = new URL('../cluster/ts-worker-bootstrap.mjs', self)
    return new Worker(url, { workerData: { ...workerData, __entry: new URL(`./${name}.ts`, self).href }, transferList })
  }
  return new Worker(new URL(`./loadtest-${name}.js`, self), { workerData, transferList })
}
