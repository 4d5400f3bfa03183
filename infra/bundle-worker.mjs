// Bundles the ECS worker (functions/execute-shards.ts) into one ESM file with esbuild.
// Run by infra/worker.Dockerfile at image build time, and by test/infra/worker-image.test.ts.
// Native and GPU packages stay external: the image installs them into node_modules.
//   node infra/bundle-worker.mjs [outfile]   (default dist/execute-shards.mjs)
import { build } from 'esbuild'

export const WORKER_ENTRY = 'functions/execute-shards.ts'
export const WORKER_EXTERNALS = ['secp256k1', 'gpu.js', 'webgpu', 'gl']

export async function bundleWorker(outfile = 'dist/execute-shards.mjs', root = process.cwd()) {
  await build({
    absWorkingDir: root,
    entryPoints: [WORKER_ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: true,
    logLevel: 'warning',
    external: WORKER_EXTERNALS,
    // CommonJS dependencies call `require`; ESM output needs one.
    banner: { js: "import { createRequire as __parevmCreateRequire } from 'node:module'; const require = __parevmCreateRequire(import.meta.url);" },
  })
  return outfile
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await bundleWorker(process.argv[2])
  console.error(`bundled ${WORKER_ENTRY} -> ${out}`)
}
