/**
 * The sequential reference for a replayed block: `@ethereumjs/vm`'s own `runBlock` with its
 * default `MerkleStateManager`, loaded from the fixture's pre-state, the block built from its
 * JSON-RPC form (`createBlockFromRPC`), `generate: true` and header validation skipped, and
 * BLOCKHASH answered from the fixture. It shares nothing with the engine's execution path but
 * the chain rules (the same `Common`, with native secp256k1 and KZG). It says whether a
 * mismatch comes from the parallel engine (the reference matches the header) or from the
 * configuration (it does not either), and it is the benchmark's baseline.
 */
import { createBlockFromRPC } from '@ethereumjs/block'
import { Account, Address } from '@ethereumjs/util'
import { createVM, encodeReceipt, runBlock, type TxReceipt } from '@ethereumjs/vm'

import { createMainnetCommon } from '../chain/common.ts'
import { MissingStateError } from '../errors.ts'
import { fromHex, to0x } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH } from '../state/keys.ts'
import { decodeAccount } from '../state/values.ts'

import type { ReplayFixture } from './fixture.ts'
import type { EVMMockBlockchainInterface } from '@ethereumjs/evm'

export interface ReceiptSummary {
  status: 0 | 1
  cumulativeGasUsed: bigint
  logs: number
  /** The receipt as the receipts trie holds it (typed envelope where typed). */
  encoded: Uint8Array
}

export interface ReferenceResult {
  receiptsRoot: string
  gasUsed: bigint
  logsBloom: string
  /** The root over the partial pre-state after the block (comparable with the engine's, not mainnet's). */
  stateRoot: string
  receipts: ReceiptSummary[]
  /** runBlock alone (state loading excluded). */
  runMs: number
  /** Loading the pre-state into the Merkle state manager. */
  loadMs: number
}

class FixtureBlockchain implements EVMMockBlockchainInterface {
  constructor(private readonly hashes: Record<string, string>) {}
  async getBlock(blockId: number): Promise<{ hash(): Uint8Array }> {
    const hash = this.hashes[String(blockId)]
    if (hash === undefined) throw new MissingStateError(`blockhash:${blockId}`, { hint: 'the fixture has no block_hashes.json entry for it' })
    const bytes = fromHex(hash)
    return { hash: () => bytes }
  }
  async putBlock(): Promise<void> {}
  shallowCopy(): EVMMockBlockchainInterface {
    return this
  }
}

export function summarizeReceipt(receipt: TxReceipt, txType: number): ReceiptSummary {
  const r = receipt as TxReceipt & { status?: 0 | 1 }
  return { status: r.status ?? 0, cumulativeGasUsed: r.cumulativeBlockGasUsed, logs: r.logs.length, encoded: encodeReceipt(receipt, txType as never) }
}

/** Run the fixture's block sequentially on @ethereumjs/vm. */
export async function runReference(fixture: ReplayFixture): Promise<ReferenceResult> {
  const t0 = performance.now()
  const common = createMainnetCommon(fixture.number, BigInt(fixture.block.timestamp))
  const vm = await createVM({ common, blockchain: new FixtureBlockchain(fixture.blockHashes) })
  const sm = vm.stateManager
  const { entries, codes } = fixture.preState
  for (const [key, value] of entries) {
    if (key.length !== ACCOUNT_KEY_LENGTH) continue
    const account = decodeAccount(value)!
    const address = new Address(fromHex(key))
    await sm.putAccount(address, new Account(account.nonce, account.balance))
    const code = codes.get(to0x(account.codeHash).slice(2))
    if (code !== undefined) await sm.putCode(address, code)
  }
  for (const [key, value] of entries) {
    if (key.length === ACCOUNT_KEY_LENGTH) continue
    await sm.putStorage(new Address(fromHex(key.slice(0, ACCOUNT_KEY_LENGTH))), fromHex(key.slice(ACCOUNT_KEY_LENGTH)), value)
  }
  await sm.checkpoint()
  await sm.commit()
  const block = createBlockFromRPC(fixture.block as never, [], { common, setHardfork: false, skipConsensusFormatValidation: true })
  const t1 = performance.now()
  const result = await runBlock(vm, { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true })
  const t2 = performance.now()
  return {
    receiptsRoot: to0x(result.receiptsRoot),
    gasUsed: result.gasUsed,
    logsBloom: to0x(result.logsBloom),
    stateRoot: to0x(result.stateRoot),
    receipts: result.receipts.map((r, i) => summarizeReceipt(r, block.transactions[i]!.type)),
    runMs: t2 - t1,
    loadMs: t1 - t0,
  }
}
