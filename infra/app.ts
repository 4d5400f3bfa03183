/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy -c shards=16 ...`; cdk.json runs it with tsx).
 * Parameters come from CDK context and are validated before anything is built. The stack is
 * environment-agnostic: account and region are those of the credentials `cdk deploy` uses.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

import { App } from 'aws-cdk-lib'

import { ParevmError } from '../shared/errors.ts'
import { ClusterStack } from './cluster-stack.ts'
import { readDeployConfig } from './config.ts'
import { addSecurityChecks } from './nag.ts'

export interface CreateAppOptions {
  /** Context values (as `-c key=value` would give them). */
  context?: Record<string, unknown>
  outdir?: string
  /** Run cdk-nag's AwsSolutions checks during synthesis (default true). */
  securityChecks?: boolean
  /** aws-cdk-lib's built-in CloudFormation validation (default true; tests of single resources turn it off for speed). */
  cloudFormationValidation?: boolean
}

/**
 * Feature flags the stack relies on, set here so that `cdk synth` and the tests (which build the
 * app in-process, without cdk.json) agree. Context from the CLI still takes precedence.
 */
export const FEATURE_FLAGS: Readonly<Record<string, unknown>> = {
  // The ECS instance role loses logs:* on '*': the awslogs driver uses the task execution role.
  '@aws-cdk/aws-ecs:reduceEc2FargateCloudWatchPermissions': true,
}

export function createApp(options: CreateAppOptions = {}): { app: App; stack: ClusterStack } {
  const app = new App({
    context: { ...FEATURE_FLAGS, ...options.context },
    ...(options.outdir !== undefined ? { outdir: options.outdir } : {}),
    ...(options.cloudFormationValidation === false ? { builtinCloudFormationValidation: false } : {}),
  })
  if (options.securityChecks !== false) addSecurityChecks(app)
  const config = readDeployConfig((key) => app.node.tryGetContext(key))
  const stack = new ClusterStack(app, 'Cluster', {
    config,
    stackName: `${config.prefix}-cluster`,
    description: `parevm: parallel EVM execution cluster (prefix ${config.prefix}, ${config.shards} shards, ${config.minWorkers}..${config.maxWorkers} ${config.instanceType} workers${config.ingressFunction ? `, ingress function (up to ${config.ingressConcurrency} concurrent)` : ""})`,
  })
  return { app, stack }
}

const invokedAs = process.argv[1]
if (invokedAs !== undefined && import.meta.url === pathToFileURL(resolve(invokedAs)).href) {
  try {
    createApp().app.synth()
  } catch (error) {
    if (error instanceof ParevmError) {
      process.stderr.write(`${error.describe()}\n`)
      process.exit(1)
    }
    throw error
  }
}
