/**
 * The live page of `parevm node` in headless Chromium (Debian's chromium driven by
 * playwright-core; .ci/run installs it where missing): the page loads, shows a block sealed
 * after a transaction is sent, and logs no console errors. Skipped, saying so, where no
 * Chromium is installed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { chromium, type BrowserContext } from 'playwright-core'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { startNode, type RunningNode } from '../../functions/cli/node.ts'

import type { Hex } from 'viem'

const CHROMIUM = process.env.PAREVM_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))
if (CHROMIUM === undefined) console.warn('test/rpc/page.test.ts: no Chromium at /usr/bin/chromium (apt-get install chromium, or set PAREVM_CHROMIUM): the page test is skipped')

describe.skipIf(CHROMIUM === undefined)('the live page in headless Chromium', () => {
  let node: RunningNode
  let browser: BrowserContext
  let profile: string

  beforeAll(async () => {
    node = await startNode({ port: 0, threads: false, workers: 1, verify: false })
    profile = mkdtempSync(join(tmpdir(), 'parevm-chromium-'))
    // A new, empty profile (--user-data-dir) for every run.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM!,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
  })

  afterAll(async () => {
    await browser?.close()
    await node?.stop()
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true })
  })

  it('loads, shows a block sealed after a transaction is sent, and logs no console errors', async () => {
    const page = await browser.newPage()
    const problems: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text())
    })
    page.on('pageerror', (e) => problems.push(e.message))
    await page.goto(node.url)
    await page.waitForSelector('#status:text-is("live")', { timeout: 10_000 })
    expect(await page.textContent('#chain')).toBe('31337')

    const account = privateKeyToAccount(node.accounts[0]!.privateKey as Hex)
    const raw = await account.signTransaction({ chainId: 31337, type: 'eip1559', gas: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n, nonce: 0, to: node.accounts[1]!.address as Hex, value: 1n })
    const sent = await (await fetch(node.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [raw] }) })).json()
    expect((sent as { result?: string }).result).toMatch(/^0x/)
    await page.waitForSelector('tr[data-block="1"]', { timeout: 10_000 })
    const row = await page.textContent('tr[data-block="1"]')
    expect(row).toContain('1/1')
    expect(await page.textContent('#c-txs')).toBe('1')
    expect(problems).toEqual([])
    await page.close()
  })
})
