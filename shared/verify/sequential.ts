/**
 * The sequential check (DESIGN.md invariant 1): re-execute a sealed block's transactions one
 * by one, in sealed order, with `@ethereumjs/vm`'s own `runBlock` and its default Merkle state
 * manager, from the parent state, and compare receipts, gas used, logs bloom and state root.
 * The reference shares nothing with the engine's execution path but the transaction bytes and
 * the chain rules (it uses the same native secp256k1 library, for speed).
 */
import { createBlock } from '@ethereumjs/block'
import { createTxFromRLP } from '@ethereumjs/tx'
import { Account, Address, bytesToHex } from '@ethereumjs/util'
import { createVM, encodeReceipt, runBlock, type VM } from '@ethereumjs/vm'

import { aiCustomPrecompiles, cpuInference } from '../ai/precompile.ts'
import { createChainCommon } from '../chain/common.ts'
import { VerificationError } from '../errors.ts'
import { bytesEqual, fromHex, to0x } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH } from '../state/keys.ts'
import { decodeAccount } from '../state/values.ts'

import type { GenesisState } from '../chain/genesis.ts'
import type { SealedBlock } from '../coordinator/coordinator.ts'
import type { Common } from '@ethereumjs/common'

export interface VerifyResult {
  block: bigint
  ok: boolean
  /** Time spent re-executing with @ethereumjs/vm. */
  ms: number
  /** First difference, if any, for the error message. */
  difference?: string
}

function describeReceipt(r: { status?: number; cumulativeBlockGasUsed: bigint; logs: unknown[] }): string {
  return `status ${r.status ?? '?'}, cumulative gas ${r.cumulativeBlockGasUsed}, ${r.logs.length} log(s)`
}

export class SequentialVerifier {
  private constructor(
    private readonly vm: VM,
    private readonly common: Common,
  ) {}

  /** A reference VM holding the genesis state; its root must equal the engine's genesis root. */
  static async fromGenesis(genesis: GenesisState): Promise<SequentialVerifier> {
    const common = createChainCommon(genesis.chainId, genesis.hardfork)
    // The AI precompile (shared/ai), with its plain CPU implementation.
    const vm = await createVM({ common, evmOpts: { customPrecompiles: aiCustomPrecompiles(cpuInference) } })
    const sm = vm.stateManager
    for (const [key, value] of genesis.entries) {
      if (key.length !== ACCOUNT_KEY_LENGTH) continue
      const account = decodeAccount(value)!
      const address = new Address(fromHex(key))
      await sm.putAccount(address, new Account(account.nonce, account.balance))
      const code = genesis.codes.get(bytesToHex(account.codeHash).slice(2))
      if (code !== undefined) await sm.putCode(address, code)
    }
    for (const [key, value] of genesis.entries) {
      if (key.length === ACCOUNT_KEY_LENGTH) continue
      const address = new Address(fromHex(key.slice(0, ACCOUNT_KEY_LENGTH)))
      await sm.putStorage(address, fromHex(key.slice(ACCOUNT_KEY_LENGTH)), value)
    }
    await sm.checkpoint()
    await sm.commit()
    const root = await sm.getStateRoot()
    if (!bytesEqual(root, genesis.stateRoot)) {
      throw new VerificationError(`genesis state roots differ: engine ${to0x(genesis.stateRoot)}, @ethereumjs/vm ${to0x(root)}`)
    }
    return new SequentialVerifier(vm, common)
  }

  /** Run the sealed block on the reference and compare; the reference state advances. */
  async verify(sealed: SealedBlock): Promise<VerifyResult> {
    const t0 = performance.now()
    const number = BigInt(sealed.record.number)
    const h = sealed.record.header
    const block = createBlock(
      {
        header: h as never,
        transactions: sealed.raws.map((raw) => createTxFromRLP(raw, { common: this.common })),
        ...(sealed.env.withdrawals !== undefined ? { withdrawals: sealed.env.withdrawals as never } : {}),
      },
      { common: this.common, setHardfork: false, skipConsensusFormatValidation: true },
    )
    const result = await runBlock(this.vm, { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true })
    const ms = performance.now() - t0
    const fail = (difference: string): VerifyResult => ({ block: number, ok: false, ms, difference })
    if (result.receipts.length !== sealed.receipts.length) {
      return fail(`receipt count: engine ${sealed.receipts.length}, @ethereumjs/vm ${result.receipts.length}`)
    }
    for (let i = 0; i < result.receipts.length; i++) {
      const reference = result.receipts[i]!
      const ours = sealed.receipts[i]!
      const type = block.transactions[i]!.type
      const encodedReference = encodeReceipt(reference, type)
      const oursReceipt = {
        status: ours.status,
        cumulativeBlockGasUsed: BigInt(ours.cumulativeGasUsed),
        bitvector: fromHex(ours.logsBloom),
        logs: ours.logs.map((l) => [fromHex(l.address), l.topics.map(fromHex), fromHex(l.data)]),
      }
      if (!bytesEqual(encodedReference, encodeReceipt(oursReceipt as never, type))) {
        return fail(
          `first differing receipt: transaction ${i} (${ours.txHash}): engine ${describeReceipt(oursReceipt)}, @ethereumjs/vm ${describeReceipt(reference as never)}`,
        )
      }
    }
    if (result.gasUsed !== BigInt(h.gasUsed!)) return fail(`gas used: engine ${BigInt(h.gasUsed!)}, @ethereumjs/vm ${result.gasUsed}`)
    if (to0x(result.logsBloom) !== h.logsBloom) return fail('logs bloom differs')
    if (to0x(result.receiptsRoot) !== h.receiptTrie) return fail(`receipts root: engine ${h.receiptTrie}, @ethereumjs/vm ${to0x(result.receiptsRoot)}`)
    if (to0x(result.stateRoot) !== h.stateRoot) return fail(`state root: engine ${h.stateRoot}, @ethereumjs/vm ${to0x(result.stateRoot)}`)
    return { block: number, ok: true, ms }
  }

  /** Verify and throw a VerificationError on any difference. */
  async check(sealed: SealedBlock): Promise<VerifyResult> {
    const result = await this.verify(sealed)
    if (!result.ok) {
      throw new VerificationError(`block ${result.block} differs from sequential execution`, {
        details: result.difference ?? 'unknown difference',
        hint: 'this is a correctness bug in the engine; the block was sealed but must not be trusted',
      })
    }
    return result
  }
}
