/**
 * `parevm start --backend aws`: the embedded cluster's store and queues on the AWS APIs of
 * whatever endpoint is configured (AWS_ENDPOINT_URL*, or the account of the usual credential
 * chain). Without --prefix the run gets fresh tables and queues under a new prefix, deleted
 * afterwards; with --prefix they are created if missing and kept.
 */
import { createAwsClients, configuredEndpoints } from '../../shared/adapters/aws/clients.ts'
import { checkPrefix, createResources, deleteResources, openBackend, type AwsBackend } from '../../shared/adapters/aws/provision.ts'
import { ConfigError } from '../../shared/errors.ts'

import type { ClusterOptions } from '../../shared/cluster/embedded.ts'

export interface CliAwsBackend {
  backend: AwsBackend
  backends: NonNullable<ClusterOptions['backends']>
  /** Where it runs, for the console. */
  description: string
  close(): Promise<void>
}

export async function openCliAwsBackend(options: { prefix?: string | undefined; env?: NodeJS.ProcessEnv } = {}): Promise<CliAwsBackend> {
  const env = options.env ?? process.env
  const endpoints = configuredEndpoints(env)
  const local = endpoints.dynamodb !== undefined || endpoints.sqs !== undefined
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (local ? 'us-east-1' : undefined)
  if (region === undefined) {
    throw new ConfigError('--backend aws: no AWS region and no endpoint configured', {
      hint: 'set AWS_REGION (and credentials) for an AWS account, or AWS_ENDPOINT_URL (LocalStack, moto) / AWS_ENDPOINT_URL_DYNAMODB + AWS_ENDPOINT_URL_SQS (DynamoDB Local, local-aws-sqs) for local servers',
    })
  }
  const fresh = options.prefix === undefined
  const prefix = options.prefix ?? `parevm-run-${Date.now().toString(36)}`
  checkPrefix(prefix)
  const clients = createAwsClients({ region })
  try {
    await createResources(clients, prefix)
  } catch (error) {
    throw new ConfigError(`--backend aws: could not create tables and queues under prefix ${prefix}: ${(error as Error).message}`, {
      hint: local ? `is the server at ${endpoints.dynamodb ?? endpoints.sqs} running?` : 'check credentials and permissions (dynamodb:CreateTable, sqs:CreateQueue)',
      cause: error,
    })
  }
  const backend = await openBackend(clients, prefix)
  return {
    backend,
    backends: { kv: backend.kv, ingress: backend.queues.ingress, shardQueue: backend.queues.shards, doneQueue: backend.queues.done, deadLetter: backend.deadLetters.ingress },
    description: `${local ? `DynamoDB ${endpoints.dynamodb ?? '(AWS)'}, SQS ${endpoints.sqs ?? '(AWS)'}` : `AWS ${region}`}, prefix ${prefix}${fresh ? ' (deleted after the run)' : ''}`,
    close: async () => {
      if (fresh) await deleteResources(clients, prefix)
      clients.dynamodb.destroy()
      clients.sqs.destroy()
    },
  }
}
