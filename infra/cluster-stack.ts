/**
 * The parevm cluster in one stack: state tables and pipeline queues (from shared/resources.ts),
 * the sequencer and coordinator functions, the GPU worker service, the JSON-RPC function behind
 * a function URL, the ingress function when `ingressFunction` is on, the dashboard and alarms.
 * One stack keeps `cdk deploy` / `cdk destroy` a single step and avoids cross-stack exports
 * between resources that always change together.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib'
import { Construct } from 'constructs'

import { PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam'

import { STARTUP_TABLES, STARTUP_TABLE_ACTIONS, TABLE_READ_ACTIONS, TABLE_WRITE_ACTIONS, deployedAccess, type Role, type RoleAccess } from './access.ts'
import { CoordinatorFunction } from './constructs/coordinator-function.ts'
import { IngressFunction } from './constructs/ingress-function.ts'
import { ClusterMonitoring } from './constructs/cluster-monitoring.ts'
import { PipelineQueues, QUEUE_ROLES } from './constructs/pipeline-queues.ts'
import { RpcFunction } from './constructs/rpc-function.ts'
import { SequencerFunction } from './constructs/sequencer-function.ts'
import { StateTables } from './constructs/state-tables.ts'
import { WorkerNetwork } from './constructs/worker-network.ts'
import { WorkerService } from './constructs/worker-service.ts'
import { WORKER_HEALTH, metricCatalog, runtimeEnvironment } from './runtime-contract.ts'
import { ALL_TABLES, QUEUES } from '../shared/resources.ts'
import { InvariantError } from '../shared/errors.ts'

import type { IVpc } from 'aws-cdk-lib/aws-ec2'
import type { DeployConfig } from './config.ts'

/** The entry points (agreed with functions/); relative to the repository root. */
export const ENTRIES = {
  sequencer: 'functions/sequence-block.ts',
  coordinator: 'functions/seal-block.ts',
  worker: 'functions/execute-shards.ts',
  rpc: 'functions/rpc.ts',
  ingress: 'functions/ingress.ts',
} as const

export interface ClusterStackProps extends StackProps {
  config: DeployConfig
}

export class ClusterStack extends Stack {
  readonly tables: StateTables
  readonly queues: PipelineQueues
  readonly sequencer: SequencerFunction
  readonly coordinator: CoordinatorFunction
  readonly workers: WorkerService
  readonly rpc: RpcFunction
  /** The ingress function, deployed with `ingressFunction` on (then the ingress queue's one consumer). */
  readonly ingress: IngressFunction | undefined
  readonly monitoring: ClusterMonitoring

