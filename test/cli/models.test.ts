/** `parevm models`: example, inspect, register (genesis and deployment), list, and bad input. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { createTxFromRLP } from '@ethereumjs/tx'
import { afterEach, describe, expect, it, vi } from 'vitest'

import { decodeModel, encodeModel, modelAddress, modelFromFile } from '../../shared/ai/model.ts'
import { createChainCommon } from '../../shared/chain/common.ts'
import { ConfigError } from '../../shared/errors.ts'
import { fromHex, toHex } from '../../shared/hex.ts'
import { deploymentCode, modelsCommand } from '../../functions/cli/models.ts'
import { CHAIN_ID, key, testGenesisFile } from '../helpers/chain.ts'

afterEach(() => {
  vi.restoreAllMocks()
})

async function run(args: string[]): Promise<{ status: number; stdout: string }> {
  let stdout = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()
    return true
  })
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  const status = await modelsCommand(args)
  vi.restoreAllMocks()
  return { status, stdout }
}

/** A model file of this test's own (no test reads a file another test wrote). */
async function ownModel(): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'parevm-models-own-')), 'model.json')
  expect((await run(['example', '--dims', '8,5,3', '--seed', '7', '--out', path])).status).toBe(0)
  return path
}

describe('parevm models', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parevm-models-'))
  const modelPath = join(dir, 'model.json')
  const genesisPath = join(dir, 'genesis.json')

  it('writes an example, inspects it, registers it in a genesis and lists it', async () => {
    expect((await run(['example', '--dims', '8,5,3', '--seed', '7', '--out', modelPath])).status).toBe(0)
    const model = modelFromFile(JSON.parse(readFileSync(modelPath, 'utf8')))
    const code = encodeModel(model)
    const inspected = JSON.parse((await run(['inspect', modelPath])).stdout) as { address: string; codeHash: string; macs: number; gasPerCall: number }
    expect(inspected.address).toBe(modelAddress(code))
    expect(inspected.macs).toBe(8 * 5 + 5 * 3)

    writeFileSync(genesisPath, JSON.stringify(testGenesisFile({ accounts: 2 })))
    const out = join(dir, 'with-model.json')
    expect((await run(['register', modelPath, '--genesis', genesisPath, '--out', out])).status).toBe(0)
    const genesis = JSON.parse(readFileSync(out, 'utf8')) as { alloc: Record<string, { code?: string }> }
    const stored = genesis.alloc[inspected.address]!.code!
    expect(decodeModel(fromHex(stored))).toEqual(model)
    // Registering again is a no-op; a different account at the address is refused.
    expect((await run(['register', modelPath, '--genesis', out, '--out', out])).status).toBe(0)
    const funded = Object.keys(genesis.alloc)[0]!
    expect(funded).not.toBe(inspected.address)
    await expect(run(['register', modelPath, '--genesis', out, '--address', funded])).rejects.toThrow(/already has an account/)
    const listed = JSON.parse((await run(['list', '--genesis', out])).stdout) as { address: string }[]
    expect(listed.map((m) => m.address)).toEqual([inspected.address])
  })

  it('prints a signed deployment whose creation code returns the model', async () => {
    const modelPath = await ownModel()
    const { stdout, status } = await run(['register', modelPath, '--deploy', '--key', `0x${toHex(key(3))}`, '--nonce', '5', '--chain-id', String(CHAIN_ID)])
    expect(status).toBe(0)
    const tx = createTxFromRLP(fromHex(stdout.trim()), { common: createChainCommon(CHAIN_ID, 'cancun') })
    expect(tx.to).toBeUndefined()
    expect(tx.nonce).toBe(5n)
    const code = encodeModel(modelFromFile(JSON.parse(readFileSync(modelPath, 'utf8'))))
    expect(toHex(tx.data)).toBe(toHex(deploymentCode(code)))
  })

  it('refuses bad input with ConfigErrors', async () => {
    const modelPath = await ownModel()
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, JSON.stringify({ format: 'parevm-mlp-v1', input: 600, layers: [{ weights: [new Array(600).fill(1)], bias: [0], shift: 0, relu: false }] }))
    await expect(run(['inspect', bad])).rejects.toThrow(/exactness bound/)
    await expect(run(['inspect', join(dir, 'missing.json')])).rejects.toThrow(ConfigError)
    await expect(run(['register', modelPath])).rejects.toThrow(/needs --genesis/)
    await expect(run(['register', modelPath, '--deploy', '--genesis', genesisPath])).rejects.toThrow(/either --genesis or --deploy/)
    await expect(run(['frobnicate'])).rejects.toThrow(/unknown subcommand/)
    await expect(run(['example', '--dims', '600,2'])).rejects.toThrow(/exactness bound/)
  })
})
