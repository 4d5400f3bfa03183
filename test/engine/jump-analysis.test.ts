import { createEVM } from '@ethereumjs/evm'
import { describe, expect, it } from 'vitest'

import { buildGenesis } from '../../shared/chain/genesis.ts'
import { cacheJumpAnalysis, jumpAnalysisCache } from '../../shared/exec/jump-analysis.ts'
import { generateWorkload } from '../../shared/workload/generator.ts'
import { runInline } from '../helpers/chain.ts'

// A loop: counter 3, JUMPDEST at 2, decrement, JUMPI back while non-zero; then a jump to 0x0e
// (the 0x5b inside PUSH1 0x5b's immediate, which is not a valid destination: the call fails).
const LOOP = Uint8Array.from([0x60, 0x03, 0x5b, 0x60, 0x01, 0x90, 0x03, 0x80, 0x60, 0x02, 0x57, 0x60, 0x0e, 0x56, 0x60, 0x5b, 0x00])
// The same loop, then a jump to a real JUMPDEST and STOP.
const GOOD = Uint8Array.from([0x60, 0x03, 0x5b, 0x60, 0x01, 0x90, 0x03, 0x80, 0x60, 0x02, 0x57, 0x60, 0x0e, 0x56, 0x5b, 0x00])

async function run(evm: Awaited<ReturnType<typeof createEVM>>, code: Uint8Array): Promise<[bigint, string | undefined]> {
  const result = await evm.runCode({ code, gasLimit: 100_000n })
  return [result.executionGasUsed, result.exceptionError?.error]
}

describe('jump analysis cached per code', () => {
  it('gives what the library gives, computes each code once on an enabled EVM and leaves other EVMs alone', async () => {
    const stock = await createEVM()
    const cached = await createEVM()
    await cacheJumpAnalysis(cached)
    expect(jumpAnalysisCache().status).toBe('on')
    const before = jumpAnalysisCache()
    for (const code of [LOOP, GOOD, LOOP, GOOD, LOOP]) expect(await run(cached, code)).toEqual(await run(stock, code))
    const after = jumpAnalysisCache()
    expect(after.misses - before.misses).toBe(2)
    expect(after.hits - before.hits).toBe(3)
    expect((await run(stock, LOOP))[1]).toMatch(/^invalid JUMP/)
    expect((await run(stock, GOOD))[1]).toBeUndefined()
    // Equal bytes in another object are analysed again: the cache is by identity, never by content.
    await run(cached, Uint8Array.from(GOOD))
    expect(jumpAnalysisCache().misses - after.misses).toBe(1)
  })
})

describe("the engine's executors", () => {
  it('serve repeated calls of a contract from the cache, and the blocks match sequential execution', async () => {
    const before = jumpAnalysisCache()
    const w = generateWorkload({ txs: 60, mix: 'erc20', accounts: 30, hotShare: 0, pools: 1, seed: 5 })
    const { summary } = await runInline(buildGenesis(w.genesis), w.rawTxs, { workers: 1, shards: 1, blockSize: 30 })
    expect(summary.included).toBe(60)
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    const after = jumpAnalysisCache()
    expect(after.hits - before.hits).toBeGreaterThan(after.misses - before.misses)
  })
})
