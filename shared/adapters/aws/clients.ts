/**
 * AWS SDK clients for the adapters. Endpoints come from the SDK's own configuration:
 * AWS_ENDPOINT_URL, or per service AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS (LocalStack,
 * DynamoDB Local, local-aws-sqs, moto), else the region's AWS endpoints. Region and credentials
 * also come from the usual chain (AWS_REGION, AWS_ACCESS_KEY_ID, profiles, roles).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { SQSClient } from '@aws-sdk/client-sqs'

import type { AwsClients } from './provision.ts'

export interface AwsClientOptions {
  region?: string
  /** Explicit endpoints (otherwise the SDK's environment variables decide). */
  endpoints?: { dynamodb?: string; sqs?: string }
  /** Attempts of the SDK's own retry of one call (default 3); the adapters add bounded retries above it. */
  maxAttempts?: number
}

/** The endpoint variables the SDK honours, for messages and test setup. */
export const ENDPOINT_VARIABLES = ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_SQS'] as const

export function configuredEndpoints(env: NodeJS.ProcessEnv = process.env): { dynamodb: string | undefined; sqs: string | undefined } {
  return {
    dynamodb: env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL,
    sqs: env.AWS_ENDPOINT_URL_SQS ?? env.AWS_ENDPOINT_URL,
  }
}

export function createAwsClients(options: AwsClientOptions = {}): AwsClients {
  const common = {
    ...(options.region !== undefined ? { region: options.region } : {}),
    maxAttempts: options.maxAttempts ?? 3,
  }
  return {
    dynamodb: new DynamoDBClient({ ...common, ...(options.endpoints?.dynamodb !== undefined ? { endpoint: options.endpoints.dynamodb } : {}) }),
    sqs: new SQSClient({ ...common, ...(options.endpoints?.sqs !== undefined ? { endpoint: options.endpoints.sqs } : {}) }),
  }
}
