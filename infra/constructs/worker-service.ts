/**
 * The shard workers: an ECS service on GPU instances, one task per GPU, scaled on the shard
 * queue's backlog per running task.
 *
 * - Capacity: an Auto Scaling group of an NVIDIA instance type with the ECS GPU-optimised
 *   Amazon Linux 2023 AMI (resolved from its public SSM parameter at deploy time, so synth needs
 *   no lookup), behind an EC2 capacity provider with managed scaling and managed draining:
 *   instances follow the tasks, and a terminating instance's task gets SIGTERM first.
 * - Task: `gpuCount: 1`; image built from infra/worker.Dockerfile (Ubuntu 24.04: glibc >= 2.38,
 *   the Vulkan loader) with `NVIDIA_DRIVER_CAPABILITIES` including `graphics`, so the NVIDIA
 *   runtime mounts the Vulkan ICD that WebGPU (Dawn) needs; see docs/gpu-and-ai.md.
 * - Scaling: target tracking on the metric-math expression backlog / running tasks
 *   (ApproximateNumberOfMessagesVisible of the shard queue over Container Insights'
 *   RunningTaskCount), bounded by minWorkers..maxWorkers.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import { CfnScalingPolicy, ScalableTarget, ServiceNamespace } from 'aws-cdk-lib/aws-applicationautoscaling'
import { AutoScalingGroup, BlockDeviceVolume, EbsDeviceVolumeType } from 'aws-cdk-lib/aws-autoscaling'
import { InstanceType, LaunchTemplate, SecurityGroup, SubnetType, UserData, type IVpc } from 'aws-cdk-lib/aws-ec2'
import { Repository } from 'aws-cdk-lib/aws-ecr'
import { Platform } from 'aws-cdk-lib/aws-ecr-assets'
import {
  AmiHardwareType,
  AsgCapacityProvider,
  Cluster,
  ContainerImage,
  ContainerInsights,
  Ec2Service,
  Ec2TaskDefinition,
  EcsOptimizedImage,
  LogDriver,
  NetworkMode,
  type ContainerDefinition,
  type ICluster,
} from 'aws-cdk-lib/aws-ecs'
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam'
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs'
import { Construct } from 'constructs'

import { ParevmError } from '../../shared/errors.ts'
import { acknowledgeNag } from '../nag.ts'
import { REPO_ROOT } from './engine-function.ts'

import type { IQueue } from 'aws-cdk-lib/aws-sqs'

/** The Dockerfile of the worker image, relative to the repository root (the build context). */
export const WORKER_DOCKERFILE = 'infra/worker.Dockerfile'

/** The NVIDIA container runtime mounts the Vulkan ICD only with the `graphics` capability. */
export const NVIDIA_DRIVER_CAPABILITIES = 'compute,utility,graphics'

export interface WorkerServiceProps {
  vpc: IVpc
  /** Physical name of the ECS cluster. */
  clusterName: string
  /** An NVIDIA GPU instance type, for example g4dn.xlarge. */
  instanceType: string
  minWorkers: number
  maxWorkers: number
  /** Visible shard messages per running task that scaling aims at. */
  backlogPerWorker: number
  /** A pre-built image (see config `workerImage`) instead of building WORKER_DOCKERFILE. */
  imageUri?: string
  /** The queue the workers consume (its backlog drives scaling). */
  shardQueue: IQueue
  environment: Record<string, string>
  /** Port of the worker's HTTP health endpoint inside the task (GET /health answers 200 when healthy). */
  healthPort: number
  /** Path of the health endpoint. */
  healthPath?: string
  /** Seconds ECS waits after SIGTERM before SIGKILL: the worker finishes its shard (bounded by the shard visibility timeout). */
  stopTimeoutSec?: number
  cpuUnits?: number
  memoryReservationMiB?: number
}

const PRIVATE_ECR = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)(?::([^@]+))?(?:@(.+))?$/

/**
 * The worker image: built from the Dockerfile (CDK publishes it to the bootstrap repository), or
 * a pre-built one; from a private ECR repository the execution role gets pull rights on it.
 */
function workerImage(scope: Construct, uri: string | undefined): ContainerImage {
  if (uri === undefined) return ContainerImage.fromAsset(REPO_ROOT, { file: WORKER_DOCKERFILE, platform: Platform.LINUX_AMD64 })
  const ecr = PRIVATE_ECR.exec(uri)
  if (ecr === null) return ContainerImage.fromRegistry(uri)
  const [, account, region, name, tag, digest] = ecr
  const repository = Repository.fromRepositoryAttributes(scope, 'WorkerRepository', {
    repositoryArn: `arn:aws:ecr:${region}:${account}:repository/${name}`,
    repositoryName: name!,
  })
  return ContainerImage.fromEcrRepository(repository, digest ?? tag ?? 'latest')
}

