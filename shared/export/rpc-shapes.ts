/**
 * Sealed blocks and receipts in standard Ethereum JSON-RPC shapes (eth_getBlockByNumber with
 * full transactions, eth_getTransactionReceipt), so tools outside parevm can check them.
 */
import { createTxFromRLP } from '@ethereumjs/tx'

import { bigintToHex, to0x } from '../hex.ts'

import type { SealedBlock } from '../coordinator/coordinator.ts'
import type { ReceiptRecord } from '../store/records.ts'
import type { Common } from '@ethereumjs/common'

export type RpcObject = Record<string, unknown>

const EMPTY_UNCLES = '0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347'

export function rpcTransaction(raw: Uint8Array, common: Common, index: number, blockHash: string, blockNumber: string): RpcObject {
  const tx = createTxFromRLP(raw, { common })
  const json = tx.toJSON() as Record<string, unknown>
  const out: RpcObject = {
    blockHash,
    blockNumber,
    transactionIndex: bigintToHex(BigInt(index)),
    hash: to0x(tx.hash()),
    from: tx.getSenderAddress().toString(),
    type: bigintToHex(BigInt(tx.type)),
    nonce: json.nonce,
    gas: json.gasLimit,
    to: json.to ?? null,
    value: json.value,
    input: json.data,
    v: json.v,
    r: json.r,
    s: json.s,
  }
  if (json.gasPrice !== undefined) out.gasPrice = json.gasPrice
  if (json.maxFeePerGas !== undefined) {
    out.maxFeePerGas = json.maxFeePerGas
    out.maxPriorityFeePerGas = json.maxPriorityFeePerGas
  }
  if (json.chainId !== undefined) out.chainId = json.chainId
  if (json.accessList !== undefined) out.accessList = json.accessList
  if (tx.type !== 0) out.yParity = json.v
  return out
}

export function rpcBlock(sealed: SealedBlock, common: Common): RpcObject {
  const h = sealed.record.header
  const number = bigintToHex(BigInt(sealed.record.number))
  const hash = sealed.record.hash
  const block: RpcObject = {
    number,
    hash,
    parentHash: h.parentHash,
    nonce: h.nonce,
    sha3Uncles: h.uncleHash ?? EMPTY_UNCLES,
    logsBloom: h.logsBloom,
    transactionsRoot: h.transactionsTrie,
    stateRoot: h.stateRoot,
    receiptsRoot: h.receiptTrie,
    miner: h.coinbase,
    difficulty: h.difficulty,
    extraData: h.extraData,
    gasLimit: h.gasLimit,
    gasUsed: h.gasUsed,
    timestamp: h.timestamp,
    mixHash: h.mixHash,
    uncles: [],
    transactions: sealed.raws.map((raw, i) => rpcTransaction(raw, common, i, hash, number)),
  }
  if (h.baseFeePerGas !== undefined) block.baseFeePerGas = h.baseFeePerGas
  if (h.withdrawalsRoot !== undefined) {
    block.withdrawalsRoot = h.withdrawalsRoot
    block.withdrawals = sealed.env.withdrawals ?? []
  }
  if (h.blobGasUsed !== undefined) block.blobGasUsed = h.blobGasUsed
  if (h.excessBlobGas !== undefined) block.excessBlobGas = h.excessBlobGas
  if (h.parentBeaconBlockRoot !== undefined) block.parentBeaconBlockRoot = h.parentBeaconBlockRoot
  return block
}

export function rpcReceipt(r: ReceiptRecord, logIndexStart: number): RpcObject {
  const blockNumber = bigintToHex(BigInt(r.block))
  const transactionIndex = bigintToHex(BigInt(r.index))
  const receipt: RpcObject = {
    transactionHash: r.txHash,
    transactionIndex,
    blockHash: r.blockHash,
    blockNumber,
    from: r.from,
    to: r.to,
    cumulativeGasUsed: r.cumulativeGasUsed,
    gasUsed: r.gasUsed,
    effectiveGasPrice: r.effectiveGasPrice,
    contractAddress: r.contractAddress,
    logs: r.logs.map((log, i) => ({
      address: log.address,
      topics: log.topics,
      data: log.data,
      blockNumber,
      blockHash: r.blockHash,
      transactionHash: r.txHash,
      transactionIndex,
      logIndex: bigintToHex(BigInt(logIndexStart + i)),
      removed: false,
    })),
    logsBloom: r.logsBloom,
    type: bigintToHex(BigInt(r.type)),
    status: bigintToHex(BigInt(r.status)),
  }
  if (r.blobGasUsed !== undefined) receipt.blobGasUsed = r.blobGasUsed
  return receipt
}

/** All receipts of a block, with block-wide log indices. */
export function rpcReceipts(receipts: readonly ReceiptRecord[]): RpcObject[] {
  let logIndex = 0
  return receipts.map((r) => {
    const out = rpcReceipt(r, logIndex)
    logIndex += r.logs.length
    return out
  })
}
