/**
 * The AI precompile end to end on the embedded cluster, with every block checked against
 * sequential @ethereumjs/vm (whose precompile uses the plain CPU implementation): direct calls
 * and failures with their gas, a model registered by a deployment in the middle of a block,
 * the Classifier contract, and the `ai` workload with calls batched per model (the `ai` stage
 * forced on the gpu.js cpu backend) answering exactly what the CPU computes.
 */
import { describe, expect, it } from 'vitest'

import { encodeModel, evaluateCpu, modelAddress, randomModel } from '../../shared/ai/model.ts'
import { AI_PRECOMPILE_ADDRESS, aiGas, encodeAiInput } from '../../shared/ai/precompile.ts'
import { aiWorkloadModel, CLASSIFIER_ADDRESS, classifyCallData } from '../../shared/ai/workload.ts'
import { buildGenesis } from '../../shared/chain/genesis.ts'
import { createAccelerators } from '../../shared/gpu/accelerators.ts'
import { acceleratorSettingsFromEnv, gpuConfigOf } from '../../shared/gpu/config.ts'
import { to0x } from '../../shared/hex.ts'
import artifacts from '../../shared/workload/contracts/artifacts.json' with { type: 'json' }
import { createRng, generateWorkload } from '../../shared/workload/generator.ts'
import { deploymentCode } from '../../functions/cli/models.ts'
import { predictedCreatedAddress } from '../helpers/ai.ts'
import { addressOf, runInline, signTx, testGenesis } from '../helpers/chain.ts'

const SEED = Number(process.env['PAREVM_TEST_SEED'] ?? Math.floor(Math.random() * 2 ** 31))
console.log(`ai precompile tests: seed ${SEED}`)

const gpuOff = () => createAccelerators({ gpu: gpuConfigOf({ backend: 'off' }) })

/** Calldata gas of a transaction (EIP-2028). */
function calldataGas(data: Uint8Array): bigint {
  let gas = 0n
  for (const b of data) gas += b === 0 ? 4n : 16n
  return gas
}

