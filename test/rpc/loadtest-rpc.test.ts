/** `parevm loadtest --via rpc`: the same open-loop injection through the JSON-RPC endpoint. */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import { loadtestCommand } from '../../functions/cli/loadtest.ts'
import { expectAccounted } from '../loadtest/expect-report.ts'

import type { LoadTestReport } from '../../shared/loadtest/report.ts'

const SMALL = ['--accounts', '40', '--pools', '3', '--rate', '60', '--duration', '1.5', '--workers', '2', '--inline', '--warmup', '5', '--drain', '60', '--quiet']

describe('parevm loadtest --via rpc', () => {
  it('injects through eth_sendRawTransaction and accounts for every transaction', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parevm-loadtest-rpc-'))
    const status = await loadtestCommand(['--via', 'rpc', '--mix', 'transfers', ...SMALL, '--out', dir])
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as LoadTestReport
    expect(status).toBe(0)
    expectAccounted(report)
    expect(report.results.rejected).toBe(0)
    expect(report.target.description).toMatch(/JSON-RPC/)
  })

  it('refuses --rpc-url without --via rpc and with the embedded target', async () => {
    await expect(loadtestCommand(['--rpc-url', 'http://127.0.0.1:1'])).rejects.toThrow(/--rpc-url needs --via rpc/)
    await expect(loadtestCommand(['--via', 'rpc', '--rpc-url', 'http://127.0.0.1:1'])).rejects.toThrow(/--rpc-url is for --target aws/)
  })
})
