/**
 * The chain head's record, made in one place: the genesis (shared/cluster/bootstrap.ts), a
 * replayed block's parent (shared/replay/store.ts) and every sealed block (the coordinator).
 */
import { bigintToHex } from '../hex.ts'

import type { BlockEnv } from '../exec/block-env.ts'
import type { HeadRecord } from './records.ts'

/** BLOCKHASH serves the last 256 blocks. */
const RECENT_HASHES = 256n

/**
 * A head record's fields as their makers hold them: the number as a bigint, the optional header
 * fields possibly undefined (left out of the record then; excess blob gas brings blobGasUsed,
 * default 0x0).
 */
export type HeadFields = Omit<HeadRecord, 'number' | 'baseFeePerGas' | 'excessBlobGas' | 'blobGasUsed'> & {
  number: bigint
  baseFeePerGas?: string | undefined
  excessBlobGas?: string | undefined
  blobGasUsed?: string | undefined
}

export function makeHeadRecord(f: HeadFields): HeadRecord {
  return {
    number: f.number.toString(),
    hash: f.hash,
    stateRoot: f.stateRoot,
    timestamp: f.timestamp,
    gasLimit: f.gasLimit,
    gasUsed: f.gasUsed,
    difficulty: f.difficulty,
    recentHashes: f.recentHashes,
    ...(f.baseFeePerGas !== undefined ? { baseFeePerGas: f.baseFeePerGas } : {}),
    ...(f.excessBlobGas !== undefined ? { excessBlobGas: f.excessBlobGas, blobGasUsed: f.blobGasUsed ?? '0x0' } : {}),
  }
}

/** The parent's recent hashes with block `number`'s added and the one that fell out of the window dropped. */
export function recentHashesAfter(parent: HeadRecord, number: bigint, hash: string): Record<string, string> {
  const recent: Record<string, string> = { ...parent.recentHashes, [number.toString()]: hash }
  delete recent[(number - RECENT_HASHES).toString()]
  return recent
}

/**
 * The head as the next block's planning sees it while block `env.number` is settled but not
 * sealed (shared/cluster/pipeline.ts): every field the next block's header takes from its parent
 * (number, timestamp, gas limit and used, base fee, blob gas) is known once settling is done;
 * the hash and state root are not (zero, `pending`), and the recent hashes end at the parent.
 */
export function pendingHead(parent: HeadRecord, env: BlockEnv, gasUsed: bigint, blobGasUsed: bigint): HeadRecord {
  const zero = `0x${'00'.repeat(32)}`
  return {
    ...makeHeadRecord({
      number: BigInt(env.number),
      hash: zero,
      stateRoot: zero,
      timestamp: env.timestamp,
      gasLimit: env.gasLimit,
      gasUsed: bigintToHex(gasUsed),
      difficulty: env.difficulty,
      recentHashes: parent.recentHashes,
      baseFeePerGas: env.baseFeePerGas,
      excessBlobGas: env.excessBlobGas,
      blobGasUsed: bigintToHex(blobGasUsed),
    }),
    pending: true,
  }
}
