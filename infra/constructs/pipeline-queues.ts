/**
 * The SQS queues of shared/resources.ts, each with its own dead-letter queue: server-side
 * encryption (SQS-managed keys, so consumers need no KMS grants), TLS-only access, and a
 * redrive policy with the definition's bounded maxReceiveCount; retention and long-poll wait
 * from the definitions. Dead-letter queues keep messages for DEAD_LETTER_RETENTION_SEC.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs'
import { Construct } from 'constructs'

import { ParevmError } from '../../shared/errors.ts'
import { ALL_QUEUE_ROLES, DEAD_LETTER_RETENTION_SEC, QUEUES, queueName, type QueueRole } from '../../shared/resources.ts'

export const QUEUE_ROLES: readonly QueueRole[] = ALL_QUEUE_ROLES

/** SQS's default message retention, where a definition names none. */
const DEFAULT_RETENTION_SEC = 4 * 24 * 60 * 60

/** SQS allows visibility timeouts of 0..43,200 s, 1..1,000 receives before redrive, 60 s..14 days of retention, 0..20 s of long polling. */
export function checkQueueDefinitions(): void {
  const problems: string[] = []
  for (const role of QUEUE_ROLES) {
    const def = QUEUES[role]
    if (!Number.isInteger(def.visibilityTimeoutSec) || def.visibilityTimeoutSec < 0 || def.visibilityTimeoutSec > 43_200) {
      problems.push(`${role}.visibilityTimeoutSec must be 0..43200 (got ${def.visibilityTimeoutSec})`)
    }
    if (!Number.isInteger(def.maxReceiveCount) || def.maxReceiveCount < 1 || def.maxReceiveCount > 1000) {
      problems.push(`${role}.maxReceiveCount must be 1..1000 (got ${def.maxReceiveCount})`)
    }
    const retention = def.retentionSec ?? DEFAULT_RETENTION_SEC
    if (!Number.isInteger(retention) || retention < 60 || retention > 1_209_600) problems.push(`${role}.retentionSec must be 60..1209600 (got ${retention})`)
    const wait = def.receiveWaitSec ?? 0
    if (!Number.isInteger(wait) || wait < 0 || wait > 20) problems.push(`${role}.receiveWaitSec must be 0..20 (got ${wait})`)
  }
  if (problems.length > 0) {
    throw new ParevmError(`queue definitions in shared/resources.ts are invalid: ${problems.join('; ')}`, { hint: 'fix QUEUES in shared/resources.ts' })
  }
}

export interface PipelineQueue {
  queue: Queue
  deadLetter: Queue
}

export interface PipelineQueuesProps {
  /** Physical names are from queueName(prefix, role) (shared/resources.ts). */
  prefix: string
}

export class PipelineQueues extends Construct {
  readonly queues: Readonly<Record<QueueRole, PipelineQueue>>

  constructor(scope: Construct, id: string, props: PipelineQueuesProps) {
    super(scope, id)
    checkQueueDefinitions()
    const queues = {} as Record<QueueRole, PipelineQueue>
    for (const role of QUEUE_ROLES) {
      const def = QUEUES[role]
      const deadLetter = new Queue(this, `${role}-dlq`, {
        queueName: queueName(props.prefix, role, true),
        ...(def.fifo ? { fifo: true } : {}),
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.seconds(DEAD_LETTER_RETENTION_SEC),
        removalPolicy: RemovalPolicy.DESTROY,
      })
      const queue = new Queue(this, role, {
        queueName: queueName(props.prefix, role),
        ...(def.fifo ? { fifo: true } : {}),
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        visibilityTimeout: Duration.seconds(def.visibilityTimeoutSec),
        retentionPeriod: Duration.seconds(def.retentionSec ?? DEFAULT_RETENTION_SEC),
        receiveMessageWaitTime: Duration.seconds(def.receiveWaitSec ?? 0),
        deadLetterQueue: { queue: deadLetter, maxReceiveCount: def.maxReceiveCount },
        removalPolicy: RemovalPolicy.DESTROY,
      })
      queues[role] = { queue, deadLetter }
    }
    this.queues = queues
  }

  queue(role: QueueRole): Queue {
    return this.queues[role].queue
  }

  deadLetter(role: QueueRole): Queue {
    return this.queues[role].deadLetter
  }
}
