import { createChainCommon, createMainnetCommon, type SupportedHardfork } from '../chain/common.ts'

import type { ChainSpec } from './block-env.ts'
import type { Common } from '@ethereumjs/common'

const cache = new Map<string, Common>()

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
