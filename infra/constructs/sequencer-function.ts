/**
 * The sequencer: one Lambda function that plans blocks from the ingress queue, which it
 * receives from itself (functions/sequence-block.ts: it acknowledges a message only once its
 * transaction is in a stored plan or rejected, so no event source mapping). Blocks are planned
 * one after another, so it runs as a singleton (reserved concurrency 1), started every minute by
 * an EventBridge schedule. An invocation plans until the ingress queue stays empty or its time
 * is nearly up; under load it runs for the whole timeout (15 minutes) and a start that finds it
 * still running is throttled and dropped after a minute (no pile-up of starts).
 */
import { Duration } from 'aws-cdk-lib'
import { Rule, Schedule } from 'aws-cdk-lib/aws-events'
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets'
import { Construct } from 'constructs'

import { EngineFunction } from './engine-function.ts'

export interface SequencerFunctionProps {
  entry: string
  environment: Record<string, string>
  /** Function timeout: the length of one planning session (at most 900 s). */
  timeout?: Duration
  memorySizeMb?: number
}

export class SequencerFunction extends Construct {
  readonly engine: EngineFunction
  readonly schedule: Rule

  constructor(scope: Construct, id: string, props: SequencerFunctionProps) {
    super(scope, id)
    this.engine = new EngineFunction(this, 'Engine', {
      entry: props.entry,
      description: 'parevm sequencer: ingress queue -> block plans and shard messages',
      // One vCPU for sender recovery and prediction.
      memorySizeMb: props.memorySizeMb ?? 1769,
      timeout: props.timeout ?? Duration.minutes(15),
      environment: props.environment,
      reservedConcurrency: 1,
    })
    // Asynchronous starts: a throttled one (the singleton is busy) is not retried for hours.
    this.engine.function.configureAsyncInvoke({ maxEventAge: Duration.minutes(1), retryAttempts: 0 })
    this.schedule = new Rule(this, 'EveryMinute', {
      description: 'starts the parevm sequencer (a singleton: overlapping starts are throttled)',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(this.engine.function, { retryAttempts: 0 })],
    })
  }
}
