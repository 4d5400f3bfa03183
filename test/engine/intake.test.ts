import { RLP } from '@ethereumjs/rlp'
import { createLegacyTx, createTxFromRLP } from '@ethereumjs/tx'
import { describe, expect, it } from 'vitest'

import { createChainCommon } from '../../shared/chain/common.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { bigintToMinimalBytes, concatBytes, fromHex, to0x } from '../../shared/hex.ts'
import { decodeRawTx, MAX_TX_BYTES } from '../../shared/intake/decode.ts'
import { Records } from '../../shared/store/records.ts'
import { addressOf, CHAIN_ID, ETH, GWEI, runInline, signTx, testGenesis } from '../helpers/chain.ts'

const common = createChainCommon(CHAIN_ID, 'cancun')
const ctx = { common, blockGasLimit: 30_000_000n }

function code(raw: string): string {
  const r = decodeRawTx(raw, ctx)
  return r.ok ? 'ok' : r.rejection.code
}

describe('intake (stateless checks)', () => {
  it('accepts legacy (EIP-155), EIP-2930 and EIP-1559 transactions and recovers the sender', () => {
    for (const type of [0, 1, 2] as const) {
      const r = decodeRawTx(signTx({ from: 3, nonce: 0, to: addressOf(4), type }), ctx)
      expect(r.ok).toBe(true)
      if (r.ok) expect(`0x${r.tx.senderHex}`).toBe(addressOf(3))
    }
  })

  it('rejects each kind of bad input with its code and a reason', () => {
    const good = signTx({ from: 1, nonce: 0, to: addressOf(2) })
    expect(code('0xzz')).toBe('malformed-hex')
    expect(code('0x123')).toBe('malformed-hex')
    expect(code('')).toBe('malformed-hex')
    expect(code(`0x02${'00'.repeat(MAX_TX_BYTES)}`)).toBe('oversize')
    expect(code(`0x03${good.slice(4)}`)).toBe('unsupported-type')
    expect(code(`0x04${good.slice(4)}`)).toBe('unsupported-type')
    expect(code('0x02c0')).toBe('malformed-transaction')
    expect(code('0xdeadbeef')).toBe('malformed-transaction')
    expect(code(good.slice(0, good.length - 10))).toBe('malformed-transaction')
    // Signed for another chain.
    expect(code(signTx({ from: 1, nonce: 0, to: addressOf(2), chainId: 1n }))).toBe('wrong-chain-id')
    expect(code(signTx({ from: 1, nonce: 0, to: addressOf(2), chainId: 1n, type: 0 }))).toBe('wrong-chain-id')
    // Legacy without EIP-155 replay protection.
    const unprotected = createLegacyTx({ nonce: 0, gasPrice: GWEI, gasLimit: 21000, to: addressOf(2) as `0x${string}`, value: 1 }, { common: createChainCommon(CHAIN_ID, 'cancun') })
    const unprotectedSigned = unprotected.addSignature(27n, 1n, 1n)
    expect(code(to0x(unprotectedSigned.serialize()))).toBe('unprotected')
    // s = 0 recovers no sender; a high s (above n/2) is invalid since Homestead.
    const withS = (s: bigint): string => {
      const fields = RLP.decode(fromHex(good).subarray(1)) as Uint8Array[]
      fields[11] = bigintToMinimalBytes(s)
      return to0x(concatBytes(Uint8Array.of(2), RLP.encode(fields)))
    }
    const signed = createTxFromRLP(fromHex(good), { common })
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    expect(code(withS(signed.s!))).toBe('ok')
    expect(code(withS(0n))).toBe('bad-signature')
    expect(code(withS(n - signed.s!))).toBe('bad-signature')
    expect(code(signTx({ from: 1, nonce: 0, to: addressOf(2), gasLimit: 20_000n }))).toBe('intrinsic-gas')
    expect(code(signTx({ from: 1, nonce: 0, to: addressOf(2), gasLimit: 40_000_000n }))).toBe('gas-above-block-limit')
    const r = decodeRawTx('0x123', ctx)
    expect(r.ok === false && r.rejection.reason.length > 10).toBe(true)
  })
})

