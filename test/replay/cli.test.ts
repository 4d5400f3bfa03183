/**
 * `parevm replay` as a user runs it: exit status 0 when every block matches its header, 1 with
 * the differing fields (and whether sequential @ethereumjs/vm agrees with the header) when one
 * does not, 2 for bad arguments. The fixtures are in the repository (test/fixtures/mainnet-blocks).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'

import { afterEach, describe, expect, it, vi } from 'vitest'

import { main } from '../../functions/cli/main.ts'
import { ConfigError } from '../../shared/errors.ts'
import { mainnetFixturesDir } from '../../shared/replay/fixtures-dir.ts'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'mainnet-blocks')

async function parevm(args: string[]): Promise<{ status: number; stdout: string }> {
  let stdout = ''
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk)
    return true
  })
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try {
    return { status: await main(args), stdout }
  } finally {
    out.mockRestore()
    err.mockRestore()
  }
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('parevm replay', () => {
  it('defaults to the repository\'s fixture blocks', () => {
    expect(mainnetFixturesDir()).toBe(FIXTURES)
    expect(mainnetFixturesDir(tmpdir())).toBeUndefined()
    expect(existsSync(join(FIXTURES, '19933122', 'block.json.gz'))).toBe(true)
    expect(existsSync(join(FIXTURES, '9068998', 'block.json.gz'))).toBe(true)
  })

  it('reports every block matching its header and exits 0', async () => {
    const r = await parevm(['replay', join(FIXTURES, '9068998'), join(FIXTURES, '19933122'), '--inline', '--workers', '2'])
    expect(r.status, r.stdout).toBe(0)
    expect(r.stdout).toMatch(/block 9068998 .* MATCH/)
    expect(r.stdout).toMatch(/block 19933122 .*cancun.* 45 txs .* MATCH/)
    expect(r.stdout).toContain('2 of 2 blocks match receiptsRoot, gasUsed and logsBloom')
    expect(r.stdout).toMatch(/\d+ re-executed by the coordinator, \d+ balance-shifted, /)
  })

  it('runs the workers as threads and prints JSON lines', async () => {
    const r = await parevm(['replay', join(FIXTURES, '19933122'), '--workers', '2', '--json'])
    expect(r.status, r.stdout).toBe(0)
    const line = JSON.parse(r.stdout.trim()) as { ok: boolean; block: string; txs: number; shards: number; receiptsRoot: boolean; holdMs: number; timings: Record<string, number> }
    expect(line).toMatchObject({ ok: true, block: '19933122', txs: 45, receiptsRoot: true })
    expect(line.shards).toBe(2)
    // Each thread held the block's pre-state and ran its shard on it.
    expect(line.timings.workerHeldShards).toBe(2)
    expect(line.holdMs).toBeGreaterThanOrEqual(0)
    expect(line).toHaveProperty('balanceShifted')
  })

  it('exits 1 on a block whose header does not match, and says whether the reference agrees', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'parevm-replay-')), '19933122')
    mkdirSync(dir)
    for (const f of ['pre_state.json.gz', 'block_hashes.json.gz']) {
      if (existsSync(join(FIXTURES, '19933122', f))) copyFileSync(join(FIXTURES, '19933122', f), join(dir, f))
    }
    const block = JSON.parse(gunzipSync(readFileSync(join(FIXTURES, '19933122', 'block.json.gz'))).toString('utf8')) as { gasUsed: string }
    block.gasUsed = `0x${(BigInt(block.gasUsed) + 1n).toString(16)}`
    writeFileSync(join(dir, 'block.json.gz'), gzipSync(JSON.stringify(block)))
    const r = await parevm(['replay', dir, '--inline', '--workers', '2'])
    expect(r.status).toBe(1)
    expect(r.stdout).toContain('MISMATCH (receiptsRoot ok, gasUsed DIFFERS, logsBloom ok)')
    expect(r.stdout).toContain('does not reproduce the header either')
    expect(r.stdout).toContain('0 of 1 blocks match')
  })

  it('refuses a folder that is not a block', async () => {
    await expect(parevm(['replay', join(tmpdir(), 'no-such-block-folder')])).rejects.toThrow(ConfigError)
    await expect(parevm(['replay', '--workers', 'lots'])).rejects.toThrow(ConfigError)
  })
})
