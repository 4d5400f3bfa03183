/**
 * The coordinator: a Lambda function fed by the done queue ("shard done" messages), reporting
 * partial batch failures so that one failed message does not redeliver its whole batch.
 */
import { Duration } from 'aws-cdk-lib'
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources'
import { Construct } from 'constructs'

import { ParevmError } from '../../shared/errors.ts'
import { EngineFunction } from './engine-function.ts'

import type { IQueue } from 'aws-cdk-lib/aws-sqs'

export interface CoordinatorFunctionProps {
  entry: string
  environment: Record<string, string>
  doneQueue: IQueue
  /** Visibility timeout of the done queue: the function must finish within it. */
  doneQueueVisibilityTimeoutSec: number
  timeout?: Duration
  memorySizeMb?: number
  /** Messages per invocation (1..10 for a standard queue without a batching window). */
  batchSize?: number
  /** Concurrent invocations the event source may start (2..1000). */
  maxConcurrency?: number
}

export function checkCoordinatorFunctionProps(props: CoordinatorFunctionProps): void {
  const problems: string[] = []
  const timeoutSec = (props.timeout ?? Duration.seconds(55)).toSeconds()
  if (timeoutSec > props.doneQueueVisibilityTimeoutSec) {
    problems.push(`timeout (${timeoutSec} s) must not exceed the done queue's visibility timeout (${props.doneQueueVisibilityTimeoutSec} s), or a running batch is delivered twice`)
  }
  const batch = props.batchSize ?? 10
  if (!Number.isInteger(batch) || batch < 1 || batch > 10) problems.push(`batchSize must be 1..10 (got ${batch})`)
  const concurrency = props.maxConcurrency ?? 2
  if (!Number.isInteger(concurrency) || concurrency < 2 || concurrency > 1000) problems.push(`maxConcurrency must be 2..1000 (got ${concurrency})`)
  if (problems.length > 0) throw new ParevmError(`invalid coordinator function properties: ${problems.join('; ')}`)
}

export class CoordinatorFunction extends Construct {
  readonly engine: EngineFunction

  constructor(scope: Construct, id: string, props: CoordinatorFunctionProps) {
    super(scope, id)
    checkCoordinatorFunctionProps(props)
    this.engine = new EngineFunction(this, 'Engine', {
      entry: props.entry,
      description: 'parevm coordinator: shard-done messages -> validation, re-execution, sealed blocks',
      // Two vCPUs and room for the trie cache: state root and re-execution are the serial path.
      memorySizeMb: props.memorySizeMb ?? 3008,
      timeout: props.timeout ?? Duration.seconds(55),
      environment: props.environment,
    })
    this.engine.function.addEventSource(
      new SqsEventSource(props.doneQueue, {
        batchSize: props.batchSize ?? 10,
        reportBatchItemFailures: true,
        maxConcurrency: props.maxConcurrency ?? 2,
      }),
    )
  }
}
