/**
 * The ingress function (functions/ingress.ts): a Lambda function fed by the ingress queue through
 * an SQS event source with partial batch responses; it judges each ingress message (decode,
 * sender recovery with the native secp256k1 binding bundled as for the sequencer, stateless
 * checks), records rejections and forwards accepted transactions to the decoded queue: an
 * invocation's transactions (all of its batch's messages') packed into as few decoded messages as
 * fit, so a larger batch means fewer messages for the sequencer to receive and delete.
 *
 * Concurrency is bounded on the event source (`maxConcurrency`), not by reserved concurrency: a
 * reservation below what the SQS pollers start throttles invocations, and throttled batches count
 * receives until they land in the dead-letter queue; the event source's maximum concurrency
 * simply polls less.
 */
import { Duration } from 'aws-cdk-lib'
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources'
import { Construct } from 'constructs'

import { ParevmError } from '../../shared/errors.ts'
import { EngineFunction } from './engine-function.ts'

import type { IQueue } from 'aws-cdk-lib/aws-sqs'

export interface IngressFunctionProps {
  entry: string
  environment: Record<string, string>
  ingressQueue: IQueue
  /** Visibility timeout of the ingress queue: the function must finish within it. */
  ingressQueueVisibilityTimeoutSec: number
  /** Most concurrent invocations the event source starts (2..1000). */
  maxConcurrency: number
  timeout?: Duration
  memorySizeMb?: number
  /** Messages per invocation (1..10 for a standard queue without a batching window). */
  batchSize?: number
}

export function checkIngressFunctionProps(props: IngressFunctionProps): void {
  const problems: string[] = []
  const timeoutSec = (props.timeout ?? Duration.seconds(30)).toSeconds()
  if (timeoutSec > props.ingressQueueVisibilityTimeoutSec) {
    problems.push(`timeout (${timeoutSec} s) must not exceed the ingress queue's visibility timeout (${props.ingressQueueVisibilityTimeoutSec} s), or a running batch is delivered twice`)
  }
  const batch = props.batchSize ?? 10
  if (!Number.isInteger(batch) || batch < 1 || batch > 10) problems.push(`batchSize must be 1..10 (got ${batch})`)
  if (!Number.isInteger(props.maxConcurrency) || props.maxConcurrency < 2 || props.maxConcurrency > 1000) problems.push(`maxConcurrency must be 2..1000 (got ${props.maxConcurrency})`)
  if (problems.length > 0) throw new ParevmError(`invalid ingress function properties: ${problems.join('; ')}`)
}

export class IngressFunction extends Construct {
  readonly engine: EngineFunction
  readonly eventSource: SqsEventSource

  constructor(scope: Construct, id: string, props: IngressFunctionProps) {
    super(scope, id)
    checkIngressFunctionProps(props)
    this.engine = new EngineFunction(this, 'Engine', {
      entry: props.entry,
      description: 'parevm ingress: ingress messages -> rejection records and decoded transactions',
      // One vCPU: sender recovery (native secp256k1) and keccak are the work.
      memorySizeMb: props.memorySizeMb ?? 1769,
      timeout: props.timeout ?? Duration.seconds(30),
      environment: props.environment,
    })
    this.eventSource = new SqsEventSource(props.ingressQueue, {
      batchSize: props.batchSize ?? 10,
      reportBatchItemFailures: true,
      maxConcurrency: props.maxConcurrency,
    })
    this.engine.function.addEventSource(this.eventSource)
  }
}
