/**
 * `cdk bootstrap` and `cdk deploy` of the real app against moto (an AWS API server on loopback,
 * `python3 -m moto.server`), then a look at what was created.
 *
 * What makes it work (see docs/deploy.md, "The local deploy check"):
 * - The endpoint is `http://localhost:PORT`, not `http://127.0.0.1:PORT`: moto's CloudFormation
 *   reads the template the CLI uploaded from the template URL, and parses path-style S3 URLs
 *   only when they contain "localhost" - with 127.0.0.1 it takes "127" for the bucket name and
 *   fails with NoSuchBucket.
 * - `--method=direct`: with a change set moto creates the resources but records no outputs.
 * - `-c workerImage=...`: no Docker here to build the worker image.
 * - The Lambda assets are bundled as for AWS (with bundling skipped, CDK would point the assets
 *   at the whole repository); moto stores the code but cannot invoke it without Docker.
 * - `-c ingressFunction=true`: the fullest stack (four functions, the ingress queue consumed by
 *   the ingress function's event source, the sequencer on the decoded queue); the default
 *   position is a subset, checked by the assertion tests (test/infra/ingress-function.test.ts).
 * moto's CloudFormation skips resource types it does not implement (listed in SKIPPED_BY_MOTO)
 * and ignores some properties of the ones it does (TTL, point-in-time recovery and encryption
 * of tables); the assertion tests cover those.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { createApp } from '../../infra/app.ts'
import { parseStackOutputs } from '../../shared/loadtest/targets.ts'
import { ALL_QUEUE_ROLES, ALL_TABLES, DEAD_LETTER_RETENTION_SEC, QUEUES, queueName, tableName } from '../../shared/resources.ts'

const PREFIX = 'moto1'
const STACK = `${PREFIX}-cluster`
const ACCOUNT = '123456789012'
const REGION = 'us-east-1'

/** Resource types moto 5.2's CloudFormation does not implement: it skips them and still completes. */
const SKIPPED_BY_MOTO = [
  'AWS::ApplicationAutoScaling::ScalableTarget',
  'AWS::ApplicationAutoScaling::ScalingPolicy',
  'AWS::CloudWatch::Alarm',
  'AWS::ECS::CapacityProvider',
  'AWS::ECS::ClusterCapacityProviderAssociations',
  'AWS::Lambda::EventInvokeConfig',
  'AWS::Lambda::Url',
  'AWS::Logs::MetricFilter',
  'AWS::SNS::TopicPolicy',
  'AWS::SQS::QueuePolicy',
]

let motoMissing = ''
function motoAvailable(): boolean {
  try {
    execFileSync('python3', ['-c', 'import moto.server, boto3'], { stdio: 'pipe', timeout: 60_000 })
    return true
  } catch (error) {
    motoMissing = ((error as { stderr?: Buffer }).stderr?.toString() ?? String(error)).trim().split('\n').slice(-1)[0] ?? ''
    return false
  }
}

const available = motoAvailable()
/** In CI (CI set) an absent moto is a failure, not a green skip. */
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'
if (!available) console.warn(`local deploy check ${inCi ? 'FAILS (CI)' : 'skipped'}: python3 with moto (pip install "moto[server]") is not available (${motoMissing})`)

describe.runIf(!available && inCi)('cdk deploy against moto on 127.0.0.1 (required in CI)', () => {
  it('python3 with moto and boto3 is installed', () => {
    throw new Error(`the local deploy check needs python3 with moto[server] and boto3 (pip install "moto[server]"); in CI an absent input is a failure (${motoMissing})`)
  })
})

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolvePort(address.port) : reject(new Error('no port'))))
    })
  })
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  // Bounded by the deadline; one attempt every 200 ms.
  while (Date.now() < until) {
    const open = await new Promise<boolean>((r) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end()
        r(true)
      })
      socket.once('error', () => r(false))
    })
    if (open) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`moto did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`)
}

/** moto answers API calls (an open port can precede a ready server). */
async function waitForMoto(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  // Bounded by the deadline; one attempt every 200 ms.
  while (Date.now() < until) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.ListQueues' }, body: '{}' })
      if (response.ok) return
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`moto on port ${port} did not answer ListQueues within ${timeoutMs} ms`)
}

let moto: ChildProcess | undefined
let scratch = ''
let env: NodeJS.ProcessEnv = {}
let deployOutput = ''
let outputsFileJson: unknown
let state: Inspection

