/**
 * Header fields of the next block in build mode, from its parent (the head): the EIP-1559 base
 * fee and EIP-4844 excess blob gas by @ethereumjs/block's own rules, a deterministic prevRandao
 * (see `prevRandaoSeed`), the timestamp.
 *
 * The head may be pending (`HeadRecord.pending`: a block settled but not sealed, whose hash and
 * state root are not known yet and are zero, shared/store/head.ts `pendingHead`): the next
 * block's parent hash is then zero in its plan and filled in by the coordinator once the parent
 * is sealed (`resolvePendingParent`); every other field here comes from what settling decided.
 */
import { createBlockHeader } from '@ethereumjs/block'

import { keccak256 } from '../crypto/keccak.ts'
import { InvariantError } from '../errors.ts'
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
    mixHash: to0x(keccak256(prevRandaoSeed(head, number))),
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

/**
 * prevRandao of block `number` (built on `head`): keccak of the grandparent's hash and the
 * number, so that it is known before the parent's hash is (a block planned while its parent
 * seals). Deterministic, not random: a test chain's stand-in for the beacon chain's RANDAO.
 */
function prevRandaoSeed(head: HeadRecord, number: bigint): Uint8Array {
  const parentNumber = BigInt(head.number)
  // A head made without its recent hashes (a synthetic one) seeds with its own hash; a pending
  // head's own hash is not known, and its recent hashes always end at its parent.
  const seed = parentNumber === 0n ? head.hash : (head.recentHashes[(parentNumber - 1n).toString()] ?? (head.pending === true ? undefined : head.hash))
  if (seed === undefined) throw new InvariantError(`pending head ${head.number} lacks the hash of block ${parentNumber - 1n} among its recent hashes`)
  const bytes = new Uint8Array(40)
  bytes.set(fromHex(seed), 0)
  new DataView(bytes.buffer).setBigUint64(32, number)
  return bytes
}
