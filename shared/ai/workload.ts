/**
 * The `ai` workload mix: a model account and a Classifier contract (Classifier.sol) in the
 * genesis, and transactions that classify random feature vectors through the AI precompile.
 * A share `hotShare` of the calls also counts labels in a shared counter (hot keys).
 */
import { keccak256 } from '../crypto/keccak.ts'
import { toHex } from '../hex.ts'
import artifacts from '../workload/contracts/artifacts.json' with { type: 'json' }
import { encodeModel, modelAddress, randomModel, type Model } from './model.ts'

import type { GenesisFile } from '../chain/genesis.ts'

/** The workload's model: 16 int8 features, a 32-unit ReLU layer, 4 output scores. */
export const AI_WORKLOAD_DIMS = [16, 32, 4] as const
export const CLASSIFIER_ADDRESS = `0x${'0000000c'}${(1).toString(16).padStart(32, '0')}`
export const CLASSIFY_SELECTOR = toHex(keccak256(new TextEncoder().encode('classify(int8[])')).subarray(0, 4))
export const CLASSIFY_AND_COUNT_SELECTOR = toHex(keccak256(new TextEncoder().encode('classifyAndCount(int8[])')).subarray(0, 4))
export const AI_TX_GAS_LIMIT = 200_000n

/** xorshift32: a small seeded generator for the model's weights. */
function seeded(seed: number): () => number {
  let s = (seed ^ 0x5eed_a1a1) >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 2 ** 32
  }
}

export interface AiWorkloadModel {
  model: Model
  code: Uint8Array
  address: string
}

export function aiWorkloadModel(seed: number): AiWorkloadModel {
  const model = randomModel(seeded(seed), AI_WORKLOAD_DIMS)
  const code = encodeModel(model)
  return { model, code, address: modelAddress(code) }
}

/** Genesis accounts of the mix: the model account and the classifier pointing at it. */
export function aiGenesisAlloc(seed: number): GenesisFile['alloc'] {
  const { code, address } = aiWorkloadModel(seed)
  return {
    [address]: { balance: '0x0', nonce: '0x1', code: `0x${toHex(code)}` },
    [CLASSIFIER_ADDRESS]: {
      balance: '0x0',
      nonce: '0x1',
      code: artifacts.contracts.Classifier.deployedBytecode,
      storage: { '0x00': `0x${address.slice(2).padStart(64, '0')}` },
    },
  }
}

/** Calldata of classify / classifyAndCount(int8[] features). */
export function classifyCallData(features: ArrayLike<number>, count: boolean): string {
  const words = [(0x20).toString(16).padStart(64, '0'), features.length.toString(16).padStart(64, '0')]
  for (let i = 0; i < features.length; i++) {
    const v = features[i]!
    words.push(v < 0 ? (2n ** 256n + BigInt(v)).toString(16) : v.toString(16).padStart(64, '0'))
  }
  return `0x${count ? CLASSIFY_AND_COUNT_SELECTOR : CLASSIFY_SELECTOR}${words.join('')}`
}

/** One classification request: random int8 features; `hot` also counts the label. */
export function aiIntent(rng: () => number, hot: boolean): { to: string; value: bigint; data: string; gasLimit: bigint } {
  const features = Array.from({ length: AI_WORKLOAD_DIMS[0] }, () => Math.floor(rng() * 256) - 128)
  return { to: CLASSIFIER_ADDRESS, value: 0n, data: classifyCallData(features, hot), gasLimit: AI_TX_GAS_LIMIT }
}
