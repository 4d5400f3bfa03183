/**
 * The ingress function in the stack (infra/constructs/ingress-function.ts) and the deployment
 * switch `ingressFunction`: the construct's event source, its checks, and - synthesized from
 * the app in both positions - that exactly one role consumes the ingress queue (by grants, by
 * event sources and by the sequencer's PAREVM_INTAKE_SOURCE), that the decoded queue is consumed
 * by the sequencer and sent to by the ingress function only, and the alarms of the new pieces.
 */
import { Duration } from 'aws-cdk-lib'
import { Match, Template } from 'aws-cdk-lib/assertions'
import { Queue } from 'aws-cdk-lib/aws-sqs'
import { describe, expect, it } from 'vitest'

import { ROLE_ACCESS, STARTUP_TABLES, STARTUP_TABLE_ACTIONS, TABLE_READ_ACTIONS, TABLE_WRITE_ACTIONS, deployedAccess, sequencerSource, type Role } from '../../infra/access.ts'
import { createApp } from '../../infra/app.ts'
import { readDeployConfig } from '../../infra/config.ts'
import { IngressFunction, checkIngressFunctionProps, type IngressFunctionProps } from '../../infra/constructs/ingress-function.ts'
import { ingressEnvSchema, loadEnv, sequencerEnvSchema } from '../../functions/commons/config.ts'
import { ConfigError, ParevmError } from '../../shared/errors.ts'
import { ALL_QUEUE_ROLES, ALL_TABLES, QUEUES, queueName, tableName, type QueueRole } from '../../shared/resources.ts'
import { ANY_ENTRY, resourcesOfType, testStack } from './helpers.ts'

describe('IngressFunction', () => {
  const stack = testStack()
  const ingress = new Queue(stack, 'IngressQueue', { visibilityTimeout: Duration.seconds(60) })
  new IngressFunction(stack, 'Ingress', { entry: ANY_ENTRY, environment: { A: '1' }, ingressQueue: ingress, ingressQueueVisibilityTimeoutSec: 60, maxConcurrency: 7 })
  const template = Template.fromStack(stack)

  it('consumes the ingress queue in batches of 10 with partial batch responses, bounded by the event source, not by a reservation', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 7 },
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IngressQueue'), 'Arn'] },
    })
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^parevm ingress'),
      Timeout: 30,
      MemorySize: 1769,
      ReservedConcurrentExecutions: Match.absent(),
      Environment: { Variables: Match.objectLike({ A: '1' }) },
    })
  })

  it('refuses a timeout beyond the queue visibility, batches over 10 and concurrency outside 2..1000', () => {
    const base: IngressFunctionProps = { entry: ANY_ENTRY, environment: {}, ingressQueue: ingress, ingressQueueVisibilityTimeoutSec: 60, maxConcurrency: 4 }
    expect(() => checkIngressFunctionProps(base)).not.toThrow()
    expect(() => checkIngressFunctionProps({ ...base, timeout: Duration.seconds(61) })).toThrow(/visibility timeout \(60 s\)/)
    expect(() => checkIngressFunctionProps({ ...base, batchSize: 11 })).toThrow(ParevmError)
    expect(() => checkIngressFunctionProps({ ...base, maxConcurrency: 1 })).toThrow(/maxConcurrency must be 2..1000/)
  })
})

describe('the ingressFunction switch', () => {
  it('is off by default; takes -c strings and JSON booleans; refuses anything else', () => {
    const config = (context: Record<string, unknown>) => readDeployConfig((key) => context[key])
    expect(config({})).toMatchObject({ ingressFunction: false, ingressConcurrency: 5 })
    expect(config({ ingressFunction: 'true', ingressConcurrency: '16' })).toMatchObject({ ingressFunction: true, ingressConcurrency: 16 })
    expect(config({ ingressFunction: true }).ingressFunction).toBe(true)
    expect(config({ ingressFunction: 'false' }).ingressFunction).toBe(false)
    expect(() => config({ ingressFunction: 'yes' })).toThrow(ConfigError)
    expect(() => config({ ingressFunction: 'yes', ingressConcurrency: '1' })).toThrow(/-c ingressFunction="yes": expected true or false.*-c ingressConcurrency="1"/)
  })

  it('decides who consumes the ingress queue in one place: exactly one role, in both positions', () => {
    for (const on of [false, true]) {
      const access = deployedAccess({ ingressFunction: on })
      const consumers = (queue: QueueRole) => Object.entries(access).filter(([, a]) => a.consume.includes(queue)).map(([role]) => role)
      const senders = (queue: QueueRole) => Object.entries(access).filter(([, a]) => a.send.includes(queue)).map(([role]) => role)
      expect(consumers('ingress')).toEqual([on ? 'ingress' : 'sequencer'])
      expect(consumers('decoded')).toEqual(on ? ['sequencer'] : [])
      expect(senders('decoded')).toEqual(on ? ['ingress'] : [])
      expect(sequencerSource({ ingressFunction: on })).toBe(on ? 'decoded' : 'ingress')
      // Everything else about the sequencer is the same.
      expect({ ...access.sequencer, consume: [] }).toEqual({ ...ROLE_ACCESS.sequencer, consume: [] })
    }
  })
})

