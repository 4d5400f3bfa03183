/**
 * `parevm start --backend aws`: the main job (embedded cluster, worker threads) on DynamoDB and
 * SQS at the configured endpoint, with fresh tables and queues that are deleted afterwards.
 */
import { ListTablesCommand } from '@aws-sdk/client-dynamodb'
import { afterEach, describe, expect, it, vi } from 'vitest'

import { ConfigError } from '../../shared/errors.ts'
import { startCommand } from '../../functions/cli/start.ts'
import { testClients } from '../helpers/aws.ts'

const clients = testClients()

async function runTables(): Promise<string[]> {
  const names: string[] = []
  let start: string | undefined
  for (let page = 0; page < 100; page++) {
    const out = await clients.dynamodb.send(new ListTablesCommand(start === undefined ? {} : { ExclusiveStartTableName: start }))
    names.push(...(out.TableNames ?? []).filter((n) => n.startsWith('parevm-run-')))
    start = out.LastEvaluatedTableName
    if (start === undefined) break
  }
  return names
}

describe('parevm start --backend aws', () => {
  afterEach(() => vi.restoreAllMocks())

  it('seals and verifies a generated workload through DynamoDB and SQS, then deletes its tables and queues', async () => {
    const before = await runTables()
    const out: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk))
      return true
    })
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const code = await startCommand(['--backend', 'aws', '--txs', '60', '--accounts', '20', '--pools', '2', '--block-size', '30', '--workers', '2', '--json'])
    expect(code).toBe(0)
    const text = out.join('')
    const summary = JSON.parse(text.slice(text.indexOf('{'))) as { included: number; blocks: number; verifiedBlocks: number }
    expect(summary.included).toBe(60)
    expect(summary.blocks).toBeGreaterThanOrEqual(2)
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    expect(await runTables()).toEqual(before)
  })

  it('refuses --prefix without --backend aws', async () => {
    await expect(startCommand(['--prefix', 'x', '--txs', '1'])).rejects.toBeInstanceOf(ConfigError)
  })
})
