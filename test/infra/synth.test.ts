/**
 * The app as `npx cdk synth` builds it, through the CDK API: the Lambda bundles made by esbuild
 * (no Docker), aws-cdk-lib's built-in CloudFormation validation and cdk-nag's AwsSolutions
 * checks (a finding that is not acknowledged fails the synthesis). Then the output is checked
 * where it matters at run time: each Lambda asset loads on its own, outside the repository, with
 * the native secp256k1 binding it carries; the worker image's build context holds what its
 * Dockerfile copies and nothing heavy.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { createApp } from '../../infra/app.ts'
import { WORKER_DOCKERFILE } from '../../infra/constructs/worker-service.ts'

import type { CloudAssembly } from 'aws-cdk-lib/cx-api'

interface TemplateResource {
  Type: string
  Properties?: Record<string, unknown>
  Metadata?: Record<string, string>
}

const scratch = mkdtempSync(join(tmpdir(), 'parevm-synth-'))
const outdir = join(scratch, 'cdk.out')
let assembly: CloudAssembly
let resources: Record<string, TemplateResource>

beforeAll(() => {
  const started = performance.now()
  // Asset metadata (the asset's directory on each resource), as the CDK CLI requests it.
  // With the ingress function on, so that every function the app can deploy is bundled and checked.
  const { app, stack } = createApp({ outdir, context: { 'aws:cdk:enable-asset-metadata': true, ingressFunction: 'true' } })
  assembly = app.synth()
  resources = assembly.getStackArtifact(stack.artifactId).template.Resources
  // For the record (not asserted): the time `cdk synth` spends in the app.
  console.info(`synthesized the app with bundling, CloudFormation validation and cdk-nag in ${Math.round(performance.now() - started)} ms`)
})

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

function assetDir(resource: TemplateResource): string {
  const path = resource.Metadata?.['aws:asset:path']
  if (path === undefined) throw new Error('resource has no asset metadata')
  return join(outdir, path)
}

describe('cdk synth', () => {
  it('passes cdk-nag (AwsSolutions) with every finding fixed or acknowledged', () => {
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[] }
    const nag = report.pluginReports.find((p) => p.pluginName === 'AwsSolutions')
    expect(nag?.conclusion).toBe('success')
    expect(nag?.violations).toEqual([])
  })

  it('bundles each Lambda function into an ESM asset that loads outside the repository, native secp256k1 included', () => {
    const functions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function')
    // The sequencer, the coordinator, the JSON-RPC function and the ingress function.
    expect(functions).toHaveLength(4)
    for (const fn of functions) {
      const dir = assetDir(fn)
      expect(readdirSync(dir).sort()).toEqual(['index.mjs', 'index.mjs.map', 'node_modules'])
      // A copy away from the repository's node_modules, as Lambda sees it under /var/task.
      const isolated = mkdtempSync(join(scratch, 'fn-'))
      cpSync(dir, isolated, { recursive: true })
      const requireHere = createRequire(join(isolated, 'index.mjs'))
      expect(requireHere.resolve('secp256k1/bindings').startsWith(isolated)).toBe(true)
      const native = requireHere('secp256k1/bindings') as { ecdsaRecover: unknown; publicKeyCreate: (key: Uint8Array, compressed: boolean) => Uint8Array }
      const key = new Uint8Array(32).fill(7)
      expect(native.publicKeyCreate(key, false)).toHaveLength(65)
      // Loaded by plain Node (as Lambda does), in its own process: every import resolves.
      const probe = `const m = await import(${JSON.stringify(pathToFileURL(join(isolated, 'index.mjs')).href)}); process.stdout.write(typeof m.handler)`
      expect(execFileSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: isolated, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })).toBe('function')
    }
  })

  it("stages the worker image's build context with what the Dockerfile copies, and nothing heavy", () => {
    const taskDefinition = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')
    expect(taskDefinition).toBeDefined()
    const manifest = JSON.parse(readFileSync(join(outdir, `${readdirSync(outdir).find((f) => f.endsWith('.assets.json'))}`), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile?: string; platform?: string } }>
    }
    const images = Object.values(manifest.dockerImages)
    expect(images).toHaveLength(1)
    const { source } = images[0]!
    expect(source.dockerFile).toBe(WORKER_DOCKERFILE)
    expect(source.platform).toBe('linux/amd64')
    const context = join(outdir, source.directory)
    const dockerfile = readFileSync(join(context, WORKER_DOCKERFILE), 'utf8')
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/))
    expect(copied.length).toBeGreaterThan(3)
    for (const source of copied) expect({ source, present: existsSync(join(context, source)) }).toEqual({ source, present: true })
    for (const absent of ['node_modules', 'test', 'cdk.out', 'dist', '.git']) expect({ absent, present: existsSync(join(context, absent)) }).toEqual({ absent, present: false })
  })
})
