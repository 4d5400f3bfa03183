import { describe, expect, it } from 'vitest'

import { createChainCommon } from '../../shared/chain/common.ts'
import { sharedTxCommon } from '../../shared/exec/common-for.ts'
import { runnableTx } from '../../shared/exec/executor.ts'
import { to0x } from '../../shared/hex.ts'
import { decodeRawTx } from '../../shared/intake/decode.ts'
import { addressOf, CHAIN_ID, signTx } from '../helpers/chain.ts'

describe('runnableTx', () => {
  const common = sharedTxCommon(createChainCommon(CHAIN_ID, 'cancun'))

  it('answers the sender intake recovered, without recovery or hashing, and is frozen like a decoded transaction', () => {
    const raw = signTx({ from: 3, nonce: 7, to: addressOf(1), value: 5n })
    const decoded = decodeRawTx(raw, { common, blockGasLimit: 30_000_000n })
    if (!decoded.ok) throw new Error(decoded.rejection.reason)
    const { sender, senderPubKey } = decoded.tx
    const tx = runnableTx(decoded.tx.raw, common, sender, senderPubKey)
    expect(tx.getSenderAddress().toString()).toBe(addressOf(3))
    expect(tx.getSenderPublicKey()).toBe(senderPubKey)
    expect(Object.isFrozen(tx)).toBe(true)
    expect(to0x(tx.hash())).toBe(decoded.tx.hashHex)
    expect(tx.nonce).toBe(7n)
    // The address comes from the plan, not from the key: what was given is what runTx gets.
    const other = runnableTx(decoded.tx.raw, common, Uint8Array.from(Buffer.from(addressOf(4).slice(2), 'hex')), senderPubKey)
    expect(other.getSenderAddress().toString()).toBe(addressOf(4))
    expect(() => runnableTx(decoded.tx.raw, common, new Uint8Array(19), senderPubKey)).toThrow(/20 bytes/)
  })
})
