import { Mainnet, createCustomCommon } from '@ethereumjs/common'
import { describe, expect, it } from 'vitest'

import { SUPPORTED_HARDFORKS, createChainCommon } from '../../shared/chain/common.ts'
import { CHAIN_ID } from '../helpers/chain.ts'

describe('the Common the engine builds', () => {
  it('answers isActivatedEIP exactly as @ethereumjs/common does, on every hardfork and after a change of hardfork', () => {
    for (const hardfork of SUPPORTED_HARDFORKS) {
      const ours = createChainCommon(CHAIN_ID, hardfork)
      const stock = createCustomCommon({ chainId: Number(CHAIN_ID) }, Mainnet, { hardfork })
      const copy = ours.copy()
      for (let eip = 0; eip < 8200; eip++) {
        expect(ours.isActivatedEIP(eip)).toBe(stock.isActivatedEIP(eip))
        expect(copy.isActivatedEIP(eip)).toBe(stock.isActivatedEIP(eip))
      }
    }
    const moved = createChainCommon(CHAIN_ID, 'berlin')
    expect(moved.isActivatedEIP(1559)).toBe(false)
    moved.setHardfork('london')
    expect(moved.isActivatedEIP(1559)).toBe(true)
    expect(moved.isActivatedEIP(1153)).toBe(false)
    moved.setEIPs([1153])
    expect(moved.isActivatedEIP(1153)).toBe(true)
  })
})