describe('the AI precompile on the cluster', () => {
  it('answers direct calls at their documented gas, fails malformed ones, and matches sequential execution', async () => {
    const rng = createRng(SEED)
    const model = randomModel(rng, [8, 6, 3])
    const code = encodeModel(model)
    const address = modelAddress(code)
    const genesis = testGenesis({ accounts: 4, extraAlloc: { [address]: { balance: '0x0', nonce: '0x1', code: to0x(code) } } })
    const good = encodeAiInput(address, Int8Array.from({ length: 8 }, () => Math.floor(rng() * 256) - 128))
    const wrongLength = encodeAiInput(address, Int8Array.of(1, 2, 3))
    const noModel = encodeAiInput(addressOf(3), new Int8Array(8))
    const raws = [good, wrongLength, noModel].map((data, i) => signTx({ from: i, nonce: 0, to: AI_PRECOMPILE_ADDRESS, data: to0x(data), gasLimit: 100_000n }))
    const { summary, events } = await runInline(genesis, raws, { blockSize: 10, accelerators: gpuOff() })
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    const receipts = events.flatMap((e) => e.sealed.receipts)
    expect(receipts.map((r) => r.status)).toEqual([1, 0, 0])
    expect(BigInt(receipts[0]!.gasUsed)).toBe(21_000n + calldataGas(good) + aiGas(model, code.length))
    // A failing call consumes all the gas it was given.
    expect(BigInt(receipts[1]!.gasUsed)).toBe(100_000n)
  })

  it('a model deployed mid-block is usable by the transactions after it, not before', async () => {
    const model = randomModel(createRng(SEED + 1), [4, 2])
    const code = encodeModel(model)
    const deployer = 0
    const address = predictedCreatedAddress(addressOf(deployer), 0n)
    const call = to0x(encodeAiInput(address, Int8Array.of(1, -2, 3, -4)))
    const raws = [
      signTx({ from: 1, nonce: 0, to: AI_PRECOMPILE_ADDRESS, data: call, gasLimit: 60_000n }),
      signTx({ from: deployer, nonce: 0, data: to0x(deploymentCode(code)), gasLimit: 400_000n }),
      signTx({ from: 2, nonce: 0, to: AI_PRECOMPILE_ADDRESS, data: call, gasLimit: 60_000n }),
    ]
    const { summary, events } = await runInline(testGenesis({ accounts: 4 }), raws, { blockSize: 10, accelerators: gpuOff() })
    expect(summary.verifiedBlocks).toBe(1)
    const receipts = events[0]!.sealed.receipts
    expect(receipts.map((r) => r.status)).toEqual([0, 1, 1])
    expect(receipts[1]!.contractAddress).toBe(address)
  })

  it('the Classifier contract classifies through the precompile; batched calls give the CPU answers', async () => {
    const accelerators = createAccelerators({ gpu: gpuConfigOf({ backend: 'cpu', stages: { ai: 'on' } }) })
    const { model, code, address } = aiWorkloadModel(SEED)
    const genesis = testGenesis({
      accounts: 12,
      extraAlloc: {
        [address]: { balance: '0x0', nonce: '0x1', code: to0x(code) },
        [CLASSIFIER_ADDRESS]: { balance: '0x0', nonce: '0x1', code: artifacts.contracts.Classifier.deployedBytecode, storage: { '0x00': `0x${address.slice(2).padStart(64, '0')}` } },
      },
    })
    const rng = createRng(SEED + 2)
    const features = Array.from({ length: 24 }, () => Array.from({ length: 16 }, () => Math.floor(rng() * 256) - 128))
    // Two blocks: the first teaches the engine how calldata predicts the precompile input.
    const raws = features.map((f, k) => signTx({ from: k % 12, nonce: Math.floor(k / 12), to: CLASSIFIER_ADDRESS, data: classifyCallData(f, k % 5 === 0), gasLimit: 200_000n }))
    const { summary, events } = await runInline(genesis, raws, { blockSize: 12, accelerators })
    expect(summary.included).toBe(24)
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    const stats = accelerators.inference.stats
    expect(stats.kernelBatches).toBeGreaterThan(0)
    expect(stats.cacheHits).toBeGreaterThanOrEqual(12)
    // Every Classified event carries the arg-max of the CPU reference's outputs.
    const receipts = events.flatMap((e) => e.sealed.receipts)
    receipts.forEach((r, k) => {
      expect(r.status).toBe(1)
      const out = [...evaluateCpu(model, features[k]!)]
      const best = Math.max(...out)
      const log = r.logs[0]!
      expect(log.address).toBe(CLASSIFIER_ADDRESS)
      expect(log.topics[1]).toBe(`0x${addressOf(k % 12).slice(2).padStart(64, '0')}`)
      expect(BigInt(`0x${log.data.slice(2, 66)}`)).toBe(BigInt(out.indexOf(best)))
      expect(BigInt.asIntN(256, BigInt(`0x${log.data.slice(66, 130)}`))).toBe(BigInt(best))
    })
  })

  it('the ai workload mix seals and verifies with the default settings and with batching forced', async () => {
    const envs = [{}, { PAREVM_GPU_BACKEND: 'webasm', PAREVM_GPU_STAGES: 'ai=on' }]
    for (const [k, env] of envs.entries()) {
      // Fresh inputs per run: results are cached by (model, input) across blocks.
      const workload = generateWorkload({ txs: 36, mix: 'ai', accounts: 12, hotShare: 0.3, pools: 1, seed: (SEED % 1000) * 2 + k })
      const accelerators = createAccelerators(acceleratorSettingsFromEnv(env))
      const { summary } = await runInline(buildGenesis(workload.genesis), workload.rawTxs, { blockSize: 12, accelerators })
      expect(summary.included, JSON.stringify(env)).toBe(36)
      expect(summary.verifiedBlocks).toBe(summary.blocks)
      const batched = accelerators.inference.stats.kernelBatches
      if ('PAREVM_GPU_STAGES' in env) expect(batched).toBeGreaterThan(0)
      else expect(batched).toBe(0)
    }
  })
})
