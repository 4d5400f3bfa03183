/**
 * The baseline: sequential @ethereumjs/vm 10 with its default settings, as a user of the
 * library would run a block — its default MerkleStateManager, runTx per transaction,
 * transactions decoded from RLP with a Common that has no custom crypto (pure-JS sender
 * recovery), and the state root at the end.
 */
import { createBlock } from '@ethereumjs/block'
import { Common, createCustomCommon, Mainnet } from '@ethereumjs/common'
import { createTxFromRLP } from '@ethereumjs/tx'
import { createVM, runTx, type VM } from '@ethereumjs/vm'

import { fromHex, to0x } from '../shared/hex.ts'

import type { GenesisState } from '../shared/chain/genesis.ts'
import type { BlockEnv } from '../shared/exec/block-env.ts'
import { headerDataFromEnv } from '../shared/exec/block-env.ts'
import { putGenesisState } from '../shared/verify/genesis-state.ts'

export function plainCommon(genesis: GenesisState): Common {
  return createCustomCommon({ chainId: Number(genesis.chainId) }, Mainnet, { hardfork: genesis.hardfork })
}

/** A default VM holding the genesis state (not timed). */
export async function baselineVm(genesis: GenesisState): Promise<VM> {
  const common = plainCommon(genesis)
  const vm = await createVM({ common })
  await putGenesisState(vm.stateManager, genesis)
  return vm
}

export interface BaselineResult {
  ms: number
  txs: number
  stateRoot: string
}

/** Decode and run each transaction, then the state root: the timed part. */
export async function runBaseline(vm: VM, env: BlockEnv, rawTxs: readonly string[]): Promise<BaselineResult> {
  const common = vm.common
  const block = createBlock({ header: headerDataFromEnv(env) }, { common, setHardfork: false, skipConsensusFormatValidation: true })
  const t0 = performance.now()
  let gasUsed = 0n
  for (const raw of rawTxs) {
    const tx = createTxFromRLP(fromHex(raw), { common })
    const result = await runTx(vm, { tx, block, skipHardForkValidation: true, blockGasUsed: gasUsed })
    gasUsed += result.totalGasSpent
  }
  const root = await vm.stateManager.getStateRoot()
  return { ms: performance.now() - t0, txs: rawTxs.length, stateRoot: to0x(root) }
}
