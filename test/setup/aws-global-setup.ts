/**
 * vitest globalSetup of the `aws` project (test files named *.aws.test.ts). When no endpoint is
 * configured (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS), it starts
 * DynamoDB Local and local-aws-sqs on free loopback ports and points the SDK at them through
 * those variables (test workers inherit them); teardown stops both by PID, also when tests fail.
 * With an endpoint configured (LocalStack, another emulator, a real account), it starts nothing
 * and the same tests run there.
 */
import { startLocalAws, type LocalAws } from './local-aws.ts'

import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    awsTarget: { local: boolean; dynamodb: string; sqs: string }
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = process.env
  const configured = env.AWS_ENDPOINT_URL !== undefined || env.AWS_ENDPOINT_URL_DYNAMODB !== undefined || env.AWS_ENDPOINT_URL_SQS !== undefined
  let local: LocalAws | undefined
  if (!configured) {
    local = await startLocalAws()
    env.AWS_ENDPOINT_URL_DYNAMODB = local.endpoints.dynamodb
    env.AWS_ENDPOINT_URL_SQS = local.endpoints.sqs
    env.AWS_REGION ??= 'us-east-1'
    env.AWS_ACCESS_KEY_ID ??= 'test'
    env.AWS_SECRET_ACCESS_KEY ??= 'test'
    // The SDK warns on Node < 22 (Lambda runs 24); the tests run on the machine's Node.
    env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  }
  project.provide('awsTarget', {
    local: local !== undefined,
    dynamodb: env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL ?? `AWS (${env.AWS_REGION ?? 'default region'})`,
    sqs: env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL ?? `AWS (${env.AWS_REGION ?? 'default region'})`,
  })
  return async () => {
    await local?.stop()
  }
}
