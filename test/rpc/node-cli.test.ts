/**
 * `parevm node` as a user runs it, in a process of its own (from the sources, so that this file
 * does not rebuild dist/ while test/cli/cli.test.ts does): prints its URL and accounts, serves,
 * stops on Ctrl-C.
 */
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')
const PAREVM = ['--import', 'tsx', join(ROOT, 'functions', 'parevm.ts')]

describe('parevm node', () => {
  it('prints the URL, chain id and funded accounts, answers JSON-RPC and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, [...PAREVM, 'node', '--port', '0', '--inline', '--no-verify'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed:\n${out}`)), 60_000)
      const poll = setInterval(() => {
        const m = /JSON-RPC at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
        if (m !== null && out.includes('(9) 0x')) {
          clearInterval(poll)
          clearTimeout(timer)
          resolve(m[1]!)
        }
      }, 50)
    })
    expect(out).toMatch(/chain id 31337 \(cancun\)/)
    expect(out.match(/^\(\d\) 0x[0-9a-f]{40}  0x[0-9a-f]{64}$/gm)).toHaveLength(10)
    const answer = await (await fetch(url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }) })).json()
    expect(answer).toEqual({ jsonrpc: '2.0', id: 1, result: '0x7a69' })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.kill('SIGINT')
    expect(await exited).toBe(0)
    expect(out).toMatch(/stopped\n$/)
  })

  it('refuses bad options with exit status 2', () => {
    const port = spawnSync(process.execPath, [...PAREVM, 'node', '--port', 'x'], { encoding: 'utf8', timeout: 60_000 })
    expect(port.status).toBe(2)
    expect(port.stderr).toMatch(/--port: expected a number/)
  })
})