/** The synthesized app in one position of the switch. */
function synth(ingressFunction: boolean) {
  const context = { 'aws:cdk:bundling-stacks': [], prefix: 'sw1', ingressFunction: String(ingressFunction), ingressConcurrency: '12' }
  const { stack } = createApp({ context, securityChecks: false, cloudFormationValidation: false })
  const template = Template.fromStack(stack)
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>
  const idOf = (type: string, property: string, name: string): string => {
    const found = Object.entries(resources).filter(([, r]) => r.Type === type && r.Properties[property] === name)
    expect(found).toHaveLength(1)
    return found[0]![0]
  }
  const functionOf = (role: Role) => Object.entries(resources).find(([, r]) => r.Type === 'AWS::Lambda::Function' && String(r.Properties.Description).startsWith(`parevm ${role}`))
  const roleIdOf = (role: Role): string | undefined => {
    if (role === 'worker') {
      const task = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition')!
      return (task.Properties.TaskRoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!
    }
    const fn = functionOf(role)
    return fn === undefined ? undefined : (fn[1].Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!
  }
  /** `action logicalId` pairs each IAM role's policies allow, by role logical id. */
  const allowed = new Map<string, Set<string>>()
  for (const policy of Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy')) {
    for (const { Ref } of policy.Properties.Roles as { Ref: string }[]) {
      const pairs = allowed.get(Ref) ?? new Set<string>()
      allowed.set(Ref, pairs)
      for (const s of (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement) {
        for (const action of Array.isArray(s.Action) ? s.Action : [s.Action]) {
          for (const target of (Array.isArray(s.Resource) ? s.Resource : [s.Resource]) as unknown[]) {
            const id = typeof target === 'object' && target !== null && 'Fn::GetAtt' in target ? (target as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] : JSON.stringify(target)
            pairs.add(`${action} ${id}`)
          }
        }
      }
    }
  }
  const queueId = (q: QueueRole, dead = false) => idOf('AWS::SQS::Queue', 'QueueName', queueName('sw1', q, dead))
  const tableId = (t: (typeof ALL_TABLES)[number]) => idOf('AWS::DynamoDB::Table', 'TableName', tableName('sw1', t))
  const envOf = (role: Role) => (functionOf(role)![1].Properties.Environment as { Variables: Record<string, unknown> }).Variables
  return { template, resources, allowed, roleIdOf, functionOf, queueId, tableId, envOf }
}

for (const on of [false, true]) {
  describe(`the stack with ingressFunction=${on}`, () => {
    const s = synth(on)
    const lambdaRoles = ['sequencer', 'coordinator', 'rpc', 'ingress'] as const

    it(`${on ? 'deploys the ingress function' : 'has no ingress function'}; one event source on the ingress queue at most, and it is the ingress function's`, () => {
      expect(s.functionOf('ingress') !== undefined).toBe(on)
      const mappings = Object.values(resourcesOfType(s.template, 'AWS::Lambda::EventSourceMapping'))
      const onIngress = mappings.filter((m) => JSON.stringify(m.Properties?.EventSourceArn).includes(s.queueId('ingress')))
      const onDecoded = mappings.filter((m) => JSON.stringify(m.Properties?.EventSourceArn).includes(s.queueId('decoded')))
      expect(onDecoded).toEqual([])
      expect(onIngress).toHaveLength(on ? 1 : 0)
      if (on) {
        expect(onIngress[0]!.Properties).toMatchObject({ FunctionName: { Ref: s.functionOf('ingress')![0] }, ScalingConfig: { MaximumConcurrency: 12 }, FunctionResponseTypes: ['ReportBatchItemFailures'] })
      }
    })

    it('exactly one IAM role may receive from the ingress queue; the sequencer receives from the decoded queue only when the ingress function is on', () => {
      const receivers = (q: QueueRole) => [...s.allowed].filter(([, pairs]) => pairs.has(`sqs:ReceiveMessage ${s.queueId(q)}`)).map(([roleId]) => roleId)
      expect(receivers('ingress')).toEqual([s.roleIdOf(on ? 'ingress' : 'sequencer')])
      expect(receivers('decoded')).toEqual(on ? [s.roleIdOf('sequencer')] : [])
      const senders = [...s.allowed].filter(([, pairs]) => pairs.has(`sqs:SendMessage ${s.queueId('decoded')}`)).map(([roleId]) => roleId)
      expect(senders).toEqual(on ? [s.roleIdOf('ingress')] : [])
      // Nobody touches a dead-letter queue.
      for (const q of ALL_QUEUE_ROLES) expect([...s.allowed.values()].flatMap((p) => [...p]).filter((p) => p.endsWith(` ${s.queueId(q, true)}`))).toEqual([])
    })

    it("every role's DynamoDB and SQS permissions are exactly deployedAccess plus the start-up check", () => {
      const access = deployedAccess({ ingressFunction: on })
      for (const role of [...lambdaRoles, 'worker'] as const) {
        const granted = access[role]
        if (granted === undefined) {
          expect(s.roleIdOf(role)).toBeUndefined()
          continue
        }
        const expected = new Set<string>()
        for (const t of granted.read) for (const a of TABLE_READ_ACTIONS) expected.add(`${a} ${s.tableId(t)}`)
        for (const t of granted.write) for (const a of TABLE_WRITE_ACTIONS) expected.add(`${a} ${s.tableId(t)}`)
        for (const t of STARTUP_TABLES) for (const a of STARTUP_TABLE_ACTIONS) expected.add(`${a} ${s.tableId(t)}`)
        for (const q of granted.consume) for (const a of ['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']) expected.add(`${a} ${s.queueId(q)}`)
        for (const q of granted.send) for (const a of ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl']) expected.add(`${a} ${s.queueId(q)}`)
        const actual = [...(s.allowed.get(s.roleIdOf(role)!) ?? [])].filter((p) => p.startsWith('dynamodb:') || p.startsWith('sqs:'))
        expect({ role, pairs: actual.sort() }).toEqual({ role, pairs: [...expected].sort() })
      }
    })

    it('the sequencer reads the queue the switch names; the ingress function gets the chain it judges for', () => {
      const resolved = (vars: Record<string, unknown>) => Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, typeof v === 'string' ? v : `https://sqs.us-east-1.amazonaws.com/123456789012/${JSON.stringify(v).replace(/\W/g, '')}`]))
      const sequencer = loadEnv(sequencerEnvSchema, 'sequencer', { ...resolved(s.envOf('sequencer')), AWS_REGION: 'us-east-1' })
      expect(sequencer.PAREVM_INTAKE_SOURCE).toBe(on ? 'decoded' : 'ingress')
      expect(s.envOf('sequencer').PAREVM_DECODED_QUEUE_URL).toEqual({ Ref: s.queueId('decoded') })
      if (on) {
        const ingress = loadEnv(ingressEnvSchema, 'ingress', { ...resolved(s.envOf('ingress')), AWS_REGION: 'us-east-1' })
        expect(ingress).toMatchObject({ PAREVM_PREFIX: 'sw1', PAREVM_CHAIN_ID: 7777, PAREVM_HARDFORK: 'cancun', PAREVM_BLOCK_TIME_SEC: 2 })
        expect(s.envOf('ingress').PAREVM_GPU_BACKEND).toBe('off')
      }
    })

    it('alarms: the decoded queue (dead letters, oldest message), and the ingress function errors when it is deployed', () => {
      const alarms = Object.values(resourcesOfType(s.template, 'AWS::CloudWatch::Alarm'))
      const on_ = (metric: string, id: string) => alarms.filter((a) => a.Properties?.MetricName === metric && JSON.stringify(a.Properties?.Dimensions).includes(id))
      expect(on_('ApproximateNumberOfMessagesVisible', s.queueId('decoded', true))).toHaveLength(1)
      expect(on_('ApproximateAgeOfOldestMessage', s.queueId('decoded'))).toHaveLength(1)
      expect(on_('ApproximateAgeOfOldestMessage', s.queueId('ingress'))[0]!.Properties?.Threshold).toBe(on ? 120 : 300)
      const ingressFn = s.functionOf('ingress')
      expect(alarms.filter((a) => a.Properties?.MetricName === 'Errors' && ingressFn !== undefined && JSON.stringify(a.Properties?.Dimensions).includes(ingressFn[0]))).toHaveLength(on ? 1 : 0)
      expect(alarms.filter((a) => a.Properties?.MetricName === 'Errors')).toHaveLength(on ? 4 : 3)
      // The error log lines of the function are counted too.
      const filters = Object.values(resourcesOfType(s.template, 'AWS::Logs::MetricFilter')).flatMap((f) => (f.Properties?.MetricTransformations as { MetricName: string }[]).map((t) => t.MetricName))
      expect(filters).toContain('ErrorLogLines_sequencer')
      expect(filters.includes('ErrorLogLines_ingress')).toBe(on)
    })

    it('outputs the decoded queue and its dead-letter queue', () => {
      const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>
      expect(outputs.decodedQueueUrl?.Value).toEqual({ Ref: s.queueId('decoded') })
      expect(outputs.decodedDeadLetterQueueUrl?.Value).toEqual({ Ref: s.queueId('decoded', true) })
      expect(QUEUES.decoded.visibilityTimeoutSec).toBeGreaterThan(0)
    })
  })
}
