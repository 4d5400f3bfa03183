/** AWS test helpers: clients for the configured endpoints, throw-away prefixes and queues. */
import { randomBytes } from 'node:crypto'

import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs'

import { createAwsClients } from '../../shared/adapters/aws/clients.ts'
import { SqsQueue } from '../../shared/adapters/aws/sqs-queue.ts'

import type { AwsClients } from '../../shared/adapters/aws/provision.ts'
import type { QueueFixture, QueueSpec } from '../ports/queue.contract.ts'

/** Clients for whatever the endpoint variables point at (the globalSetup's local servers by default). */
export function testClients(): AwsClients {
  return createAwsClients({ maxAttempts: 3 })
}

/** A prefix no other test run uses (tables and queues are created under it and deleted after). */
export function uniquePrefix(label: string): string {
  return `t${label}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
}

/** Ad-hoc SQS queues for the queue contract, deleted by `cleanup`. */
export function sqsQueueFactory(clients: AwsClients, prefix: string): { make: (spec: QueueSpec) => Promise<QueueFixture>; cleanup: () => Promise<void> } {
  const urls: string[] = []
  let n = 0
  const create = async (name: string, attributes: Record<string, string>): Promise<string> => {
    const out = await clients.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))
    urls.push(out.QueueUrl!)
    return out.QueueUrl!
  }
  return {
    make: async (spec) => {
      const fifo = spec.fifo === true
      const suffix = fifo ? '.fifo' : ''
      const base = `${prefix}-q${++n}`
      const fifoAttrs: Record<string, string> = fifo ? { FifoQueue: 'true' } : {}
      const dlqUrl = await create(`${base}-dlq${suffix}`, fifoAttrs)
      const dlqArn = (await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!
      const url = await create(`${base}${suffix}`, {
        ...fifoAttrs,
        VisibilityTimeout: String(spec.visibilityTimeoutSec),
        ...(spec.maxReceiveCount !== undefined ? { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: spec.maxReceiveCount }) } : {}),
      })
      return {
        queue: new SqsQueue({ client: clients.sqs, name: `${base}${suffix}`, url, fifo }),
        deadLetter: new SqsQueue({ client: clients.sqs, name: `${base}-dlq${suffix}`, url: dlqUrl, fifo }),
      }
    },
    cleanup: async () => {
      for (const url of urls) await clients.sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => {})
    },
  }
}
