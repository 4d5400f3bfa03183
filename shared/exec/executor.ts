/**
 * Executes transactions with `@ethereumjs/vm`'s `runTx` over the flat, versioned state.
 * One Executor per thread; it keeps one VM per hardfork and points it at a block's view.
 */
import { createBlock, type Block } from '@ethereumjs/block'
import { createTxFromRLP } from '@ethereumjs/tx'
import { Address } from '@ethereumjs/util'
import { createVM, runTx, type VM } from '@ethereumjs/vm'

import { defaultInferenceService, viewModelLoader, type InferenceService } from '../ai/inference.ts'
import { aiCustomPrecompiles } from '../ai/precompile.ts'
import { InvariantError, MissingStateError, ParevmError } from '../errors.ts'
import { TxStateManager, type TxAccess } from '../state/tx-state-manager.ts'
import { commonFor, sharedTxCommon } from './common-for.ts'
import { cacheJumpAnalysis } from './jump-analysis.ts'

import { headerDataFromEnv, type BlockEnv, type ChainSpec } from './block-env.ts'
import type { RejectionCode } from '../intake/rejection.ts'
import type { StateKey } from '../state/keys.ts'
import type { BlockView } from '../state/view.ts'
import type { Common } from '@ethereumjs/common'
import type { EVMMockBlockchainInterface, Log } from '@ethereumjs/evm'
import type { TypedTransaction } from '@ethereumjs/tx'

/**
 * A transaction as `runTx` takes it, decoded from its bytes, its sender as intake recovered it
 * (shared/intake/decode.ts): the public key in the transaction's cache (no signature recovery)
 * and its address answered as given (runTx asks for it; ethereumjs would hash the public key
 * with a JavaScript keccak every time). Frozen afterwards, as the default constructor leaves it.
 */
export function runnableTx(raw: Uint8Array, common: Common, sender: Uint8Array, senderPubKey: Uint8Array): TypedTransaction {
  if (sender.length !== 20) throw new InvariantError(`a sender address is 20 bytes (got ${sender.length})`)
  const tx = createTxFromRLP(raw, { common, freeze: false })
  tx.cache.senderPubKey = senderPubKey
  tx.getSenderAddress = () => new Address(sender)
  Object.freeze(tx)
  return tx
}

/** Hashes of earlier blocks for BLOCKHASH; undefined where unknown (then execution fails loudly). */
export type BlockHashLookup = (number: bigint) => Uint8Array | undefined

/** Why runTx refused a transaction: the rejection codes that execution can give. */
export type InvalidReasonCode = Extract<
  RejectionCode,
  'nonce-too-low' | 'nonce-gap' | 'insufficient-balance' | 'fee-cap-below-base-fee' | 'intrinsic-gas' | 'sender-not-eoa' | 'gas-above-block-limit' | 'blob-fee' | 'invalid-at-execution'
>

export interface TxExecution {
  /** False when the transaction could not be included (runTx rejected it); no state changed. */
  valid: boolean
  invalidCode?: InvalidReasonCode
  invalidReason?: string
  /** Receipt status (1 success, 0 reverted or failed). */
  status: 0 | 1
  /** Gas charged to the sender (receipt gas). */
  gasUsed: bigint
  /** Gas counted against the block gas limit (equals gasUsed before EIP-7778). */
  blockGasUsed: bigint
  blobGasUsed: bigint
  logs: Log[]
  /** Receipt bloom (256 bytes). */
  bloom: Uint8Array
  createdAddress?: string
  access: TxAccess
}

/** The outcome of `simulate`: the call's return (or revert) data, its gas and logs. */
export interface SimulatedCall {
  returnValue: Uint8Array
  /** The EVM's error ('revert', 'out of gas', ...) when the call failed. */
  error?: string
  gasUsed: bigint
  /** Gas refunded at the end (part of what the call needs before the refund). */
  gasRefund: bigint
  logs: Log[]
  createdAddress?: string
}

interface VmSlot {
  vm: VM
  sm: TxStateManager
  common: Common
}

class HashLookupBlockchain implements EVMMockBlockchainInterface {
  constructor(private readonly lookup: () => BlockHashLookup) {}

  async getBlock(blockId: number): Promise<{ hash(): Uint8Array }> {
    const hash = this.lookup()(BigInt(blockId))
    if (hash === undefined) {
      throw new MissingStateError(`blockhash:${blockId}`, {
        hint: 'BLOCKHASH asked for a block whose hash is not known (replay fixtures ship block_hashes.json)',
      })
    }
    return { hash: () => hash }
  }

  async putBlock(): Promise<void> {}

  shallowCopy(): EVMMockBlockchainInterface {
    return this
  }
}

/**
 * A state value that no real item has: storage values are minimal and non-empty (zero is
 * absent), accounts are RLP lists. A store answers a key it knows it cannot supply (a replay
 * fixture's unlisted slot) with it, and the EVM reads zero. A worker's execution is
 * speculative (its view may lack other shards' writes) and may read keys the real order never
 * reads, so such a read is recorded, not fatal; the coordinator refuses to seal a transaction
 * whose validated reads include one (`unsuppliedRead`), with a MissingStateError naming it.
 */
