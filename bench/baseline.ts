/**
 * The two sequential baselines, both `@ethereumjs/vm` 10 running the engine's own blocks (the
 * same transactions in the same order under the same header fields) from the same genesis:
 *
 * - `default`: the library as a user gets it. `createVM({ common })` with its default
 *   `MerkleStateManager` (no caches: every account and storage write goes straight into the
 *   trie, which rehashes the path to the root at once), a Common without custom crypto (pure-JS
 *   @noble secp256k1 sender recovery and keccak), `runTx` per transaction with no block
 *   checkpoint, and the state root read once at the end of each block (the trie's current root:
 *   the hashing already happened write by write).
 * - `tuned`: what a careful user of the same library would do. The engine's Common
 *   (`createChainCommon`: native secp256k1 and WebAssembly keccak through `customCrypto`,
 *   `isActivatedEIP` from a Set),
 *   `Caches` on the `MerkleStateManager` (writes stay in the caches until the block commits),
 *   one checkpoint per block around its transactions and one state root per block, and one
 *   shared transaction Common (`sharedTxCommon`: no per-transaction Common copy).
 *
 * Neither has the engine's jump-analysis cache (shared/exec/jump-analysis.ts): it reaches into
 * the library's interpreter, which no option exposes, so it is the engine's executor's, not a
 * configuration a user of the library has (the mainnet section's `--tuned-jump-cache` gives it
 * to the tuned baseline, to measure how much of a ratio it accounts for).
 *
 * Timed, for both: decoding each raw transaction (with sender recovery: the engine's intake
 * does the same), `runTx` of every transaction, the block's state root. Not timed: creating the
 * VM and writing the genesis state, and the untimed warm-up blocks.
 */
import { createBlock } from '@ethereumjs/block'
import { Common, createCustomCommon, Mainnet } from '@ethereumjs/common'
import { Caches, MerkleStateManager } from '@ethereumjs/statemanager'
import { createTxFromRLP } from '@ethereumjs/tx'
import { createVM, runTx, type VM } from '@ethereumjs/vm'

import { createChainCommon } from '../shared/chain/common.ts'
import { sharedTxCommon } from '../shared/exec/common-for.ts'
import { fromHex, to0x } from '../shared/hex.ts'
import { headerDataFromEnv } from '../shared/exec/block-env.ts'
import { putGenesisState } from '../shared/verify/genesis-state.ts'

import type { GenesisState } from '../shared/chain/genesis.ts'
import type { BlockEnv } from '../shared/exec/block-env.ts'

export type BaselineKind = 'default' | 'tuned'
export const BASELINE_KINDS: readonly BaselineKind[] = ['default', 'tuned']

export const BASELINE_LABELS: Record<BaselineKind, string> = {
  default:
    'default @ethereumjs/vm 10.1.3: createVM({ common }) with its MerkleStateManager without caches (every write rehashes its trie path at once), pure-JS secp256k1 and keccak, runTx per transaction, no block checkpoint, the state root read at the end of each block',
  tuned:
    'tuned @ethereumjs/vm 10.1.3: native secp256k1 and wasm keccak through customCrypto (the engine\'s Common), Caches on the MerkleStateManager, one checkpoint and one state root per block, one shared transaction Common',
}

/** A block as the engine sealed it: its execution environment and its raw transactions in order. */
export interface BaselineBlock {
  env: BlockEnv
  raws: readonly (string | Uint8Array)[]
}

export interface BaselineResult {
  /** Decode, execute and state root of every block, summed. */
  ms: number
  txs: number
  /** Per block (ms). */
  blockMs: number[]
  /** State root after each block. */
  stateRoots: string[]
}

export function plainCommon(genesis: GenesisState): Common {
  return createCustomCommon({ chainId: Number(genesis.chainId) }, Mainnet, { hardfork: genesis.hardfork })
}

export interface Baseline {
  kind: BaselineKind
  vm: VM
  txCommon: Common
  /** One checkpoint and one state root per block (tuned), or runTx as it comes (default). */
  blockCheckpoint: boolean
}

/** A VM of this kind holding the genesis state (not timed). */
export async function baselineVm(kind: BaselineKind, genesis: GenesisState): Promise<Baseline> {
  if (kind === 'default') {
    const common = plainCommon(genesis)
    const vm = await createVM({ common })
    await putGenesisState(vm.stateManager, genesis)
    return { kind, vm, txCommon: common, blockCheckpoint: false }
  }
  const common = createChainCommon(genesis.chainId, genesis.hardfork)
  const stateManager = new MerkleStateManager({ common, caches: new Caches() })
  const vm = await createVM({ common, stateManager })
  await putGenesisState(vm.stateManager, genesis)
  return { kind, vm, txCommon: sharedTxCommon(common), blockCheckpoint: true }
}

const bytesOf = (raw: string | Uint8Array): Uint8Array => (typeof raw === 'string' ? fromHex(raw) : raw)

/** One block: decode, runTx each, state root. Returns its time (ms) and state root. */
export async function runBaselineBlock(b: Baseline, block: BaselineBlock): Promise<{ ms: number; stateRoot: string }> {
  const { vm } = b
  const header = createBlock({ header: headerDataFromEnv(block.env) }, { common: vm.common, setHardfork: false, skipConsensusFormatValidation: true })
  const raws = block.raws.map(bytesOf)
  const t0 = performance.now()
  if (b.blockCheckpoint) await vm.evm.journal.checkpoint()
  let gasUsed = 0n
  for (const raw of raws) {
    const tx = createTxFromRLP(raw, { common: b.txCommon })
    const result = await runTx(vm, { tx, block: header, skipHardForkValidation: true, blockGasUsed: gasUsed })
    gasUsed += result.totalGasSpent
  }
  if (b.blockCheckpoint) await vm.evm.journal.commit()
  const root = await vm.stateManager.getStateRoot()
  return { ms: performance.now() - t0, stateRoot: to0x(root) }
}

/** Untimed warm-up blocks, then the measured blocks, on a fresh VM of this kind. */
export async function runBaseline(kind: BaselineKind, genesis: GenesisState, warmup: readonly BaselineBlock[], measured: readonly BaselineBlock[]): Promise<BaselineResult> {
  const b = await baselineVm(kind, genesis)
  for (const block of warmup) await runBaselineBlock(b, block)
  const blockMs: number[] = []
  const stateRoots: string[] = []
  for (const block of measured) {
    const r = await runBaselineBlock(b, block)
    blockMs.push(r.ms)
    stateRoots.push(r.stateRoot)
  }
  return { ms: blockMs.reduce((s, x) => s + x, 0), txs: measured.reduce((s, x) => s + x.raws.length, 0), blockMs, stateRoots }
}
