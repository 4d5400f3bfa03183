/**
 * Predicted read and write sets of a transaction, from what it says about itself (sender,
 * recipient, value, EIP-2930 access list) and from templates learned for its (contract,
 * selector). The beneficiary is left out: its fee is a deferred delta, not a conflict.
 */
import { RLP } from '@ethereumjs/rlp'
import { Capability, type AccessList2930Tx } from '@ethereumjs/tx'

import { keccak256 } from '../crypto/keccak.ts'
import { toHex } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH, STORAGE_KEY_LENGTH, wipeKey, type AddressHex, type StateKey } from '../state/keys.ts'

import type { DecodedTx } from '../intake/decode.ts'
import type { TemplateRegistry } from './templates.ts'

export interface Prediction {
  reads: StateKey[]
  writes: StateKey[]
  /** Estimated gas, for balancing shards. */
  gas: number
  /** A learned template covered the call. */
  templated: boolean
  /**
   * `gas` is known (a template's mean, or 21,000 for a transfer without calldata) rather than
   * the transaction's gas limit, which says little about what a call uses.
   */
  gasKnown: boolean
}

export function createdAddress(sender: Uint8Array, nonce: bigint): AddressHex {
  return toHex(keccak256(RLP.encode([sender, nonce])).subarray(12))
}

export function predictAccess(decoded: DecodedTx, templates: TemplateRegistry, coinbase: AddressHex): Prediction {
  const { tx, senderHex } = decoded
  const reads = new Set<StateKey>([senderHex])
  const writes = new Set<StateKey>([senderHex])
  let gas = Number(tx.gasLimit)
  let templated = false
  let gasKnown = false
  if (tx.to === undefined) {
    writes.add(createdAddress(decoded.sender, tx.nonce))
  } else {
    const to = toHex(tx.to.bytes)
    reads.add(to)
    if (tx.value > 0n) writes.add(to)
    if (tx.data.length === 0) {
      gas = Math.min(gas, 21_000)
      gasKnown = true
    }
    if (tx.data.length >= 4) {
      const predicted = templates.predict({ caller: senderHex, to, data: tx.data })
      if (predicted !== undefined) {
        templated = true
        gasKnown = true
        gas = Math.min(gas, Math.max(21_000, Math.round(predicted.gas)))
        for (const key of predicted.keys) reads.add(key)
        for (const key of predicted.writes) writes.add(key)
      }
    }
  }
  if (tx.supports(Capability.EIP2930AccessLists)) {
    for (const [address, slots] of (tx as AccessList2930Tx).accessList) {
      const a = toHex(address)
      reads.add(a)
      for (const slot of slots) {
        reads.add(a + toHex(slot))
        writes.add(a + toHex(slot))
      }
    }
  }
  for (const key of [...reads, ...writes]) {
    if (key.length === STORAGE_KEY_LENGTH) reads.add(wipeKey(key.slice(0, ACCOUNT_KEY_LENGTH)))
  }
  // The beneficiary's fee is deferred; only an explicit use of its account is a conflict.
  const explicitCoinbase = senderHex === coinbase || (tx.to !== undefined && toHex(tx.to.bytes) === coinbase)
  if (!explicitCoinbase) {
    reads.delete(coinbase)
    writes.delete(coinbase)
  }
  return { reads: [...reads], writes: [...writes], gas, templated, gasKnown }
}

