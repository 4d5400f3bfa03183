/**
 * The `parevm` command as a user runs it (the bundled dist/), and the README's examples kept
 * true: every `npm start -- ...` and `npx parevm ...` line in the README is run (with small
 * sizes appended, which override the defaults) and must succeed.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { beforeAll, describe, expect, it } from 'vitest'

import { addressOf, signTx, testGenesisFile } from '../helpers/chain.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const SMALL = ['--txs', '40', '--accounts', '12', '--block-size', '20', '--workers', '2']

function parevm(args: string[], cwd = ROOT): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.js'), ...args], { cwd, encoding: 'utf8', timeout: 120_000 })
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

beforeAll(() => {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'pipe' })
})

describe('parevm start', () => {
  it('seals and verifies a small mixed workload with worker threads and prints a JSON summary', () => {
    const r = parevm(['start', ...SMALL, '--json'])
    expect(r.status, r.stderr).toBe(0)
    const summary = JSON.parse(r.stdout) as { included: number; verifiedBlocks: number; blocks: number; head: { stateRoot: string }; gpu: { summary: string; reason: string } }
    expect(summary.included).toBe(40)
    expect(summary.gpu.summary).not.toContain('\n')
    expect(summary.gpu.reason.length).toBeGreaterThan(0)
    expect(summary.blocks).toBe(2)
    expect(summary.verifiedBlocks).toBe(2)
    expect(summary.head.stateRoot).toMatch(/^0x[0-9a-f]{64}$/)
  })

  it('prints a one-line gpu row; --verbose adds the loader\'s details', () => {
    const r = parevm(['start', ...SMALL, '--no-verify', '--verbose'])
    expect(r.status, r.stderr).toBe(0)
    const row = r.stdout.split('\n').find((l) => /^\s+gpu\s/.test(l))
    expect(row).toBeDefined()
    expect(row!.trim().length).toBeLessThan(130)
    expect(row).toMatch(/^\s+gpu\s+\S.*; (every stage on the CPU|.* on the (GPU|CPU))/)
    expect(r.stdout).toMatch(/gpu details \(main thread\)\s+\S+: .*stages: conflict/)
  })

  it('rejects bad options with a clear message and exit status 2', () => {
    const r = parevm(['start', '--txs', 'many'])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/--txs: expected a number/)
    const unknown = parevm(['start', '--bogus'])
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toMatch(/Unknown option '--bogus'/)
    const command = parevm(['frobnicate'])
    expect(command.status).toBe(2)
    expect(command.stderr).toMatch(/unknown command 'frobnicate'/)
  })
})

describe('parevm run', () => {
  it('executes a genesis and a transaction file and exports JSON-RPC shapes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parevm-run-'))
    writeFileSync(join(dir, 'genesis.json'), JSON.stringify(testGenesisFile({ accounts: 4 })))
    const txs = ['# two transfers and a bad line', signTx({ from: 0, nonce: 0, to: addressOf(9), value: 5n }), '', signTx({ from: 1, nonce: 0, to: addressOf(9), value: 7n }), '0xdeadbeef']
    writeFileSync(join(dir, 'txs.txt'), txs.join('\n'))
    const r = parevm(['run', '--genesis', 'genesis.json', '--txs', 'txs.txt', '--block-size', '2', '--workers', '2', '--export', 'out'], dir)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/transactions included\s+2/)
    const out = join(dir, 'out')
    expect(readdirSync(join(out, 'blocks')).sort()).toEqual(['1.json'])
    const block = JSON.parse(readFileSync(join(out, 'blocks', '1.json'), 'utf8')) as { number: string; transactions: { hash: string; from: string }[]; stateRoot: string }
    expect(block.number).toBe('0x1')
    expect(block.transactions.map((t) => t.from)).toEqual([addressOf(0), addressOf(1)])
    const receipts = JSON.parse(readFileSync(join(out, 'receipts', '1.json'), 'utf8')) as { transactionHash: string; status: string; cumulativeGasUsed: string }[]
    expect(receipts.map((x) => x.transactionHash)).toEqual(block.transactions.map((t) => t.hash))
    expect(receipts.map((x) => x.status)).toEqual(['0x1', '0x1'])
    expect(receipts[1]!.cumulativeGasUsed).toBe('0xa410')
    const rejections = JSON.parse(readFileSync(join(out, 'rejections.json'), 'utf8')) as { code: string }[]
    expect(rejections.map((x) => x.code)).toEqual(['malformed-transaction'])
    const chain = JSON.parse(readFileSync(join(out, 'chain.json'), 'utf8')) as { chainId: number; lastBlock: number }
    expect(chain).toMatchObject({ chainId: 7777, lastBlock: 1 })
  })

  it('names a missing or invalid genesis clearly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'parevm-run-'))
    writeFileSync(join(dir, 'txs.txt'), '')
    const missing = parevm(['run', '--genesis', 'nope.json', '--txs', 'txs.txt'], dir)
    expect(missing.status).toBe(2)
    expect(missing.stderr).toMatch(/cannot read the genesis file nope.json/)
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ config: { chainId: 1 }, alloc: { '0x12': { balance: '1' } }, gasLimit: '0x1' }))
    const bad = parevm(['run', '--genesis', 'bad.json', '--txs', 'txs.txt'], dir)
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/invalid genesis file at alloc/)
  })
})

describe('README examples', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const examples = [...readme.matchAll(/^npm start -- (.+?)(?:\s+#.*)?$/gm)].map((m) => m[1]!.trim())
  it('has examples to run', () => {
    expect(examples.length).toBeGreaterThan(0)
  })
  for (const example of examples) {
    it(`npm start -- ${example}`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'parevm-readme-'))
      const r = parevm(['start', ...example.split(/\s+/), ...SMALL], dir)
      expect(r.status, r.stderr).toBe(0)
    })
  }
})
