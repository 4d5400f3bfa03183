/**
 * The whole stack from the app (parameters as `cdk deploy -c ...` gives them), without bundling
 * or validation plugins (test/infra/synth.test.ts runs those): parameters reach the resources,
 * each role's IAM policy is exactly infra/access.ts, the environments parse with the entry
 * points' own schemas, and the outputs name the queues, tables and dashboard.
 */
import { Match, Template } from 'aws-cdk-lib/assertions'
import { describe, expect, it } from 'vitest'

import { ROLE_ACCESS, STARTUP_TABLES, STARTUP_TABLE_ACTIONS, TABLE_READ_ACTIONS, TABLE_WRITE_ACTIONS, type Role } from '../../infra/access.ts'
import { createApp } from '../../infra/app.ts'
import { ConfigError } from '../../shared/errors.ts'
import { coordinatorEnvSchema, loadEnv, rpcEnvSchema, sequencerEnvSchema, workerEnvSchema } from '../../functions/commons/config.ts'
import { ALL_QUEUE_ROLES, ALL_TABLES, queueName, tableName } from '../../shared/resources.ts'
import { resourcesOfType } from './helpers.ts'

const context = { 'aws:cdk:bundling-stacks': [], prefix: 'load1', shards: '16', maxWorkers: '32', minWorkers: '2', blockSize: '2000', blockIntervalSec: '3', chainId: '1337', instanceType: 'g5.xlarge', coinbase: `0x${'c0'.repeat(20)}` }
const { stack } = createApp({ context, securityChecks: false, cloudFormationValidation: false })
const template = Template.fromStack(stack)
const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>

/** Logical id of the resource with this physical name property. */
function idOf(type: string, property: string, name: string): string {
  const found = Object.entries(resources).filter(([, r]) => r.Type === type && r.Properties[property] === name)
  expect(found).toHaveLength(1)
  return found[0]![0]
}

/** The role (IAM) behind each engine role. */
function roleIdOf(role: Role): string {
  if (role === 'worker') {
    const task = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!
    return ((task.Properties.TaskRoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'])[0]!
  }
  const description = `parevm ${role}`
  const fn = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties.Description).startsWith(description))!
  return ((fn.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'])[0]!
}

interface Statement {
  Effect: string
  Action: string | string[]
  Resource: unknown
}

/** (action, resource logical id) pairs the role's policies allow. */
function allowed(role: Role): Set<string> {
  const roleId = roleIdOf(role)
  const pairs = new Set<string>()
  for (const policy of Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy')) {
    const roles = policy.Properties.Roles as { Ref: string }[]
    if (!roles.some((r) => r.Ref === roleId)) continue
    for (const s of (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement) {
      expect(s.Effect).toBe('Allow')
      const actions = Array.isArray(s.Action) ? s.Action : [s.Action]
      const targets = (Array.isArray(s.Resource) ? s.Resource : [s.Resource]) as unknown[]
      for (const action of actions) {
        for (const target of targets) {
          const id = typeof target === 'object' && target !== null && 'Fn::GetAtt' in target ? (target as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] : JSON.stringify(target)
          pairs.add(`${action} ${id}`)
        }
      }
    }
  }
  return pairs
}

describe('parameters from context', () => {
  it('reach the sequencer, the worker service and the scaling bounds', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^parevm sequencer'),
      Environment: { Variables: Match.objectLike({ PAREVM_PREFIX: 'load1', PAREVM_SHARDS: '16', PAREVM_BLOCK_SIZE: '2000', PAREVM_BLOCK_TIME_SEC: '3', PAREVM_CHAIN_ID: '1337', PAREVM_COINBASE: context.coinbase, POWERTOOLS_METRICS_NAMESPACE: 'load1' }) },
    })
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: Match.objectLike({ InstanceType: 'g5.xlarge' }) })
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { MaxSize: '32' })
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 32 })
    template.hasResourceProperties('AWS::ECS::Cluster', { ClusterName: 'load1-workers' })
    expect(stack.stackName).toBe('load1-cluster')
  })

  it('are refused at synth with every bad value named', () => {
    expect(() => createApp({ context: { shards: 'lots', instanceType: 't3.micro' }, securityChecks: false })).toThrow(ConfigError)
    expect(() => createApp({ context: { shards: 'lots', instanceType: 't3.micro' }, securityChecks: false })).toThrow(/-c shards="lots".*-c instanceType="t3.micro"/)
  })
})

