/**
 * The Ethereum JSON-RPC endpoint: one Lambda function (functions/rpc.ts, the handler of
 * `parevm node`) behind a Lambda function URL over HTTPS. A public JSON-RPC endpoint has no
 * caller authentication (as any public node); reserved concurrency throttles it (requests
 * beyond it get HTTP 429), so a flood cannot starve the pipeline's functions or run up costs
 * without bound.
 */
import { Duration } from 'aws-cdk-lib'
import { FunctionUrlAuthType, HttpMethod, type FunctionUrl } from 'aws-cdk-lib/aws-lambda'
import { Construct } from 'constructs'

import { EngineFunction } from './engine-function.ts'

export interface RpcFunctionProps {
  entry: string
  environment: Record<string, string>
  /** Most concurrent requests (the throttle). */
  reservedConcurrency?: number
  memorySizeMb?: number
}

export class RpcFunction extends Construct {
  readonly engine: EngineFunction
  readonly url: FunctionUrl

  constructor(scope: Construct, id: string, props: RpcFunctionProps) {
    super(scope, id)
    this.engine = new EngineFunction(this, 'Engine', {
      entry: props.entry,
      description: 'parevm rpc: Ethereum JSON-RPC over the tables and the ingress queue',
      memorySizeMb: props.memorySizeMb ?? 1024,
      // eth_call and eth_getLogs over a wide range take the longest.
      timeout: Duration.seconds(30),
      environment: props.environment,
      reservedConcurrency: props.reservedConcurrency ?? 20,
    })
    this.url = this.engine.function.addFunctionUrl({
      authType: FunctionUrlAuthType.NONE,
      cors: { allowedOrigins: ['*'], allowedMethods: [HttpMethod.GET, HttpMethod.POST], allowedHeaders: ['content-type'], maxAge: Duration.minutes(10) },
    })
  }
}