interface Inspection {
  status: string
  resources: { type: string; status: string }[]
  outputs: Record<string, string>
  queues: Record<string, Record<string, string>>
  tables: Record<string, { keys: { AttributeName: string; KeyType: string }[]; billing: string }>
  functions: Record<string, { runtime: string; handler: string; architectures: string[]; memory: number; timeout: number; env: Record<string, string>; reserved: number | null }>
  eventSources: { source: string; batchSize: number; responseTypes: string[]; maxConcurrency: number | null }[]
  rules: { schedule: string; state: string }[]
  taskDefinitions: { gpu: string[]; env: Record<string, string>; image: string }[]
  clusters: string[]
}

/** Everything the checks look at, read through moto's APIs with boto3 (moto's own dependency). */
const INSPECT = `
import boto3, json, sys
kw = dict(endpoint_url=sys.argv[1], region_name='${REGION}', aws_access_key_id='test', aws_secret_access_key='test')
cf, sqs, ddb, lam, ev, ecs = (boto3.client(s, **kw) for s in ('cloudformation', 'sqs', 'dynamodb', 'lambda', 'events', 'ecs'))
stack = cf.describe_stacks(StackName='${STACK}')['Stacks'][0]
out = {
  'status': stack['StackStatus'],
  'resources': [{'type': r['ResourceType'], 'status': r['ResourceStatus']} for r in cf.list_stack_resources(StackName='${STACK}')['StackResourceSummaries']],
  'outputs': {o['OutputKey']: o['OutputValue'] for o in stack.get('Outputs', [])},
  'queues': {u.rsplit('/', 1)[1]: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=['All'])['Attributes'] for u in sqs.list_queues(QueueNamePrefix='${PREFIX}-').get('QueueUrls', [])},
  'tables': {},
  'functions': {},
  'eventSources': [{'source': m['EventSourceArn'].rsplit(':', 1)[1], 'batchSize': m['BatchSize'], 'responseTypes': m.get('FunctionResponseTypes', []), 'maxConcurrency': m.get('ScalingConfig', {}).get('MaximumConcurrency')} for m in lam.list_event_source_mappings()['EventSourceMappings']],
  'rules': [{'schedule': r.get('ScheduleExpression', ''), 'state': r['State']} for r in ev.list_rules()['Rules']],
  'taskDefinitions': [],
  'clusters': [c.rsplit('/', 1)[1] for c in ecs.list_clusters()['clusterArns']],
}
for t in ddb.list_tables()['TableNames']:
  d = ddb.describe_table(TableName=t)['Table']
  out['tables'][t] = {'keys': d['KeySchema'], 'billing': d.get('BillingModeSummary', {}).get('BillingMode', '')}
for f in lam.list_functions()['Functions']:
  c = lam.get_function(FunctionName=f['FunctionName'])
  cfg = c['Configuration']
  out['functions'][cfg.get('Description', '')] = {'runtime': cfg['Runtime'], 'handler': cfg['Handler'], 'architectures': cfg.get('Architectures', []), 'memory': cfg['MemorySize'], 'timeout': cfg['Timeout'], 'env': cfg.get('Environment', {}).get('Variables', {}), 'reserved': c.get('Concurrency', {}).get('ReservedConcurrentExecutions')}
for arn in ecs.list_task_definitions()['taskDefinitionArns']:
  td = ecs.describe_task_definition(taskDefinition=arn)['taskDefinition']
  for cdef in td['containerDefinitions']:
    out['taskDefinitions'].append({'gpu': [r['value'] for r in cdef.get('resourceRequirements', []) if r['type'] == 'GPU'], 'env': {e['name']: e['value'] for e in cdef.get('environment', [])}, 'image': cdef['image']})
print(json.dumps(out, default=str))
`

/** The CDK CLI in a child process (asynchronous: bootstrap runs while the app synthesizes). */
function cdk(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile(process.execPath, [resolve('node_modules/aws-cdk/bin/cdk'), ...args, '--no-notices', '--no-version-reporting'], { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`cdk ${args[0]} failed: ${error.message}\n${stderr.slice(-4000)}`))
      else resolveRun(`${stdout}${stderr}`)
    })
  })
}

