import { describe, expect, it } from 'vitest'

import { SequentialVerifier } from '../../shared/verify/sequential.ts'
import { addressOf, runInline, signTx, testGenesis } from '../helpers/chain.ts'

import type { SupportedHardfork } from '../../shared/chain/common.ts'

/** BLOCKHASH(number-1), NUMBER, COINBASE BALANCE stored and LOG0'd. */
const CONTEXT = '0x600143034080600055600052438060015560205241318060025560405260606000a000'
const CONTEXT_ADDRESS = `0x${'30'.repeat(20)}`

describe('the sequential check on other hardforks', () => {
  for (const hardfork of ['byzantium', 'berlin', 'london', 'paris', 'shanghai', 'prague'] as SupportedHardfork[]) {
    it(`${hardfork}: passes the engine's blocks and catches a tampered header`, async () => {
      const chain = { accounts: 3, hardfork, extraAlloc: { [CONTEXT_ADDRESS]: { balance: '0x0', code: CONTEXT } } }
      const type = ['byzantium', 'berlin'].includes(hardfork) ? 0 : 2
      const txs = [0, 1, 2].flatMap((nonce) => [
        signTx({ from: 0, nonce, to: CONTEXT_ADDRESS, gasLimit: 200_000n, type, hardfork }),
        signTx({ from: 1, nonce, to: addressOf(2), value: 1n, type, hardfork }),
      ])
      const { events, summary } = await runInline(testGenesis(chain), txs, { verify: false, blockSize: 2 })
      expect(summary.included).toBe(6)
      const verifier = await SequentialVerifier.fromGenesis(testGenesis(chain))
      for (const e of events) expect((await verifier.verify(e.sealed)).difference).toBeUndefined()
      const tampered = structuredClone(events[0]!.sealed)
      tampered.record.header.stateRoot = `0x${'11'.repeat(32)}`
      const fresh = await SequentialVerifier.fromGenesis(testGenesis(chain))
      expect((await fresh.verify(tampered)).difference).toMatch(/^header stateRoot/)
    })
  }
})