  constructor(scope: Construct, id: string, props: ClusterStackProps) {
    super(scope, id, props)
    const { config } = props

    this.tables = new StateTables(this, 'Tables', {
      prefix: config.prefix,
      removalPolicy: config.dataRemoval === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    })
    this.queues = new PipelineQueues(this, 'Queues', { prefix: config.prefix })

    const environment = (role: Role) =>
      runtimeEnvironment(role, {
        config,
        region: this.region,
        queueUrls: Object.fromEntries(QUEUE_ROLES.map((r) => [r, this.queues.queue(r).queueUrl])) as Record<(typeof QUEUE_ROLES)[number], string>,
      })

    this.sequencer = new SequencerFunction(this, 'Sequencer', { entry: ENTRIES.sequencer, environment: environment('sequencer') })
    this.coordinator = new CoordinatorFunction(this, 'Coordinator', {
      entry: ENTRIES.coordinator,
      environment: environment('coordinator'),
      doneQueue: this.queues.queue('done'),
      doneQueueVisibilityTimeoutSec: QUEUES.done.visibilityTimeoutSec,
    })

    this.rpc = new RpcFunction(this, 'Rpc', { entry: ENTRIES.rpc, environment: environment('rpc') })

    // Who consumes the ingress queue, decided in one place: the ingress function exists exactly
    // when its role does, and then the sequencer's grants and PAREVM_INTAKE_SOURCE name the
    // decoded queue instead.
    const access = deployedAccess(config)
    this.ingress =
      access.ingress === undefined
        ? undefined
        : new IngressFunction(this, 'Ingress', {
            entry: ENTRIES.ingress,
            environment: environment('ingress'),
            ingressQueue: this.queues.queue('ingress'),
            ingressQueueVisibilityTimeoutSec: QUEUES.ingress.visibilityTimeoutSec,
            maxConcurrency: config.ingressConcurrency,
          })

    const network = new WorkerNetwork(this, 'Network')
    this.workers = new WorkerService(this, 'Workers', {
      // aws-cdk-lib's classes declare optional members as `T | undefined`: under exactOptionalPropertyTypes a Vpc is not an IVpc.
      vpc: network.vpc as IVpc,
      clusterName: `${config.prefix}-workers`,
      instanceType: config.instanceType,
      minWorkers: config.minWorkers,
      maxWorkers: config.maxWorkers,
      backlogPerWorker: config.backlogPerWorker,
      shardQueue: this.queues.queue('shards'),
      ...(config.workerImage !== undefined ? { imageUri: config.workerImage } : {}),
      environment: environment('worker'),
      healthPort: WORKER_HEALTH.port,
      healthPath: WORKER_HEALTH.path,
      // SIGTERM drain: the worker finishes its shard; ECS allows at most 120 s.
      stopTimeoutSec: Math.min(120, QUEUES.shards.visibilityTimeoutSec),
    })

    const grantees: Record<Role, IGrantable | undefined> = {
      sequencer: this.sequencer.engine.function,
      coordinator: this.coordinator.engine.function,
      worker: this.workers.taskDefinition.taskRole,
      rpc: this.rpc.engine.function,
      ingress: this.ingress?.engine.function,
    }
    for (const [role, grantee] of Object.entries(grantees) as [Role, IGrantable | undefined][]) {
      const granted = access[role]
      if ((granted === undefined) !== (grantee === undefined)) throw new InvariantError(`role ${role}: ${granted === undefined ? 'deployed without grants' : 'granted but not deployed'}`)
      if (granted !== undefined && grantee !== undefined) this.grantRole(granted, grantee)
    }
    // Metrics are Embedded Metric Format log lines: no cloudwatch:PutMetricData anywhere.

    this.monitoring = new ClusterMonitoring(this, 'Monitoring', {
      dashboardName: `${config.prefix}-cluster`,
      queues: this.queues.queues,
      functions: {
        sequencer: this.sequencer.engine.function,
        coordinator: this.coordinator.engine.function,
        rpc: this.rpc.engine.function,
        ...(this.ingress !== undefined ? { ingress: this.ingress.engine.function } : {}),
      },
      workers: { clusterName: this.workers.cluster.clusterName, serviceName: this.workers.service.serviceName, minWorkers: config.minWorkers, maxWorkers: config.maxWorkers },
      metrics: metricCatalog(config),
      logGroups: {
        sequencer: this.sequencer.engine.logGroup,
        coordinator: this.coordinator.engine.logGroup,
        worker: this.workers.logGroup,
        rpc: this.rpc.engine.logGroup,
        ...(this.ingress !== undefined ? { ingress: this.ingress.engine.logGroup } : {}),
      },
      // Ingress (or decoded, with the ingress function) waits for the next planning round (the
      // block interval); the ingress function takes the ingress queue within seconds; shards and
      // completions should move within seconds. Without the ingress function the decoded queue
      // is unused: a message there is stranded (the switch was turned off before it drained).
      oldestMessageAgeSecMax: { ingress: config.ingressFunction ? 120 : 300, decoded: 300, shards: 300, done: 120 },
      ...(config.alarmEmail !== undefined ? { alarmEmail: config.alarmEmail } : {}),
    })

    for (const role of QUEUE_ROLES) {
      new CfnOutput(this, `${role}QueueUrl`, { value: this.queues.queue(role).queueUrl, description: `URL of the ${role} queue` })
      new CfnOutput(this, `${role}DeadLetterQueueUrl`, { value: this.queues.deadLetter(role).queueUrl, description: `URL of the ${role} dead-letter queue` })
    }
    for (const table of ALL_TABLES) {
      new CfnOutput(this, `${table}TableName`, { value: this.tables.table(table).tableName, description: `name of the ${table} table` })
    }
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${this.monitoring.dashboard.dashboardName}`,
      description: 'CloudWatch dashboard',
    })
    new CfnOutput(this, 'RpcUrl', { value: this.rpc.url.url, description: 'Ethereum JSON-RPC endpoint (HTTPS; GET shows the live page)' })
    new CfnOutput(this, 'WorkerClusterName', { value: this.workers.cluster.clusterName, description: 'ECS cluster of the GPU workers' })
  }

  /**
   * Grants exactly a role's access (deployedAccess: DynamoDB actions on the named tables, SQS
   * consume/send on the named queues) plus the start-up check: DescribeTable on the meta table.
   */
  private grantRole(access: RoleAccess, grantee: IGrantable): void {
    for (const table of access.read) this.tables.table(table).grant(grantee, ...TABLE_READ_ACTIONS)
    for (const table of access.write) this.tables.table(table).grant(grantee, ...TABLE_WRITE_ACTIONS)
    for (const queue of access.consume) this.queues.queue(queue).grantConsumeMessages(grantee)
    for (const queue of access.send) this.queues.queue(queue).grantSendMessages(grantee)
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: [...STARTUP_TABLE_ACTIONS], resources: STARTUP_TABLES.map((t) => this.tables.table(t).tableArn) }),
    )
  }
}
