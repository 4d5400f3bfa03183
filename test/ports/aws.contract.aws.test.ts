/**
 * The port contracts against the AWS adapters, through the configured endpoints (DynamoDB Local
 * and local-aws-sqs started by the globalSetup, or LocalStack / moto / a real account).
 */
import { afterAll, beforeAll, inject } from 'vitest'

import { DynamoKeyValueStore } from '../../shared/adapters/aws/dynamodb-kv-store.ts'
import { createTables, deleteResources } from '../../shared/adapters/aws/provision.ts'
import { sqsQueueFactory, testClients, uniquePrefix } from '../helpers/aws.ts'
import { kvStoreContract } from './kv-store.contract.ts'
import { queueContract } from './queue.contract.ts'

const target = inject('awsTarget')
const clients = testClients()
const prefix = uniquePrefix('contract')
const queues = sqsQueueFactory(clients, prefix)
const store = new DynamoKeyValueStore({ client: clients.dynamodb, prefix })

beforeAll(async () => {
  await createTables(clients.dynamodb, prefix)
})

afterAll(async () => {
  await queues.cleanup()
  await deleteResources(clients, prefix)
})

kvStoreContract(`DynamoDB adapter (${target.dynamodb})`, async () => ({ store, scope: prefix }))
// local-aws-sqs differs from SQS in two ways the suite names (see queue.contract.ts).
queueContract(`SQS adapter (${target.sqs})`, queues.make, target.local ? ['depth-counts-in-flight', 'fifo-group-unlocked'] : [])