/** Collects every conflicting prop and throws once. */
export function checkWorkerServiceProps(props: WorkerServiceProps): void {
  const problems: string[] = []
  if (!Number.isInteger(props.minWorkers) || props.minWorkers < 1) problems.push(`minWorkers must be an integer >= 1 (got ${props.minWorkers})`)
  if (!Number.isInteger(props.maxWorkers) || props.maxWorkers < props.minWorkers || props.maxWorkers > 256) {
    problems.push(`maxWorkers must be an integer minWorkers..256 (got ${props.maxWorkers})`)
  }
  if (!Number.isInteger(props.backlogPerWorker) || props.backlogPerWorker < 1) problems.push(`backlogPerWorker must be an integer >= 1 (got ${props.backlogPerWorker})`)
  if (!Number.isInteger(props.healthPort) || props.healthPort < 1024 || props.healthPort > 65_535) problems.push(`healthPort must be 1024..65535 (got ${props.healthPort})`)
  const stop = props.stopTimeoutSec ?? 120
  if (!Number.isInteger(stop) || stop < 2 || stop > 120) problems.push(`stopTimeoutSec must be 2..120 (got ${stop})`)
  if (problems.length > 0) throw new ParevmError(`invalid worker service properties: ${problems.join('; ')}`)
}

export class WorkerService extends Construct {
  readonly cluster: Cluster
  readonly service: Ec2Service
  readonly taskDefinition: Ec2TaskDefinition
  readonly container: ContainerDefinition
  readonly autoScalingGroup: AutoScalingGroup
  readonly logGroup: LogGroup
  readonly scalableTarget: ScalableTarget

