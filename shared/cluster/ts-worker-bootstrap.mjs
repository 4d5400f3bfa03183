// Worker threads started from TypeScript sources (tests, `tsx`): register tsx's loader in
// this thread, then load the real entry. Bundled builds start dist/worker-thread.js directly.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.__entry)
