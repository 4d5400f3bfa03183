/** Seed a store with a genesis: flat state, code, block 0 and the chain head. */
import { GENESIS_VERSION, type GenesisState } from '../chain/genesis.ts'
import { ConfigError } from '../errors.ts'
import { bigintToHex, to0x } from '../hex.ts'
import { Records, type HeadRecord, type SealedBlockRecord } from '../store/records.ts'
import { makeHeadRecord } from '../store/head.ts'
import { StateTable } from '../store/state-table.ts'
import { realClock, type Clock } from '../ports/clock.ts'

import type { KeyValueStore } from '../ports/kv-store.ts'

export function genesisHead(genesis: GenesisState): HeadRecord {
  const h = genesis.header
  const hash = to0x(genesis.hash)
  return makeHeadRecord({
    number: 0n,
    hash,
    stateRoot: to0x(genesis.stateRoot),
    timestamp: bigintToHex(h.timestamp),
    gasLimit: bigintToHex(h.gasLimit),
    gasUsed: '0x0',
    difficulty: bigintToHex(h.difficulty),
    recentHashes: { '0': hash },
    baseFeePerGas: h.baseFeePerGas === undefined ? undefined : bigintToHex(h.baseFeePerGas),
    excessBlobGas: h.excessBlobGas === undefined ? undefined : bigintToHex(h.excessBlobGas),
  })
}

/** Initialise an empty store. Refuses a store that already has a different chain. `clock` dates the genesis block's record. */
export async function initializeChain(kv: KeyValueStore, genesis: GenesisState, clock: Clock = realClock): Promise<HeadRecord> {
  const records = new Records(kv)
  const existing = await records.getBlock(0n)
  if (existing !== undefined) {
    if (existing.hash !== to0x(genesis.hash)) {
      throw new ConfigError(`the store holds another chain (genesis ${existing.hash}, expected ${to0x(genesis.hash)})`, {
        hint: 'use an empty store (or table prefix) for a new chain',
      })
    }
    return (await records.getHead())!
  }
  const state = new StateTable(kv)
  await state.seed(genesis.entries, GENESIS_VERSION)
  await state.putCode(genesis.codes)
  const head = genesisHead(genesis)
  const block: SealedBlockRecord = {
    number: '0',
    hash: head.hash,
    header: genesis.header.toJSON() as Record<string, string>,
    txHashes: [],
    txParts: 0,
    rejected: [],
    stats: {},
    sealedAtMs: clock.now(),
  }
  await records.putGenesis(block, head)
  return head
}
