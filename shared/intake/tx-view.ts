/**
 * What the sequencer reads of a transaction that passed intake (nonce order, block gas budget,
 * prediction), without building an `@ethereumjs/tx` object: a transaction decoded and checked
 * elsewhere (an intake thread, the ingress function) arrives as its raw bytes with its sender,
 * and this view re-reads its fields from the RLP (a few microseconds; building the object costs
 * tens, recovering the sender hundreds). `@ethereumjs/tx`'s transactions have the same members,
 * so code typed against `TxView` takes either.
 */
import { Address } from '@ethereumjs/util'
import { Capability } from '@ethereumjs/tx'

import { txFieldsFromRaw } from './tx-fields.ts'

export interface TxView {
  readonly type: number
  readonly nonce: bigint
  readonly gasLimit: bigint
  /** Undefined for contract creation. */
  readonly to?: Address | undefined
  readonly value: bigint
  readonly data: Uint8Array
  supports(capability: Capability): boolean
}

/** Capabilities of the transaction types intake accepts (legacy ones only with EIP-155). */
const CAPABILITIES: Record<number, readonly Capability[]> = {
  0: [Capability.EIP155ReplayProtection],
  1: [Capability.EIP2718TypedTransaction, Capability.EIP2930AccessLists],
  2: [Capability.EIP1559FeeMarket, Capability.EIP2718TypedTransaction, Capability.EIP2930AccessLists],
}

/** A transaction that passed intake, read from its raw bytes (no validation happens here). */
export class IntakeTxView implements TxView {
  readonly type: number
  readonly nonce: bigint
  readonly gasLimit: bigint
  readonly to: Address | undefined
  readonly value: bigint
  readonly data: Uint8Array
  readonly accessList: [Uint8Array, Uint8Array[]][]
  readonly gasPrice: bigint | undefined
  readonly maxFeePerGas: bigint | undefined
  readonly maxPriorityFeePerGas: bigint | undefined

  constructor(raw: Uint8Array) {
    const f = txFieldsFromRaw(raw)
    this.type = f.type
    this.nonce = f.nonce
    this.gasLimit = f.gasLimit
    this.to = f.to === undefined ? undefined : new Address(f.to)
    this.value = f.value
    this.data = f.data
    this.accessList = f.accessList ?? []
    this.gasPrice = f.gasPrice
    this.maxFeePerGas = f.maxFeePerGas
    this.maxPriorityFeePerGas = f.maxPriorityFeePerGas
  }

  supports(capability: Capability): boolean {
    return CAPABILITIES[this.type]?.includes(capability) ?? false
  }
}