export const UNSUPPLIED_VALUE: Uint8Array = new Uint8Array(0)

export function isUnsupplied(value: Uint8Array | null): boolean {
  return value !== null && value.length === 0
}

/** The first key of a read set whose value the store could not supply, if any. */
export function unsuppliedRead(access: TxAccess): StateKey | undefined {
  for (const [key, seen] of access.reads) if (isUnsupplied(seen.value)) return key
  return undefined
}

/**
 * The rejection code of a runTx refusal, from its message (runTx checks, in this order: gas
 * above the block's, intrinsic gas, fee cap, EIP-3607, funds, blob fee, nonce).
 */
export function classifyInvalid(message: string): InvalidReasonCode {
  const nonce = /account has nonce of: (\d+) tx has nonce of: (\d+)/.exec(message)
  if (nonce !== null) return BigInt(nonce[2]!) < BigInt(nonce[1]!) ? 'nonce-too-low' : 'nonce-gap'
  if (message.includes("doesn't have enough funds")) return 'insufficient-balance'
  if (message.includes("is less than the block's baseFeePerGas")) return 'fee-cap-below-base-fee'
  if (message.includes('INTRINSIC_GAS_TOO_LOW') || message.includes('intrinsic')) return 'intrinsic-gas'
  if (message.includes('EIP-3607')) return 'sender-not-eoa'
  if (message.includes('higher gas limit than the')) return 'gas-above-block-limit'
  if (message.includes('maxFeePerBlobGas')) return 'blob-fee'
  return 'invalid-at-execution'
}

/** ethereumjs appends "(vm hf=… -> block … -> tx …)"; keep the sentence. */
function cleanMessage(message: string): string {
  const cut = message.indexOf(' (vm hf=')
  return cut === -1 ? message : message.slice(0, cut)
}

export class Executor {
  private readonly chain: ChainSpec
  private readonly slots = new Map<string, VmSlot>()
  private hashLookup: BlockHashLookup = () => undefined
  private current: { slot: VmSlot; block: Block; env: BlockEnv; view: BlockView } | undefined
  /** The AI precompile's cache and batch evaluation (shared/ai); per thread by default. */
  private readonly inference: InferenceService
  private runningTx: TypedTransaction | undefined

  constructor(chain: ChainSpec, inference: InferenceService = defaultInferenceService()) {
    this.chain = chain
    this.inference = inference
  }

  /** The Common of this block's rules (the VM's). */
  commonForEnv(env: BlockEnv): Common {
    return commonFor(this.chain, BigInt(env.number), BigInt(env.timestamp))
  }

  /** The Common that this block's transactions are decoded with (shared, never copied). */
  txCommonForEnv(env: BlockEnv): Common {
    return sharedTxCommon(this.commonForEnv(env))
  }

  /** Point the executor at a block: its header and its view of state. */
  async beginBlock(env: BlockEnv, view: BlockView, hashLookup: BlockHashLookup): Promise<void> {
    const common = this.commonForEnv(env)
    const slot = await this.slotFor(common)
    this.hashLookup = hashLookup
    slot.sm.setView(view, env.coinbase.slice(2).toLowerCase())
    const block = createBlock(
      { header: headerDataFromEnv(env) },
      { common, setHardfork: false, skipConsensusFormatValidation: true },
    )
    this.current = { slot, block, env, view }
  }

  private async slotFor(common: Common): Promise<VmSlot> {
    const key = `${common.chainId()}:${common.hardfork()}`
    const existing = this.slots.get(key)
    if (existing !== undefined) return existing
    const sm = new TxStateManager()
    const listening = new Set(common.events.listeners('hardforkChanged'))
    const vm = await createVM({
      common,
      stateManager: sm,
      blockchain: new HashLookupBlockchain(() => this.hashLookup),
      evmOpts: { customPrecompiles: aiCustomPrecompiles(this.inference.hooks(() => this.runningTx)) },
    })
    // The VM and its EVM listen for hardfork changes on their Common. The engine's Commons are
    // shared and cached for the process (commonFor) and never change hardfork, so those
    // listeners never fire; left registered, they keep every VM ever made alive through the
    // cached Common (found by the simulator: both processes out of heap after about 3,150 seeds;
    // in production every VM an aborted transaction drops, every replayed shard's executor).
    for (const listener of common.events.listeners('hardforkChanged')) {
      if (!listening.has(listener)) common.events.removeListener('hardforkChanged', listener)
    }
    await cacheJumpAnalysis(vm.evm)
    // Track runTx's phases: the beneficiary's fee is credited after the outermost call returns.
    const evm = vm.evm as unknown as { runCall: (opts: unknown) => Promise<unknown> }
    const runCall = evm.runCall.bind(vm.evm)
    let depth = 0
    evm.runCall = async (opts: unknown) => {
      depth++
      sm.phase = 'exec'
      try {
        return await runCall(opts)
      } finally {
        depth--
        if (depth === 0) sm.phase = 'post'
      }
    }
    const slot = { vm, sm, common }
    this.slots.set(key, slot)
    return slot
  }

