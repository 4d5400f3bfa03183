import { createChainCommon, createMainnetCommon, type SupportedHardfork } from '../chain/common.ts'

import type { ChainSpec } from './block-env.ts'
import type { Common } from '@ethereumjs/common'

const cache = new Map<string, Common>()
const txCache = new Map<Common, Common>()

/**
 * A Common for decoding transactions. @ethereumjs/tx copies its Common and re-merges its
 * parameters in every transaction's constructor (about 50 µs, more than a transfer's
 * execution); this one is shared: `copy()` returns itself and a parameter set is merged once.
 * Transactions built with it must not change its hardfork (the engine never does).
 */
export function sharedTxCommon(common: Common): Common {
  let shared = txCache.get(common)
  if (shared === undefined) {
    const instance = common.copy()
    const merged = new WeakSet<object>()
    const updateParams = instance.updateParams.bind(instance)
    instance.copy = () => instance
    instance.updateParams = (params) => {
      if (merged.has(params)) return
      merged.add(params)
      updateParams(params)
    }
    shared = instance
    txCache.set(common, shared)
  }
  return shared
}

/** The Common for a block of this chain (cached per chain and hardfork; do not mutate). */
export function commonFor(chain: ChainSpec, number: bigint, timestamp: bigint): Common {
  if (chain.kind === 'custom') {
    const key = `custom:${chain.chainId}:${chain.hardfork}`
    let common = cache.get(key)
    if (common === undefined) {
      common = createChainCommon(BigInt(chain.chainId), chain.hardfork as SupportedHardfork)
      cache.set(key, common)
    }
    return common
  }
  const probe = createMainnetCommon(number, timestamp)
  const key = `mainnet:${probe.hardfork()}`
  let common = cache.get(key)
  if (common === undefined) {
    common = probe
    cache.set(key, common)
  }
  return common
}
