import { describe, expect, it } from 'vitest'

import { SequentialVerifier } from '../../shared/verify/sequential.ts'
import { addressOf, runInline, signTx, testGenesis } from '../helpers/chain.ts'

import type { SealedBlock } from '../../shared/coordinator/coordinator.ts'

describe('the sequential check', () => {
  it('accepts a sealed block and reports the first difference of a tampered one', async () => {
    const genesis = testGenesis({ accounts: 4 })
    const txs = [signTx({ from: 0, nonce: 0, to: addressOf(3), value: 5n }), signTx({ from: 1, nonce: 0, to: addressOf(3), value: 6n })]
    const { events } = await runInline(genesis, txs, { verify: false })
    const sealed = events[0]!.sealed
    const check = async (mutate: (b: SealedBlock) => SealedBlock): Promise<string | undefined> => {
      const verifier = await SequentialVerifier.fromGenesis(testGenesis({ accounts: 4 }))
      const result = await verifier.verify(mutate(structuredClone(sealed)))
      return result.ok ? undefined : result.difference
    }
    expect(await check((b) => b)).toBeUndefined()
    expect(await check((b) => ({ ...b, receipts: b.receipts.map((r, i) => (i === 1 ? { ...r, status: 0 as const } : r)) }))).toMatch(/first differing receipt: transaction 1/)
    expect(await check((b) => ({ ...b, receipts: b.receipts.map((r) => ({ ...r, cumulativeGasUsed: '0x5208' })) }))).toMatch(/first differing receipt: transaction 1/)
    expect(await check((b) => ({ ...b, record: { ...b.record, header: { ...b.record.header, stateRoot: `0x${'00'.repeat(32)}` } } }))).toMatch(/state root/)
    expect(await check((b) => ({ ...b, record: { ...b.record, header: { ...b.record.header, gasUsed: '0x1' } } }))).toMatch(/gas used/)
    expect(await check((b) => ({ ...b, raws: b.raws.slice(0, 1) }))).toMatch(/receipt count/)
  })
})