  /**
   * A store failure in the middle of a transaction leaves the VM half-way: the EVM skips its
   * end-of-call cleanup (transient storage, EIP-1153, is then not cleared) and its journal may be
   * mid-call. Never run another transaction on that VM: drop it (the next `beginBlock` makes a
   * fresh one) and return the error to throw. Found by the simulator (a throttled read inside a
   * TSTORE/TLOAD call left a value that the retried shard then read).
   */
  private abandon(slot: VmSlot, error: unknown): unknown {
    for (const [key, s] of this.slots) if (s === slot) this.slots.delete(key)
    this.current = undefined
    return error
  }

  get block(): Block {
    if (this.current === undefined) throw new InvariantError('Executor used before beginBlock()')
    return this.current.block
  }

  /**
   * Evaluate the AI precompile calls these transactions are predicted to make, one batch per
   * model, before they run (shared/ai/inference.ts); a no-op where the `ai` GPU stage is off.
   */
  async prepareInference(txs: readonly TypedTransaction[]): Promise<void> {
    if (this.current === undefined) throw new InvariantError('Executor used before beginBlock()')
    await this.inference.prepare(txs, viewModelLoader(this.current.view))
  }

  /**
   * Run a call on the current view without the nonce, balance and block gas limit checks
   * (eth_call, eth_estimateGas): `tx` may be unsigned with its sender given by
   * `getSenderAddress`. Nothing is written to the view; a refusal by runTx is thrown.
   */
  async simulate(tx: TypedTransaction): Promise<SimulatedCall> {
    if (this.current === undefined) throw new InvariantError('Executor used before beginBlock()')
    const { slot, block } = this.current
    const { sm, vm } = slot
    sm.beginTx()
    this.runningTx = tx
    try {
      const result = await runTx(vm, { tx, block, skipHardForkValidation: true, skipNonce: true, skipBalance: true, skipBlockGasLimitValidation: true, blockGasUsed: 0n })
      if (sm.fatal !== undefined) throw this.abandon(slot, sm.fatal)
      const out: SimulatedCall = {
        returnValue: result.execResult.returnValue,
        gasUsed: result.totalGasSpent,
        gasRefund: result.gasRefund ?? 0n,
        logs: result.execResult.logs ?? [],
      }
      const error = result.execResult.exceptionError?.error
      if (error !== undefined) out.error = error
      if (result.createdAddress !== undefined) out.createdAddress = result.createdAddress.toString()
      return out
    } catch (error) {
      if (sm.fatal !== undefined) throw this.abandon(slot, sm.fatal)
      if (error instanceof MissingStateError) throw this.abandon(slot, error)
      throw new ParevmError(cleanMessage(error instanceof Error ? error.message : String(error)))
    } finally {
      await sm.finishTx().catch(() => undefined)
    }
  }

  /** Run one transaction on the current view. Invalid transactions are a result, not an error. */
  async execute(tx: TypedTransaction): Promise<TxExecution> {
    if (this.current === undefined) throw new InvariantError('Executor used before beginBlock()')
    const { slot, block } = this.current
    const { sm, vm } = slot
    sm.beginTx()
    this.runningTx = tx
    let result
    try {
      result = await runTx(vm, { tx, block, skipHardForkValidation: true, blockGasUsed: 0n })
    } catch (error) {
      if (sm.fatal !== undefined) throw this.abandon(slot, sm.fatal)
      // Missing state (an unknown BLOCKHASH) is the store's failure, not the transaction's.
      if (error instanceof MissingStateError) throw this.abandon(slot, error)
      const message = cleanMessage(error instanceof Error ? error.message : String(error))
      const access = await sm.finishTx()
      return {
        valid: false,
        invalidCode: classifyInvalid(message),
        invalidReason: message,
        status: 0,
        gasUsed: 0n,
        blockGasUsed: 0n,
        blobGasUsed: 0n,
        logs: [],
        bloom: new Uint8Array(256),
        access,
      }
    }
    if (sm.fatal !== undefined) throw this.abandon(slot, sm.fatal)
    const access = await sm.finishTx()
    const execution: TxExecution = {
      valid: true,
      status: result.execResult.exceptionError === undefined ? 1 : 0,
      gasUsed: result.totalGasSpent,
      blockGasUsed: result.blockGasSpent ?? result.totalGasSpent,
      blobGasUsed: result.blobGasUsed ?? 0n,
      logs: result.execResult.logs ?? [],
      bloom: result.bloom.bitvector,
      access,
    }
    if (result.createdAddress !== undefined) execution.createdAddress = result.createdAddress.toString()
    return execution
  }
}
