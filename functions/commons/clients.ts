/**
 * The AWS backend of an entry point: SDK clients (endpoints from AWS_ENDPOINT_URL* when set),
 * the DynamoDB store and the SQS queues of the configured prefix. Opened once per process
 * (a Lambda container or an ECS task) and reused across invocations.
 */
import { createAwsClients } from '../../shared/adapters/aws/clients.ts'
import { openBackend, type AwsBackend, type AwsClients } from '../../shared/adapters/aws/provision.ts'
import { queueUrls, type CommonEnv } from './config.ts'

import type { QueueRole } from '../../shared/resources.ts'

export interface AwsRuntime {
  clients: AwsClients
  backend: AwsBackend
}

/**
 * `queues`: the queues this role uses, looked up (and so checked) at start; the others are
 * looked up only if ever used, so each role needs access to its own queues only.
 */
export async function openAwsRuntime(env: CommonEnv, options: { checkTables?: boolean; queues: readonly QueueRole[] }): Promise<AwsRuntime> {
  const clients = createAwsClients({ region: env.AWS_REGION })
  const backend = await openBackend(clients, env.PAREVM_PREFIX, { queueUrls: queueUrls(env), checkTables: options.checkTables ?? false, resolve: options.queues })
  return { clients, backend }
}

/** Throttled or unprocessed DynamoDB work the adapter has retried so far (a metric's source). */
export function storeRetries(backend: AwsBackend): number {
  // A backend over another store (tests substitute one) has no adapter statistics.
  const s = (backend.kv as Partial<AwsBackend['kv']>).stats
  if (s?.batchGet === undefined) return 0
  return s.batchGet.retries + s.transact.retries + s.batchWrite.retries + s.query.retries
}

/** Once per process: a failed start is not cached, so the next invocation tries again. */
export function once<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined
  return () => {
    value ??= make().catch((error: unknown) => {
      value = undefined
      throw error
    })
    return value
  }
}