describe('rejections in the pipeline', () => {
  it('rejects nonce gaps, used nonces, poor senders, low fee caps and malformed envelopes; the rest of the block proceeds', async () => {
    const poor = 9
    const genesis = testGenesis({ accounts: 10, extraAlloc: { [addressOf(poor)]: { balance: '0x1' } } })
    const txs = [
      signTx({ from: 0, nonce: 0, to: addressOf(5), value: ETH }),
      signTx({ from: 0, nonce: 2, to: addressOf(5), value: ETH }), // gap: nonce 1 missing
      signTx({ from: 1, nonce: 0, to: addressOf(6), value: ETH }),
      signTx({ from: poor, nonce: 0, to: addressOf(6), value: ETH }), // cannot pay
      signTx({ from: 2, nonce: 0, to: addressOf(7), maxFeePerGas: 1n, priorityFee: 1n }), // below base fee
      signTx({ from: 3, nonce: 0, to: addressOf(7), value: 1n }),
      signTx({ from: 3, nonce: 1, to: addressOf(7), value: 2n }),
    ]
    const { summary, cluster } = await runInline(genesis, txs, {
      beforeRun: async (c) => {
        await c.ingress.send([{ body: 'this is not json' }, { body: JSON.stringify({ raw: '0xdeadbeef' }) }, { body: JSON.stringify({ wrong: 1 }) }])
      },
    })
    expect(summary.included).toBe(4)
    expect(summary.rejectedByCode).toMatchObject({
      'nonce-gap': 1,
      'insufficient-balance': 1,
      'fee-cap-below-base-fee': 1,
      'malformed-transaction': 1,
    })
    // Each bad input is one rejection, however often its message is delivered; its record is
    // its outcome, so the message is deleted rather than dead-lettered.
    expect(summary.rejectedByCode['malformed-envelope']).toBe(2)
    expect(summary.rejected).toBe(6)
    expect(summary.deadLettered).toBe(0)
    // Every rejection is a record with a reason, found by the transaction's hash.
    const records = new Records(cluster.kv)
    const [gap, poorTx] = await records.getReceipts([to0x(keccak256(fromHex(txs[1]!))), to0x(keccak256(fromHex(txs[3]!)))])
    // The gap is judged by execution once its hold is over, where serial execution meets it.
    expect(gap).toMatchObject({ kind: 'rejection', code: 'nonce-gap', sender: addressOf(0), raw: txs[1] })
    expect(gap?.kind === 'rejection' && gap.reason).toMatch(/account has nonce of: 1 tx has nonce of: 2/)
    expect(poorTx).toMatchObject({ kind: 'rejection', code: 'insufficient-balance', block: '1' })
  })

  it('a second transaction with an already used nonce is rejected as nonce-too-low; a duplicate of an included one is dropped', async () => {
    const genesis = testGenesis({ accounts: 4 })
    const first = signTx({ from: 0, nonce: 0, to: addressOf(2), value: 1n })
    const replacement = signTx({ from: 0, nonce: 0, to: addressOf(3), value: 2n })
    // Blocks of one: `first` is included in block 1, then its duplicate and the replacement arrive.
    const { summary } = await runInline(genesis, [first, first, replacement], { blockSize: 1 })
    expect(summary.included).toBe(1)
    expect(summary.rejectedByCode['nonce-too-low']).toBe(1)
    expect(summary.rejected).toBe(1)
    expect(summary.duplicatesDropped).toBe(1)
  })
})

describe('out-of-order delivery', () => {
  it('a nonce that arrives before its predecessor waits for it; a real gap is rejected after the wait', async () => {
    const { EmbeddedCluster } = await import('../../shared/cluster/embedded.ts')
    const genesis = testGenesis({ accounts: 4 })
    const cluster = await EmbeddedCluster.start({ genesis, workers: 1, threads: false, blockSize: 10, verify: true, nonceGapHoldMs: 600 })
    try {
      await cluster.submit([signTx({ from: 0, nonce: 1, to: addressOf(3), value: 2n }), signTx({ from: 1, nonce: 1, to: addressOf(3), value: 3n })])
      const run = cluster.runUntilIdle()
      // The missing nonce 0 of sender 0 arrives later; sender 1's never does.
      await new Promise((resolve) => setTimeout(resolve, 150))
      await cluster.submit([signTx({ from: 0, nonce: 0, to: addressOf(3), value: 1n })])
      const summary = await run
      expect(summary.included).toBe(2)
      expect(summary.rejectedByCode).toEqual({ 'nonce-gap': 1 })
      expect(summary.verifiedBlocks).toBe(summary.blocks)
    } finally {
      await cluster.stop()
    }
  })
})