describe('least privilege', () => {
  const tableId = (t: (typeof ALL_TABLES)[number]) => idOf('AWS::DynamoDB::Table', 'TableName', tableName('load1', t))
  const queueId = (q: (typeof ALL_QUEUE_ROLES)[number], dead = false) => idOf('AWS::SQS::Queue', 'QueueName', queueName('load1', q, dead))

  for (const role of ['sequencer', 'coordinator', 'worker', 'rpc'] as const) {
    it(`${role}: DynamoDB and SQS permissions are exactly infra/access.ts plus the start-up check`, () => {
      const access = ROLE_ACCESS[role]
      const expected = new Set<string>()
      for (const t of access.read) for (const a of TABLE_READ_ACTIONS) expected.add(`${a} ${tableId(t)}`)
      for (const t of access.write) for (const a of TABLE_WRITE_ACTIONS) expected.add(`${a} ${tableId(t)}`)
      for (const t of STARTUP_TABLES) for (const a of STARTUP_TABLE_ACTIONS) expected.add(`${a} ${tableId(t)}`)
      for (const q of access.consume) for (const a of ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']) expected.add(`${a} ${queueId(q)}`)
      for (const q of access.send) for (const a of ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl']) expected.add(`${a} ${queueId(q)}`)
      const actual = [...allowed(role)].filter((p) => p.startsWith('dynamodb:') || p.startsWith('sqs:'))
      expect(actual.sort()).toEqual([...expected].sort())
    })
  }

  it('no role may call cloudwatch:PutMetricData or act on every resource (metrics are log lines)', () => {
    for (const role of ['sequencer', 'coordinator', 'worker', 'rpc'] as const) {
      const pairs = [...allowed(role)]
      expect(pairs.filter((p) => p.startsWith('cloudwatch:'))).toEqual([])
      expect(pairs.filter((p) => p.endsWith(' "*"'))).toEqual([])
    }
  })
})

describe('environments', () => {
  /** Tokens (queue URLs, region) as the values CloudFormation would give them. */
  function resolved(variables: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(
      Object.entries(variables).map(([k, v]) => [k, typeof v === 'string' ? v : 'Ref' in (v as object) && (v as { Ref: string }).Ref === 'AWS::Region' ? 'us-east-1' : `https://sqs.us-east-1.amazonaws.com/123456789012/${JSON.stringify(v).replace(/\W/g, '')}`]),
    )
  }

  it('parse with the schemas the entry points load them with', () => {
    const lambdas = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function')
    const envOf = (prefix: string) => resolved((lambdas.find((l) => String(l.Properties.Description).startsWith(prefix))!.Properties.Environment as { Variables: Record<string, unknown> }).Variables)
    const sequencer = envOf('parevm sequencer')
    const coordinator = envOf('parevm coordinator')
    expect(sequencer.AWS_REGION).toBeUndefined()
    // No GPU on Lambda, and gpu.js is not in the bundles: the functions run every stage on the CPU.
    expect([sequencer.PAREVM_GPU_BACKEND, coordinator.PAREVM_GPU_BACKEND]).toEqual(['off', 'off'])
    expect(loadEnv(sequencerEnvSchema, 'sequencer', { ...sequencer, AWS_REGION: 'us-east-1' })).toMatchObject({ PAREVM_SHARDS: 16, PAREVM_CHAIN_ID: 1337, PAREVM_BLOCK_SIZE: 2000 })
    expect(loadEnv(coordinatorEnvSchema, 'coordinator', { ...coordinator, AWS_REGION: 'us-east-1' }).PAREVM_PREFIX).toBe('load1')
    const rpc = envOf('parevm rpc')
    expect(loadEnv(rpcEnvSchema, 'rpc', { ...rpc, AWS_REGION: 'us-east-1' })).toMatchObject({ PAREVM_PREFIX: 'load1', PAREVM_CHAIN_ID: 1337 })
    const task = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!
    const container = (task.Properties.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[]; HealthCheck: { Command: string[] } }[])[0]!
    const worker = resolved(Object.fromEntries(container.Environment.map((e) => [e.Name, e.Value])))
    expect(worker.PAREVM_GPU_BACKEND).toBeUndefined()
    const parsed = loadEnv(workerEnvSchema, 'worker', worker)
    expect(parsed.AWS_REGION).toBe('us-east-1')
    expect(container.HealthCheck.Command.join(' ')).toContain(`127.0.0.1:${parsed.PAREVM_HEALTH_PORT}/health`)
  })
})

describe('outputs', () => {
  it('name every queue, dead-letter queue and table, and the dashboard', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>
    for (const q of ALL_QUEUE_ROLES) {
      expect(outputs[`${q}QueueUrl`]?.Value).toEqual({ Ref: idOf('AWS::SQS::Queue', 'QueueName', queueName('load1', q)) })
      expect(outputs[`${q}DeadLetterQueueUrl`]?.Value).toEqual({ Ref: idOf('AWS::SQS::Queue', 'QueueName', queueName('load1', q, true)) })
    }
    for (const t of ALL_TABLES) expect(outputs[`${t}TableName`]?.Value).toEqual({ Ref: idOf('AWS::DynamoDB::Table', 'TableName', tableName('load1', t)) })
    const dashboardId = idOf('AWS::CloudWatch::Dashboard', 'DashboardName', 'load1-cluster')
    expect(outputs.DashboardUrl?.Value).toEqual({ 'Fn::Join': ['', ['https://console.aws.amazon.com/cloudwatch/home?region=', { Ref: 'AWS::Region' }, '#dashboards:name=', { Ref: dashboardId }]] })
    expect(Object.keys(resourcesOfType(template, 'AWS::CloudWatch::Dashboard'))).toHaveLength(1)
  })

  it('give the JSON-RPC endpoint: a function URL without caller authentication, throttled by reserved concurrency', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>
    const urls = Object.entries(resourcesOfType(template, 'AWS::Lambda::Url'))
    expect(urls).toHaveLength(1)
    const [urlId, url] = urls[0]!
    expect(outputs.RpcUrl?.Value).toEqual({ 'Fn::GetAtt': [urlId, 'FunctionUrl'] })
    expect(url.Properties?.AuthType).toBe('NONE')
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^parevm rpc'), ReservedConcurrentExecutions: 20 })
  })
})
