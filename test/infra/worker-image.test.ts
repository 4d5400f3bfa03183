/**
 * The worker image without Docker: the Dockerfile's bundling step (infra/bundle-worker.mjs)
 * produces a bundle that plain Node loads with the image's node_modules, and the Dockerfile runs
 * that bundle on a base that WebGPU can use (see docs/gpu-and-ai.md).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

import { afterAll, describe, expect, it } from 'vitest'

import { NVIDIA_DRIVER_CAPABILITIES, WORKER_DOCKERFILE } from '../../infra/constructs/worker-service.ts'
// @ts-expect-error -- a plain .mjs build script without type declarations
import { WORKER_EXTERNALS, bundleWorker } from '../../infra/bundle-worker.mjs'

const scratch = mkdtempSync(join(tmpdir(), 'parevm-worker-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const dockerfile = readFileSync(WORKER_DOCKERFILE, 'utf8')

describe('worker image', () => {
  it('bundles functions/execute-shards.ts into a file that Node loads with only node_modules beside it', async () => {
    const out = join(scratch, 'dist', 'execute-shards.mjs')
    await bundleWorker(out, resolve('.'))
    // The image has node_modules next to dist/; here a link to the repository's stands in for it.
    symlinkSync(resolve('node_modules'), join(scratch, 'node_modules'), 'dir')
    const probe = `const m = await import(${JSON.stringify(pathToFileURL(out).href)}); process.stdout.write([typeof m.main, typeof m.startHealthServer].join(','))`
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: scratch, encoding: 'utf8' })).toBe('function,function')
    for (const external of WORKER_EXTERNALS as string[]) expect(readFileSync(out, 'utf8')).not.toContain(`node_modules/${external}/`)
  })

  it('runs that bundle on Ubuntu 24.04 (glibc 2.39) with the Vulkan loader and the graphics driver capability', () => {
    expect(dockerfile).toMatch(/^RUN node infra\/bundle-worker\.mjs dist\/execute-shards\.mjs/m)
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/execute-shards\.mjs"\]$/m)
    expect(dockerfile).toMatch(/^FROM ubuntu:24\.04$/m)
    expect(dockerfile).toMatch(/apt-get install [^\n]*libvulkan1/)
    expect(dockerfile).toContain(`NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES}`)
    expect(dockerfile).toMatch(/^USER ubuntu$/m)
  })
})
