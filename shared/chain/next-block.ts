/**
 * Header fields of the next block in build mode, from its parent (the head): the EIP-1559 base
 * fee and EIP-4844 excess blob gas by @ethereumjs/block's own rules, a deterministic prevRandao
 * (keccak of the parent hash), the timestamp.
 */
import { createBlockHeader } from '@ethereumjs/block'

import { keccak256 } from '../crypto/keccak.ts'
import { bigintToHex, fromHex, to0x } from '../hex.ts'

import type { BlockEnv } from '../exec/block-env.ts'
import type { HeadRecord } from '../store/records.ts'
import type { Common } from '@ethereumjs/common'

export interface NextBlockOptions {
  coinbase: string
  blockTimeSec: number
  extraData?: string
}

export function nextBlockEnv(head: HeadRecord, common: Common, options: NextBlockOptions): BlockEnv {
  const number = BigInt(head.number) + 1n
  const parent = createBlockHeader(
    {
      number: BigInt(head.number),
      gasLimit: BigInt(head.gasLimit),
      gasUsed: BigInt(head.gasUsed),
      timestamp: BigInt(head.timestamp),
      ...(head.baseFeePerGas !== undefined ? { baseFeePerGas: BigInt(head.baseFeePerGas) } : {}),
      ...(head.excessBlobGas !== undefined ? { excessBlobGas: BigInt(head.excessBlobGas), blobGasUsed: BigInt(head.blobGasUsed ?? 0) } : {}),
    },
    { common, setHardfork: false, skipConsensusFormatValidation: true },
  )
  const env: BlockEnv = {
    number: bigintToHex(number),
    parentHash: head.hash,
    timestamp: bigintToHex(BigInt(head.timestamp) + BigInt(options.blockTimeSec)),
    coinbase: options.coinbase.toLowerCase(),
    gasLimit: head.gasLimit,
    difficulty: common.gteHardfork('paris') ? '0x0' : head.difficulty,
    mixHash: to0x(keccak256(fromHex(head.hash))),
    extraData: options.extraData ?? '0x',
  }
  if (common.isActivatedEIP(1559)) env.baseFeePerGas = bigintToHex(parent.calcNextBaseFee())
  if (common.isActivatedEIP(4844)) {
    env.excessBlobGas = bigintToHex(parent.calcNextExcessBlobGas(parent.common))
    env.parentBeaconBlockRoot = to0x(new Uint8Array(32))
  }
  if (common.isActivatedEIP(4895)) env.withdrawals = []
  return env
}
