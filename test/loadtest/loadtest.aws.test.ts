/**
 * The load test against AWS APIs: DynamoDB Local and local-aws-sqs started by the aws project's
 * globalSetup (or whatever AWS_ENDPOINT_URL* points at). Two short runs, checked for accounting
 * only: the pipeline in the load test's process (--with-pipeline), and a pipeline running apart
 * from it (here: started by the test, as a deployed stack's would be), with the injector in its
 * own thread sending SendMessageBatch calls to the SQS endpoint.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterAll, describe, expect, inject, it } from 'vitest'

import { loadtestCommand } from '../../functions/cli/loadtest.ts'
import { createResources, deleteResources, openBackend } from '../../shared/adapters/aws/provision.ts'
import { buildGenesis } from '../../shared/chain/genesis.ts'
import { senderAddresses } from '../../shared/loadtest/intents.ts'
import { startPipeline } from '../../shared/loadtest/pipeline.ts'
import { genesisSetup } from '../../shared/loadtest/setup.ts'
import { testClients, uniquePrefix } from '../helpers/aws.ts'
import { expectAccounted } from './expect-report.ts'

import type { LoadTestReport } from '../../shared/loadtest/report.ts'

const target = inject('awsTarget')
const clients = testClients()
const prefixes: string[] = []

const SMALL = ['--accounts', '20', '--pools', '2', '--rate', '20', '--duration', '1.5', '--workers', '2', '--inline', '--warmup', '0', '--drain', '90', '--quiet']

async function cli(args: string[]): Promise<{ status: number; report: LoadTestReport }> {
  const dir = mkdtempSync(join(tmpdir(), 'parevm-loadtest-aws-'))
  const status = await loadtestCommand([...args, '--out', dir])
  return { status, report: JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as LoadTestReport }
}

afterAll(async () => {
  for (const prefix of prefixes) await deleteResources(clients, prefix)
  clients.dynamodb.destroy()
  clients.sqs.destroy()
})

describe(`parevm loadtest against AWS APIs (DynamoDB ${target.dynamodb}, SQS ${target.sqs})`, () => {
  it('with the pipeline in the load test process (--with-pipeline): every sent transaction accounted for', async () => {
    const prefix = uniquePrefix('lt')
    prefixes.push(prefix)
    const { status, report } = await cli(['--target', 'aws', '--with-pipeline', '--prefix', prefix, '--mix', 'mixed', ...SMALL, '--verify'])
    expect(status).toBe(0)
    expectAccounted(report)
    expect(report.target).toMatchObject({ kind: 'aws', pipeline: 'in-process' })
    expect(report.queueDepth.length).toBeGreaterThan(0)
    expect(report.deadLettered).toBe(0)
  })

  it('with the pipeline running apart (as a deployed stack): the load test writes the genesis, injects and tracks', async () => {
    const prefix = uniquePrefix('lx')
    prefixes.push(prefix)
    await createResources(clients, prefix)
    const backend = await openBackend(clients, prefix)
    // The system under test, started before the load test with the same workload genesis.
    const shape = { mix: 'erc20' as const, accounts: 20, hotShare: 0.05, pools: 2, seed: 1 }
    const { file } = genesisSetup(shape, senderAddresses(shape.seed, shape.accounts), { chainId: 7777n, hardfork: 'cancun' })
    const pipeline = await startPipeline({
      genesis: buildGenesis(file),
      workers: 1,
      threads: false,
      blockSize: 500,
      verify: true,
      idleSleepMs: 50,
      backends: { kv: backend.kv, ingress: backend.queues.ingress, shardQueue: backend.queues.shards, doneQueue: backend.queues.done, deadLetter: backend.deadLetters.ingress },
    })
    try {
      const { status, report } = await cli(['--target', 'aws', '--prefix', prefix, '--mix', 'erc20', ...SMALL, '--per-message', '2'])
      expect(status).toBe(0)
      expectAccounted(report)
      expect(report.target).toMatchObject({ kind: 'aws', pipeline: 'external' })
      expect(report.results.reverted).toBe(0)
    } finally {
      await pipeline.stop()
    }
  })
})