describe.skipIf(!available)('cdk deploy against moto on 127.0.0.1', () => {
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'parevm-moto-'))
    const port = await freePort()
    moto = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' })
    env = {
      PATH: process.env.PATH ?? '',
      HOME: scratch,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_ENDPOINT_URL: `http://localhost:${port}`,
      CDK_DISABLE_CLI_TELEMETRY: 'true',
    }
    await waitForPort(port, 30_000)
    await waitForMoto(port, 30_000)

    // Under load the CLI mostly waits on moto; a generous bound (the suite's hook timeout is larger).
    const t0 = performance.now()
    // Bootstrapping is idempotent: one retry, with the first failure's output kept in the log
    // (seen once in many runs under heavy load, not reproduced since).
    const bootstrap = () => cdk(['bootstrap', `aws://${ACCOUNT}/${REGION}`], 480_000)
    const bootstrapped = bootstrap().catch((error: unknown) => {
      console.warn(`cdk bootstrap failed once; retrying: ${(error as Error).message}`)
      return bootstrap()
    })
    bootstrapped.catch(() => {})

    // The app, synthesized as `cdk synth` does (cdk-nag and CloudFormation validation are in synth.test.ts).
    const outdir = join(scratch, 'cdk.out')
    createApp({
      outdir,
      context: { prefix: PREFIX, workerImage: 'public.ecr.aws/docker/library/busybox:stable', minWorkers: '1', maxWorkers: '3', ingressFunction: 'true', ingressConcurrency: '6' },
      securityChecks: false,
      cloudFormationValidation: false,
    }).app.synth()
    // moto 5.2 answers HTTP 500 to a stack whose output reads an attribute (Fn::GetAtt) of a
    // resource type it does not implement: the RpcUrl output (AWS::Lambda::Url) is left out
    // here. The JSON-RPC function, its URL permission and its grants deploy;
    // test/infra/cluster-stack.test.ts checks the output in the template.
    const templateFile = join(outdir, 'Cluster.template.json')
    const synthesized = JSON.parse(readFileSync(templateFile, 'utf8')) as { Outputs: Record<string, unknown> }
    delete synthesized.Outputs.RpcUrl
    writeFileSync(templateFile, JSON.stringify(synthesized))

    await bootstrapped
    const t1 = performance.now()
    const outputsFile = join(scratch, 'outputs.json')
    deployOutput = await cdk(['deploy', '--all', '--app', outdir, '--require-approval', 'never', '--method=direct', '--progress', 'events', '--outputs-file', outputsFile], 480_000)
    // For the record (not asserted).
    console.info(`cdk bootstrap with synthesis alongside ${Math.round(t1 - t0)} ms, cdk deploy ${Math.round(performance.now() - t1)} ms`)
    outputsFileJson = JSON.parse(readFileSync(outputsFile, 'utf8'))
    const fromCli = outputsFileJson as Record<string, Record<string, string>>
    state = JSON.parse(execFileSync('python3', ['-c', INSPECT, `http://127.0.0.1:${port}`], { encoding: 'utf8', timeout: 60_000 })) as Inspection
    expect(fromCli[STACK]).toEqual(state.outputs)
  }, 1_200_000)

  afterAll(async () => {
    if (moto?.pid !== undefined && moto.exitCode === null) {
      const exited = new Promise((r) => moto!.once('exit', r))
      process.kill(moto.pid, 'SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))])
      if (moto.exitCode === null) process.kill(moto.pid, 'SIGKILL')
    }
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true })
  })

  it('completes the stack; the resources moto cannot create are exactly the known ones', () => {
    expect(deployOutput).toContain(`${STACK}`)
    expect(state.status).toBe('CREATE_COMPLETE')
    expect(state.resources.every((r) => r.status === 'CREATE_COMPLETE')).toBe(true)
    const template = JSON.parse(readFileSync(join(scratch, 'cdk.out', `Cluster.template.json`), 'utf8')) as { Resources: Record<string, { Type: string }> }
    const inTemplate = Object.values(template.Resources).map((r) => r.Type)
    const created = new Set(state.resources.filter((r) => r.type !== '').map((r) => r.type))
    const notCreated = [...new Set(inTemplate.filter((t) => !created.has(t)))].sort()
    expect(notCreated).toEqual([...SKIPPED_BY_MOTO].sort())
    expect(state.resources).toHaveLength(inTemplate.length)
  })

  it('creates every queue with the visibility, retention, long polling, encryption and redrive of shared/resources.ts', () => {
    expect(Object.keys(state.queues).sort()).toEqual(ALL_QUEUE_ROLES.flatMap((r) => [queueName(PREFIX, r), queueName(PREFIX, r, true)]).sort())
    for (const role of ALL_QUEUE_ROLES) {
      const def = QUEUES[role]
      const q = state.queues[queueName(PREFIX, role)]!
      expect({ role, visibility: q.VisibilityTimeout, retention: q.MessageRetentionPeriod, wait: q.ReceiveMessageWaitTimeSeconds, sse: q.SqsManagedSseEnabled }).toEqual({
        role,
        visibility: String(def.visibilityTimeoutSec),
        retention: String(def.retentionSec),
        wait: String(def.receiveWaitSec ?? 0),
        sse: 'true',
      })
      expect(JSON.parse(q.RedrivePolicy!)).toEqual({ deadLetterTargetArn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${queueName(PREFIX, role, true)}`, maxReceiveCount: def.maxReceiveCount })
      const dlq = state.queues[queueName(PREFIX, role, true)]!
      expect(dlq.MessageRetentionPeriod).toBe(String(DEAD_LETTER_RETENTION_SEC))
    }
  })

  it('creates every table on demand with pk/sk', () => {
    for (const table of ALL_TABLES) {
      expect(state.tables[tableName(PREFIX, table)]).toEqual({ keys: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }], billing: 'PAY_PER_REQUEST' })
    }
  })

  it('creates the functions, their triggers and the GPU worker task', () => {
    const byDescription = (start: string) => Object.entries(state.functions).find(([description]) => description.startsWith(start))?.[1]
    expect(Object.keys(state.functions)).toHaveLength(4)
    const sequencer = byDescription('parevm sequencer')!
    const coordinator = byDescription('parevm coordinator')!
    const rpc = byDescription('parevm rpc')!
    const ingress = byDescription('parevm ingress')!
    for (const fn of [sequencer, coordinator, rpc, ingress]) expect(fn).toMatchObject({ runtime: 'nodejs24.x', handler: 'index.handler', architectures: ['x86_64'] })
    expect(rpc).toMatchObject({ reserved: 20, env: expect.objectContaining({ PAREVM_PREFIX: PREFIX, PAREVM_CHAIN_ID: expect.any(String) }) })
    // With the ingress function, the sequencer reads the decoded queue.
    expect(sequencer).toMatchObject({ timeout: 900, reserved: 1, env: expect.objectContaining({ PAREVM_PREFIX: PREFIX, PAREVM_SHARDS: '8', PAREVM_INTAKE_SOURCE: 'decoded', PAREVM_DECODED_QUEUE_URL: state.outputs.decodedQueueUrl }) })
    expect(ingress).toMatchObject({ timeout: 30, memory: 1769, reserved: null, env: expect.objectContaining({ PAREVM_PREFIX: PREFIX, PAREVM_CHAIN_ID: '7777', PAREVM_HARDFORK: 'cancun', PAREVM_BLOCK_TIME_SEC: '2', PAREVM_GPU_BACKEND: 'off' }) })
    // The ingress queue has one consumer, the ingress function's event source (at most
    // ingressConcurrency invocations); the decoded queue none (the sequencer receives itself).
    expect([...state.eventSources].sort((a, b) => a.source.localeCompare(b.source))).toEqual([
      { source: queueName(PREFIX, 'done'), batchSize: 10, responseTypes: ['ReportBatchItemFailures'], maxConcurrency: 2 },
      { source: queueName(PREFIX, 'ingress'), batchSize: 10, responseTypes: ['ReportBatchItemFailures'], maxConcurrency: 6 },
    ])
    expect(state.rules).toEqual([{ schedule: 'rate(1 minute)', state: 'ENABLED' }])
    expect(state.clusters).toEqual([`${PREFIX}-workers`])
    expect(state.taskDefinitions).toHaveLength(1)
    expect(state.taskDefinitions[0]).toMatchObject({ gpu: ['1'], image: 'public.ecr.aws/docker/library/busybox:stable', env: expect.objectContaining({ NVIDIA_DRIVER_CAPABILITIES: 'compute,utility,graphics', PAREVM_PREFIX: PREFIX }) })
  })

  it('reports the outputs: queue URLs, table names, dashboard URL', () => {
    for (const role of ALL_QUEUE_ROLES) expect(state.outputs[`${role}QueueUrl`]).toMatch(new RegExp(`/${ACCOUNT}/${queueName(PREFIX, role)}$`))
    for (const table of ALL_TABLES) expect(state.outputs[`${table}TableName`]).toBe(tableName(PREFIX, table))
    expect(state.outputs.DashboardUrl).toBe(`https://console.aws.amazon.com/cloudwatch/home?region=${REGION}#dashboards:name=${PREFIX}-cluster`)
  })

  it('writes an outputs file that `parevm loadtest --outputs` reads', () => {
    const endpoints = parseStackOutputs(outputsFileJson)
    expect(endpoints).toMatchObject({ stack: STACK, prefix: PREFIX, ingressQueueUrl: state.outputs.ingressQueueUrl, ingressDeadLetterQueueUrl: state.outputs.ingressDeadLetterQueueUrl })
  })
})
