/**
 * The network the GPU workers run in: two availability zones, workers in private subnets with
 * one NAT gateway for SQS, ECR and CloudWatch, and free gateway endpoints for DynamoDB (the bulk
 * of the workers' traffic) and S3 (image layers), so that traffic does not pay NAT processing.
 * Flow logs record rejected traffic (security evidence at a small cost).
 */
import { RemovalPolicy } from 'aws-cdk-lib'
import { FlowLogDestination, FlowLogTrafficType, GatewayVpcEndpointAwsService, IpAddresses, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2'
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs'
import { Construct } from 'constructs'

export interface WorkerNetworkProps {
  /** Availability zones (2 by default: GPU instance types are not offered in every zone). */
  maxAzs?: number
}

export class WorkerNetwork extends Construct {
  readonly vpc: Vpc

  constructor(scope: Construct, id: string, props: WorkerNetworkProps = {}) {
    super(scope, id)
    const flowLogs = new LogGroup(this, 'FlowLogs', { retention: RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY })
    this.vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr('10.64.0.0/16'),
      maxAzs: props.maxAzs ?? 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'workers', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      gatewayEndpoints: {
        dynamodb: { service: GatewayVpcEndpointAwsService.DYNAMODB },
        s3: { service: GatewayVpcEndpointAwsService.S3 },
      },
      flowLogs: {
        rejected: { destination: FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: FlowLogTrafficType.REJECT },
      },
      // Nothing uses the default security group; restricting it would add a custom-resource Lambda.
      restrictDefaultSecurityGroup: false,
    })
  }
}