  constructor(scope: Construct, id: string, props: WorkerServiceProps) {
    super(scope, id)
    checkWorkerServiceProps(props)
    const { vpc } = props
    const subnets = { subnetType: SubnetType.PRIVATE_WITH_EGRESS }

    this.cluster = new Cluster(this, 'Cluster', { vpc, clusterName: props.clusterName, containerInsightsV2: ContainerInsights.ENABLED })

    const instanceSecurityGroup = new SecurityGroup(this, 'InstanceSecurityGroup', { vpc, description: 'parevm GPU worker instances: no inbound', allowAllOutbound: true })
    const instanceRole = new Role(this, 'InstanceRole', { assumedBy: new ServicePrincipal('ec2.amazonaws.com'), description: 'parevm GPU worker instances (ECS agent)' })
    const launchTemplate = new LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new InstanceType(props.instanceType),
      machineImage: EcsOptimizedImage.amazonLinux2023(AmiHardwareType.GPU),
      userData: UserData.forLinux(),
      role: instanceRole,
      securityGroup: instanceSecurityGroup,
      requireImdsv2: true,
      detailedMonitoring: true,
      blockDevices: [{ deviceName: '/dev/xvda', volume: BlockDeviceVolume.ebs(100, { encrypted: true, volumeType: EbsDeviceVolumeType.GP3 }) }],
    })
    this.autoScalingGroup = new AutoScalingGroup(this, 'Instances', {
      vpc,
      vpcSubnets: subnets,
      launchTemplate,
      minCapacity: 0,
      // One GPU per task: never more instances than tasks.
      maxCapacity: props.maxWorkers,
    })
    const capacityProvider = new AsgCapacityProvider(this, 'CapacityProvider', {
      autoScalingGroup: this.autoScalingGroup,
      enableManagedScaling: true,
      targetCapacityPercent: 100,
      // Managed draining stops tasks (SIGTERM) before an instance goes; termination protection
      // would keep `cdk destroy` waiting on protected instances.
      enableManagedDraining: true,
      enableManagedTerminationProtection: false,
    })
    this.cluster.addAsgCapacityProvider(capacityProvider)
    acknowledgeNag(
      instanceRole,
      {
        rule: 'AwsSolutions-IAM5[Resource::*]',
        reason: "the ECS agent's statements that CDK adds for a capacity provider: ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken take no resource; ecs:Poll and ecs:StartTelemetrySession are conditioned on this cluster's ARN",
      },
      { rule: 'AwsSolutions-IAM5[Action::ecs:Submit*]', reason: "the ECS agent's state-change reports (SubmitTaskStateChange, SubmitContainerStateChange, ...), scoped to this cluster's ARN" },
    )
    acknowledgeNag(this.autoScalingGroup, {
      rule: 'AwsSolutions-AS3',
      reason: 'the ECS capacity provider drives every scaling event from the task count; task and instance changes show in ECS service events and on the dashboard, so per-instance notifications would only duplicate them',
    })

    this.logGroup = new LogGroup(this, 'Logs', { retention: RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY })
    this.taskDefinition = new Ec2TaskDefinition(this, 'Task', { networkMode: NetworkMode.AWS_VPC })
    const healthUrl = `http://127.0.0.1:${props.healthPort}${props.healthPath ?? '/health'}`
    this.container = this.taskDefinition.addContainer('worker', {
      image: workerImage(this, props.imageUri),
      gpuCount: 1,
      cpu: props.cpuUnits ?? 2048,
      memoryReservationMiB: props.memoryReservationMiB ?? 8192,
      essential: true,
      environment: { ...props.environment, NVIDIA_DRIVER_CAPABILITIES },
      logging: LogDriver.awsLogs({ streamPrefix: 'worker', logGroup: this.logGroup }),
      stopTimeout: Duration.seconds(props.stopTimeoutSec ?? 120),
      healthCheck: {
        // Node's fetch: the image needs no curl.
        command: ['CMD', 'node', '-e', `fetch(${JSON.stringify(healthUrl)}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(60),
      },
    })

    acknowledgeNag(
      this.taskDefinition,
      { rule: 'AwsSolutions-ECS2', reason: 'the environment holds resource names (tables, queue URLs) and chain parameters, no secrets; the task role grants access' },
    )
    if (this.taskDefinition.executionRole !== undefined) {
      acknowledgeNag(this.taskDefinition.executionRole, { rule: 'AwsSolutions-IAM5[Resource::*]', reason: 'ecr:GetAuthorizationToken takes no resource; image pulls are scoped to the asset repository' })
    }
    const taskSecurityGroup = new SecurityGroup(this, 'TaskSecurityGroup', { vpc, description: 'parevm worker tasks: no inbound', allowAllOutbound: true })
    this.service = new Ec2Service(this, 'Service', {
      // aws-cdk-lib's classes declare optional members as `T | undefined` (exactOptionalPropertyTypes).
      cluster: this.cluster as ICluster,
      taskDefinition: this.taskDefinition,
      // Application Auto Scaling owns the task count (minWorkers..maxWorkers).
      minHealthyPercent: 50,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      capacityProviderStrategies: [{ capacityProvider: capacityProvider.capacityProviderName, weight: 1 }],
      vpcSubnets: subnets,
      securityGroups: [taskSecurityGroup],
      enableECSManagedTags: true,
    })

    this.scalableTarget = new ScalableTarget(this, 'ScalableTarget', {
      serviceNamespace: ServiceNamespace.ECS,
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: `service/${this.cluster.clusterName}/${this.service.serviceName}`,
      minCapacity: props.minWorkers,
      maxCapacity: props.maxWorkers,
    })
    // CDK's TargetTrackingScalingPolicy takes one metric, not metric math: the L1 resource does.
    new CfnScalingPolicy(this, 'BacklogPerWorker', {
      policyName: `${props.clusterName}-backlog-per-worker`,
      policyType: 'TargetTrackingScaling',
      scalingTargetId: this.scalableTarget.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: props.backlogPerWorker,
        scaleOutCooldown: 60,
        scaleInCooldown: 300,
        customizedMetricSpecification: {
          metrics: [
            {
              id: 'visible',
              returnData: false,
              metricStat: {
                metric: { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', dimensions: [{ name: 'QueueName', value: props.shardQueue.queueName }] },
                stat: 'Sum',
              },
            },
            {
              id: 'tasks',
              returnData: false,
              metricStat: {
                metric: {
                  namespace: 'ECS/ContainerInsights',
                  metricName: 'RunningTaskCount',
                  dimensions: [
                    { name: 'ClusterName', value: this.cluster.clusterName },
                    { name: 'ServiceName', value: this.service.serviceName },
                  ],
                },
                stat: 'Average',
              },
            },
            // With no running task the backlog itself is the per-task backlog (never divide by zero).
            { id: 'backlogPerTask', label: 'shard messages per running worker', expression: 'IF(tasks > 0, visible / tasks, visible)', returnData: true },
          ],
        },
      },
    })
  }
}
