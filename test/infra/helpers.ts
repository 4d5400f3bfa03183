/** Helpers for the CDK tests: stacks that synthesize without bundling (fast), template queries. */
import { App, Stack } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'

/** An existing TypeScript entry for constructs that need one; bundling is skipped in these tests. */
export const ANY_ENTRY = 'functions/parevm.ts'

/**
 * A stack whose NodejsFunction assets are not bundled (`aws:cdk:bundling-stacks` = []) and
 * without aws-cdk-lib's built-in CloudFormation validation (a WebAssembly engine that takes
 * seconds to start): construct tests stay fast; test/infra/synth.test.ts synthesizes the real
 * app with both.
 */
export function testStack(): Stack {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false })
  return new Stack(app, 'Test')
}

export type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: unknown }>

export function resourcesOfType(template: Template, type: string): Resources {
  return template.findResources(type) as Resources
}

/** The logical id of the only resource of a type whose properties contain `match` (JSON substring). */
export function logicalIdOf(template: Template, type: string, match: string): string {
  const ids = Object.entries(resourcesOfType(template, type))
    .filter(([, r]) => JSON.stringify(r.Properties ?? {}).includes(match))
    .map(([id]) => id)
  if (ids.length !== 1) throw new Error(`expected one ${type} containing ${match}, found ${ids.length}: ${ids.join(', ')}`)
  return ids[0]!
}
