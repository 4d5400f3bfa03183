/**
 * The fields of a serialized transaction without building a transaction object (which
 * validates, copies and caches far more than a receipt needs). For transactions that passed
 * intake: no validation happens here.
 */
import { RLP } from '@ethereumjs/rlp'

import { MalformedInputError } from '../errors.ts'
import { bytesToBigint } from '../hex.ts'

export interface TxFields {
  type: number
  nonce: bigint
  gasLimit: bigint
  /** Undefined for contract creation. */
  to: Uint8Array | undefined
  value: bigint
  data: Uint8Array
  /** Legacy and EIP-2930. */
  gasPrice?: bigint
  /** EIP-1559 and later. */
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
  /** EIP-2930 and later: [address, storage keys][] as in the RLP. */
  accessList?: [Uint8Array, Uint8Array[]][]
}

type Fields = Uint8Array[]

export function txFieldsFromRaw(raw: Uint8Array): TxFields {
  const type = raw[0]! >= 0xc0 ? 0 : raw[0]!
  const list = RLP.decode(type === 0 ? raw : raw.subarray(1)) as unknown as Fields
  if (!Array.isArray(list)) throw new MalformedInputError('not a transaction')
  const to = (b: Uint8Array): Uint8Array | undefined => (b.length === 0 ? undefined : b)
  if (type === 0) {
    const [nonce, gasPrice, gasLimit, dest, value, data] = list
    return { type, nonce: bytesToBigint(nonce!), gasPrice: bytesToBigint(gasPrice!), gasLimit: bytesToBigint(gasLimit!), to: to(dest!), value: bytesToBigint(value!), data: data! }
  }
  if (type === 1) {
    const [, nonce, gasPrice, gasLimit, dest, value, data, accessList] = list
    return {
      type,
      nonce: bytesToBigint(nonce!),
      gasPrice: bytesToBigint(gasPrice!),
      gasLimit: bytesToBigint(gasLimit!),
      to: to(dest!),
      value: bytesToBigint(value!),
      data: data!,
      accessList: accessList as unknown as [Uint8Array, Uint8Array[]][],
    }
  }
  if (type === 2 || type === 3 || type === 4) {
    const [, nonce, priority, maxFee, gasLimit, dest, value, data, accessList] = list
    return {
      type,
      nonce: bytesToBigint(nonce!),
      maxPriorityFeePerGas: bytesToBigint(priority!),
      maxFeePerGas: bytesToBigint(maxFee!),
      gasLimit: bytesToBigint(gasLimit!),
      to: to(dest!),
      value: bytesToBigint(value!),
      data: data!,
      accessList: accessList as unknown as [Uint8Array, Uint8Array[]][],
    }
  }
  throw new MalformedInputError(`unknown transaction type ${type}`)
}

/** The price per gas the sender paid (the receipt's effectiveGasPrice). */
export function effectiveGasPrice(fields: Pick<TxFields, 'gasPrice' | 'maxFeePerGas' | 'maxPriorityFeePerGas'>, baseFee: bigint | undefined): bigint {
  if (fields.maxFeePerGas !== undefined) {
    const fee = (baseFee ?? 0n) + fields.maxPriorityFeePerGas!
    return fee < fields.maxFeePerGas ? fee : fields.maxFeePerGas
  }
  return fields.gasPrice!
}
