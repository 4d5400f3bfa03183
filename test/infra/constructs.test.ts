/**
 * One block per construct in infra/constructs/, asserting the CloudFormation it produces
 * (Template.fromStack(...).hasResourceProperties, no snapshots).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import { Match, Template } from 'aws-cdk-lib/assertions'
import { Queue } from 'aws-cdk-lib/aws-sqs'
import { describe, expect, it } from 'vitest'

import { ClusterMonitoring, type MetricCatalog } from '../../infra/constructs/cluster-monitoring.ts'
import { CoordinatorFunction, checkCoordinatorFunctionProps } from '../../infra/constructs/coordinator-function.ts'
import { EngineFunction, NATIVE_EXTERNALS } from '../../infra/constructs/engine-function.ts'
import { PipelineQueues } from '../../infra/constructs/pipeline-queues.ts'
import { SequencerFunction } from '../../infra/constructs/sequencer-function.ts'
import { StateTables } from '../../infra/constructs/state-tables.ts'
import { WorkerNetwork } from '../../infra/constructs/worker-network.ts'
import { NVIDIA_DRIVER_CAPABILITIES, WorkerService, checkWorkerServiceProps, type WorkerServiceProps } from '../../infra/constructs/worker-service.ts'
import { ParevmError } from '../../shared/errors.ts'
import { ALL_QUEUE_ROLES, ALL_TABLES, DEAD_LETTER_RETENTION_SEC, QUEUES, TABLES, queueName, tableName } from '../../shared/resources.ts'
import { ANY_ENTRY, logicalIdOf, resourcesOfType, testStack } from './helpers.ts'

import type { IVpc } from 'aws-cdk-lib/aws-ec2'
import type { IFunction } from 'aws-cdk-lib/aws-lambda'

describe('StateTables', () => {
  const stack = testStack()
  new StateTables(stack, 'Tables', { prefix: 'px' })
  const template = Template.fromStack(stack)

  it('creates every table of shared/resources.ts: on demand, point-in-time recovery, KMS encryption, pk/sk strings', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', ALL_TABLES.length)
    for (const table of ALL_TABLES) {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: tableName('px', table),
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        // SSEEnabled without a key: KMS with the AWS-managed key (aws/dynamodb).
        SSESpecification: { SSEEnabled: true, KMSMasterKeyId: Match.absent() },
        KeySchema: [
          { AttributeName: TABLES[table].partitionKey, KeyType: 'HASH' },
          { AttributeName: TABLES[table].sortKey, KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith([{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }]),
      })
    }
  })

  it('turns TTL on exactly where the definition names a TTL attribute (staged results, plans)', () => {
    const withTtl = ALL_TABLES.filter((t) => TABLES[t].ttlAttribute !== undefined)
    expect(withTtl).toEqual(expect.arrayContaining(['plans', 'staged']))
    for (const table of ALL_TABLES) {
      const def = TABLES[table]
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: tableName('px', table),
        TimeToLiveSpecification: def.ttlAttribute !== undefined ? { AttributeName: def.ttlAttribute, Enabled: true } : Match.absent(),
      })
    }
  })

  it('deletes the tables with the stack by default, retains them when asked', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', Properties: { TableName: 'px-state' } })
    const retained = testStack()
    new StateTables(retained, 'Tables', { prefix: 'px', removalPolicy: RemovalPolicy.RETAIN })
    Template.fromStack(retained).hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', Properties: { TableName: 'px-state' } })
  })
})

describe('PipelineQueues', () => {
  const stack = testStack()
  new PipelineQueues(stack, 'Queues', { prefix: 'px' })
  const template = Template.fromStack(stack)

  it('gives every queue of shared/resources.ts a dead-letter queue with the bounded maxReceiveCount', () => {
    template.resourceCountIs('AWS::SQS::Queue', ALL_QUEUE_ROLES.length * 2)
    for (const role of ALL_QUEUE_ROLES) {
      const def = QUEUES[role]
      const dlqId = logicalIdOf(template, 'AWS::SQS::Queue', `"QueueName":"${queueName('px', role, true)}"`)
      template.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: queueName('px', role),
        VisibilityTimeout: def.visibilityTimeoutSec,
        MessageRetentionPeriod: def.retentionSec ?? Match.anyValue(),
        ReceiveMessageWaitTimeSeconds: def.receiveWaitSec ?? 0,
        SqsManagedSseEnabled: true,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: def.maxReceiveCount },
      })
      template.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: queueName('px', role, true),
        MessageRetentionPeriod: DEAD_LETTER_RETENTION_SEC,
        SqsManagedSseEnabled: true,
        RedrivePolicy: Match.absent(),
      })
    }
  })

  it('denies every request that does not use TLS, on every queue', () => {
    const policies = resourcesOfType(template, 'AWS::SQS::QueuePolicy')
    expect(Object.keys(policies)).toHaveLength(ALL_QUEUE_ROLES.length * 2)
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: [Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })] },
    })
  })
})

describe('EngineFunction', () => {
  const stack = testStack()
  const engine = new EngineFunction(stack, 'Engine', { entry: ANY_ENTRY, description: 'test function', memorySizeMb: 1024, timeout: Duration.seconds(30), environment: { A: '1' } })
  const template = Template.fromStack(stack)

  it('runs the ESM bundle on the newest Node.js runtime, x86-64 (the secp256k1 prebuild), with its environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['x86_64'],
      Handler: 'index.handler',
      MemorySize: 1024,
      Timeout: 30,
      Environment: { Variables: { A: '1', NODE_OPTIONS: '--enable-source-maps' } },
      LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^EngineLogs') } },
    })
    expect(NATIVE_EXTERNALS).toContain('secp256k1')
  })

  it('has its own role: no managed policy, logs only to its own log group', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })] },
      ManagedPolicyArns: Match.absent(),
    })
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: [{ Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EngineLogs'), 'Arn'] } }] },
    })
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 })
    expect(engine.function.role).toBe(engine.role)
  })

  it('refuses a memory size Lambda does not offer', () => {
    expect(() => new EngineFunction(testStack(), 'E', { entry: ANY_ENTRY, description: 'x', memorySizeMb: 64, timeout: Duration.seconds(3), environment: {} })).toThrow(/memorySizeMb must be 128..10240/)
  })
})

describe('SequencerFunction', () => {
  const stack = testStack()
  new SequencerFunction(stack, 'Sequencer', { entry: ANY_ENTRY, environment: { X: 'y' } })
  const template = Template.fromStack(stack)

  it('is a singleton (reserved concurrency 1) with one vCPU', () => {
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 1, MemorySize: 1769, Environment: { Variables: Match.objectLike({ X: 'y' }) } })
  })

  it('is started every minute by a schedule, without retries of an overlapping start', () => {
    const fnId = Object.keys(resourcesOfType(template, 'AWS::Lambda::Function'))[0]!
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } })],
    })
    template.hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com' })
  })
})

describe('CoordinatorFunction', () => {
  const stack = testStack()
  const done = new Queue(stack, 'Done', { visibilityTimeout: Duration.seconds(60) })
  new CoordinatorFunction(stack, 'Coordinator', { entry: ANY_ENTRY, environment: {}, doneQueue: done, doneQueueVisibilityTimeoutSec: 60 })
  const template = Template.fromStack(stack)

  it('consumes the done queue with partial batch responses, bounded batch and concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Done'), 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    })
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 55, MemorySize: 3008 })
  })

  it('refuses a timeout longer than the queue visibility and out-of-range batching, all at once', () => {
    const bad = { entry: ANY_ENTRY, environment: {}, doneQueue: done, doneQueueVisibilityTimeoutSec: 60, timeout: Duration.seconds(90), batchSize: 11, maxConcurrency: 1 }
    let message = ''
    try {
      checkCoordinatorFunctionProps(bad)
    } catch (error) {
      expect(error).toBeInstanceOf(ParevmError)
      message = (error as Error).message
    }
    expect(message).toContain("timeout (90 s) must not exceed the done queue's visibility timeout (60 s)")
    expect(message).toContain('batchSize must be 1..10 (got 11)')
    expect(message).toContain('maxConcurrency must be 2..1000 (got 1)')
  })
})

describe('WorkerNetwork', () => {
  const stack = testStack()
  new WorkerNetwork(stack, 'Network')
  const template = Template.fromStack(stack)

  it('has one NAT gateway, private worker subnets in two zones and free gateway endpoints for DynamoDB and S3', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 1)
    template.resourceCountIs('AWS::EC2::Subnet', 4)
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('dynamodb')])] } })
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('s3')])] } })
  })

  it('logs rejected traffic', () => {
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT', LogDestinationType: 'cloud-watch-logs' })
  })
})

function workerStack(overrides: Partial<WorkerServiceProps> = {}) {
  const stack = testStack()
  const network = new WorkerNetwork(stack, 'Network')
  const shards = new Queue(stack, 'Shards')
  const workers = new WorkerService(stack, 'Workers', {
    vpc: network.vpc as IVpc,
    clusterName: 'px-workers',
    instanceType: 'g4dn.xlarge',
    minWorkers: 1,
    maxWorkers: 6,
    backlogPerWorker: 4,
    shardQueue: shards,
    environment: { QUEUE: 'q' },
    healthPort: 8080,
    ...overrides,
  })
  return { stack, workers, template: Template.fromStack(stack) }
}

describe('WorkerService', () => {
  const { template } = workerStack()

  it('launches the GPU instance type from the ECS GPU-optimised AMI, IMDSv2 only, encrypted disk', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        InstanceType: 'g4dn.xlarge',
        ImageId: { Ref: Match.stringLikeRegexp('amazonlinux2023gpurecommendedimageid') },
        MetadataOptions: Match.objectLike({ HttpTokens: 'required' }),
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: Match.objectLike({ Encrypted: true, VolumeType: 'gp3' }) }],
        Monitoring: { Enabled: true },
      }),
    })
    const parameters = template.toJSON().Parameters as Record<string, { Default?: string }>
    const ami = Object.values(parameters).find((p) => p.Default?.includes('/ecs/optimized-ami/amazon-linux-2023/gpu/'))
    expect(ami?.Default).toBe('/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id')
  })

  it('scales instances with an EC2 capacity provider (managed scaling and draining) up to maxWorkers', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MinSize: '0', MaxSize: '6' })
    template.hasResourceProperties('AWS::ECS::CapacityProvider', {
      AutoScalingGroupProvider: Match.objectLike({
        ManagedScaling: Match.objectLike({ Status: 'ENABLED', TargetCapacity: 100 }),
        ManagedTerminationProtection: 'DISABLED',
        ManagedDraining: 'ENABLED',
      }),
    })
    template.hasResourceProperties('AWS::ECS::Cluster', { ClusterName: 'px-workers', ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] })
  })

  it('runs one GPU per task with graphics capability (Vulkan for WebGPU), a health check and a SIGTERM drain window', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      NetworkMode: 'awsvpc',
      RequiresCompatibilities: ['EC2'],
      ContainerDefinitions: [
        Match.objectLike({
          ResourceRequirements: [{ Type: 'GPU', Value: '1' }],
          Environment: Match.arrayWith([{ Name: 'NVIDIA_DRIVER_CAPABILITIES', Value: NVIDIA_DRIVER_CAPABILITIES }]),
          HealthCheck: Match.objectLike({ Command: ['CMD', 'node', '-e', Match.stringLikeRegexp('http://127.0.0.1:8080/health')], Retries: 3 }),
          StopTimeout: 120,
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
        }),
      ],
    })
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'QUEUE', Value: 'q' }]) })] })
    expect(NVIDIA_DRIVER_CAPABILITIES.split(',')).toContain('graphics')
  })

  it('uses the capacity provider and rolls back a failed deployment', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      CapacityProviderStrategy: [Match.objectLike({ Weight: 1 })],
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 50, MaximumPercent: 200 }),
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
    })
  })

  it('tracks the shard backlog per running task, bounded by minWorkers..maxWorkers', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 1, MaxCapacity: 6, ScalableDimension: 'ecs:service:DesiredCount', ServiceNamespace: 'ecs' })
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: 4,
        ScaleOutCooldown: 60,
        ScaleInCooldown: 300,
        CustomizedMetricSpecification: {
          Metrics: [
            Match.objectLike({ Id: 'visible', ReturnData: false, MetricStat: Match.objectLike({ Metric: Match.objectLike({ Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Shards'), 'QueueName'] } }] }), Stat: 'Sum' }) }),
            Match.objectLike({ Id: 'tasks', ReturnData: false, MetricStat: Match.objectLike({ Metric: Match.objectLike({ Namespace: 'ECS/ContainerInsights', MetricName: 'RunningTaskCount' }) }) }),
            Match.objectLike({ Id: 'backlogPerTask', Expression: 'IF(tasks > 0, visible / tasks, visible)', ReturnData: true }),
          ],
        },
      },
    })
  })

  it('uses a pre-built image instead of the Dockerfile when given one, with pull rights on a private ECR repository', () => {
    const ecr = workerStack({ imageUri: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/parevm-worker:v7' }).template
    ecr.hasResourceProperties('AWS::ECS::TaskDefinition', { ContainerDefinitions: [Match.objectLike({ Image: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('parevm-worker:v7$')])] }) })] })
    ecr.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'], Resource: 'arn:aws:ecr:eu-west-1:123456789012:repository/parevm-worker' })]) },
    })
    const pub = workerStack({ imageUri: 'public.ecr.aws/docker/library/busybox:stable' }).template
    pub.hasResourceProperties('AWS::ECS::TaskDefinition', { ContainerDefinitions: [Match.objectLike({ Image: 'public.ecr.aws/docker/library/busybox:stable' })] })
    expect(JSON.stringify(pub.toJSON())).not.toContain('ecr:BatchGetImage')
  })

  it('collects every bad property and throws once', () => {
    const props = { minWorkers: 0, maxWorkers: 300, backlogPerWorker: 0, healthPort: 80, stopTimeoutSec: 200 } as unknown as WorkerServiceProps
    let message = ''
    try {
      checkWorkerServiceProps(props)
    } catch (error) {
      message = (error as Error).message
    }
    for (const fragment of ['minWorkers must be', 'maxWorkers must be', 'backlogPerWorker must be', 'healthPort must be 1024..65535', 'stopTimeoutSec must be 2..120']) {
      expect(message).toContain(fragment)
    }
    expect(() => workerStack({ minWorkers: 3, maxWorkers: 2 })).toThrow(/maxWorkers must be an integer minWorkers..256 \(got 2\)/)
  })
})

describe('ClusterMonitoring', () => {
  const stack = testStack()
  const queues = new PipelineQueues(stack, 'Queues', { prefix: 'px' })
  const fn = new EngineFunction(stack, 'Fn', { entry: ANY_ENTRY, description: 'f', memorySizeMb: 128, timeout: Duration.seconds(3), environment: {} })
  const catalog: MetricCatalog = {
    namespace: 'ns',
    throughput: [{ metricName: 'TxSealed', statistics: ['Sum'], label: 'tx' }],
    latency: [{ metricName: 'SealMs', dimensions: { role: 'coordinator' }, statistics: ['p50', 'p99'], label: 'seal' }],
    conflicts: [{ metricName: 'Reexecuted', statistics: ['Sum'], label: 're' }],
    errors: [{ metricName: 'Failed', statistics: ['Sum'], label: 'failed' }],
  }
  const monitoring = new ClusterMonitoring(stack, 'Monitoring', {
    dashboardName: 'px-cluster',
    queues: queues.queues,
    functions: { coordinator: fn.function as IFunction },
    workers: { clusterName: 'c', serviceName: 's', minWorkers: 1, maxWorkers: 2 },
    metrics: catalog,
    oldestMessageAgeSecMax: { ingress: 300, decoded: 250, shards: 200, done: 100 },
    alarmEmail: 'ops@example.com',
  })
  const template = Template.fromStack(stack)

  it('alarms when a dead-letter queue is not empty, for each queue', () => {
    for (const role of ALL_QUEUE_ROLES) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^Queues${role}dlq`), 'QueueName'] } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      })
    }
  })

  it("alarms on each queue's oldest message age with its own bound", () => {
    for (const [role, bound] of [['ingress', 300], ['decoded', 250], ['shards', 200], ['done', 100]] as const) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^Queues${role}[A-F0-9]{8}$`), 'QueueName'] } }],
        Threshold: bound,
        EvaluationPeriods: 3,
      })
    }
  })

  it('alarms on function errors, and every alarm notifies the encrypted topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Namespace: 'AWS/Lambda', Threshold: 0 })
    const alarms = Object.values(resourcesOfType(template, 'AWS::CloudWatch::Alarm'))
    expect(alarms).toHaveLength(ALL_QUEUE_ROLES.length * 2 + 1)
    const topicId = logicalIdOf(template, 'AWS::SNS::Topic', 'parevm alarms')
    for (const alarm of alarms) expect(alarm.Properties?.AlarmActions).toEqual([{ Ref: topicId }])
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('AlarmTopicKey'), 'Arn'] } })
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] })]) },
    })
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' })
    expect(monitoring.alarms).toHaveLength(alarms.length)
  })

  it('charts the emitted metrics by their exact namespace, names, dimensions and statistics', () => {
    const dashboards = Object.values(resourcesOfType(template, 'AWS::CloudWatch::Dashboard'))
    expect(dashboards).toHaveLength(1)
    expect(dashboards[0]!.Properties?.DashboardName).toBe('px-cluster')
    const body = JSON.stringify(stack.resolve(dashboards[0]!.Properties?.DashboardBody))
    for (const title of ['Throughput', 'Block seal latency', 'Queue depth', 'Age of oldest message', 'Conflicts and re-executions', 'Errors', 'Workers']) {
      expect(body).toContain(title)
    }
    expect(body).toContain('[\\"ns\\",\\"TxSealed\\"')
    expect(body).toContain('[\\"ns\\",\\"SealMs\\",\\"role\\",\\"coordinator\\"')
    expect(body).toContain('\\"stat\\":\\"p99\\"')
    expect(body).toContain('[\\"ns\\",\\"Reexecuted\\"')
    expect(body).toContain('[\\"ns\\",\\"Failed\\"')
    expect(body).toContain('ECS/ContainerInsights')
  })
})
