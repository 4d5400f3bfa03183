/**
 * The sequential check (DESIGN.md invariant 1): rebuild every sealed block with
 * `@ethereumjs/vm`'s own block builder (`buildBlock`) and its default Merkle state manager,
 * from the verifier's own parent block and state, and compare every field of the sealed block.
 *
 * The reference derives what a block's parent decides (number, parent hash, EIP-1559 base fee,
 * EIP-4844 excess blob gas, the EIP-4788/2935 system writes, BLOCKHASH from its own hashes of
 * the last 256 blocks) and takes from the engine only the block producer's choices, from the
 * block's execution environment (`sealed.env`): timestamp (after the parent's), gas limit
 * (within the parent's bound), coinbase, prevRandao/mixHash, extra data, the parent beacon
 * root, withdrawals, and before the Merge difficulty and nonce. It then walks the block's
 * planned transactions in order: an included one must be accepted, with a receipt equal in
 * every field; one the engine rejected at execution (`rejections[].position`) must be refused
 * for the recorded reason class. The header, the block hash, the head record and the record's
 * transaction hashes are compared field by field; a difference names the field.
 *
 * The reference shares nothing with the engine's execution path but the transaction bytes, the
 * block producer's choices and the chain rules (it uses the same native secp256k1 library, for
 * speed). After a failed verification the verifier is unusable (its state may hold the
 * reference's version of the failed block): every later verify() fails; the run stops anyway.
 */
import { createBlock, createBlockHeader, type Block } from '@ethereumjs/block'
import { createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'
import { Caches, MerkleStateManager } from '@ethereumjs/statemanager'
import { KECCAK256_RLP } from '@ethereumjs/util'
import { buildBlock, createVM, runTx, type BlockBuilder, type RunTxResult, type VM } from '@ethereumjs/vm'

import { aiCustomPrecompiles, cpuInference } from '../ai/precompile.ts'
import { createChainCommon } from '../chain/common.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { VerificationError } from '../errors.ts'
import { bytesEqual, fromHex, to0x } from '../hex.ts'

import { classifyExecutionError, codeMatches, shortMessage } from './classify.ts'

import type { GenesisState } from '../chain/genesis.ts'
import type { SealedBlock } from '../coordinator/coordinator.ts'
import type { Rejection } from '../intake/rejection.ts'
import type { ReceiptRecord } from '../store/records.ts'
import type { Common } from '@ethereumjs/common'
import type { EVMMockBlockchainInterface } from '@ethereumjs/evm'
import { putGenesisState } from './genesis-state.ts'

export { judgeStatelessRejection, type StatelessContext, type StatelessJudgement } from './stateless.ts'

export interface VerifyResult {
  block: bigint
  ok: boolean
  /** Time spent re-executing with @ethereumjs/vm. */
  ms: number
  /** First difference, if any, for the error message. */
  difference?: string
}

/** How many ancestors BLOCKHASH can see. */
const BLOCKHASH_WINDOW = 256n

/**
 * BLOCKHASH for the reference VM: the verifier's own hashes of the last 256 blocks (genesis
 * included), recorded as the builder puts each block it builds. Never the engine's.
 */
export class ReferenceBlockHashes implements EVMMockBlockchainInterface {
  private readonly hashes = new Map<bigint, Uint8Array>()

  record(number: bigint, hash: Uint8Array): void {
    this.hashes.set(number, hash)
    this.hashes.delete(number - BLOCKHASH_WINDOW - 1n)
  }

  /** number → hash of the blocks recorded (the last 257: the window of the block being checked and its own). */
  recent(): Map<bigint, Uint8Array> {
    return this.hashes
  }

  async getBlock(blockId: number): Promise<{ hash(): Uint8Array }> {
    const hash = this.hashes.get(BigInt(blockId))
    if (hash === undefined) throw new VerificationError(`the sequential check has no hash of block ${blockId} for BLOCKHASH`)
    return { hash: () => hash }
  }

  async putBlock(block: { hash(): Uint8Array; header?: { number: bigint } }): Promise<void> {
    if (block.header !== undefined) this.record(block.header.number, block.hash())
  }

  shallowCopy(): EVMMockBlockchainInterface {
    return this
  }
}

type Hex = `0x${string}`

/** A quantity in canonical form (0x-hex, no leading zeros) for comparison; odd input as is. */
function quantity(value: unknown): string {
  if (value === undefined || value === null) return String(value)
  try {
    return `0x${BigInt(value as string).toString(16)}`
  } catch {
    return String(value)
  }
}

function data(value: unknown): string {
  return typeof value === 'string' ? value.toLowerCase() : String(value)
}

function describe(value: unknown): string {
  return value === undefined ? '(absent)' : value === null ? 'null' : String(value)
}

/** Header fields that are quantities (compared by value); the rest are byte strings. */
const QUANTITY_FIELDS = new Set(['difficulty', 'number', 'gasLimit', 'gasUsed', 'timestamp', 'baseFeePerGas', 'blobGasUsed', 'excessBlobGas'])

/** effectiveGasPrice of a receipt: gasPrice, or min(maxFeePerGas, baseFee + maxPriorityFeePerGas). */
function effectiveGasPrice(tx: TypedTransaction, baseFee: bigint | undefined): bigint {
  if ('maxFeePerGas' in tx) {
    const base = baseFee ?? 0n
    const withTip = base + tx.maxPriorityFeePerGas
    return withTip < tx.maxFeePerGas ? withTip : tx.maxFeePerGas
  }
  return (tx as { gasPrice: bigint }).gasPrice
}

class Difference extends Error {}

/**
 * BlockBuilder's bookkeeping (@ethereumjs/vm 10.1.3, buildBlock.js). `addTransaction` makes a
 * new header and block for every transaction it runs; for speed the check runs each plain
 * transaction with `runTx` over one block made from the builder's own header data, and keeps
 * the builder's books exactly as addTransaction does, so that `build()` (transactions and
 * receipts tries, bloom, gas used, withdrawals, miner reward, state root) is the builder's own.
 */
interface BuilderInternals {
  headerData: Record<string, unknown>
  transactions: TypedTransaction[]
  transactionResults: RunTxResult[]
  checkpointed: boolean
  gasUsed: bigint
  _minerValue: bigint
}

function builderInternals(builder: BlockBuilder): BuilderInternals | undefined {
  const b = builder as unknown as Partial<BuilderInternals>
  const shaped =
    typeof b.headerData === 'object' && Array.isArray(b.transactions) && Array.isArray(b.transactionResults) && typeof b.checkpointed === 'boolean' && typeof b.gasUsed === 'bigint' && typeof b._minerValue === 'bigint'
  return shaped ? (b as BuilderInternals) : undefined
}

export class SequentialVerifier {
  /** Set after a failed verification: the verifier's state can no longer be trusted. */
  private failedAt: bigint | undefined

  private constructor(
    private readonly vm: VM,
    private readonly common: Common,
    private readonly hashes: ReferenceBlockHashes,
    private parent: Block,
  ) {}

  /** A reference VM holding the genesis state; its root and genesis hash must equal the engine's. */
  static async fromGenesis(genesis: GenesisState): Promise<SequentialVerifier> {
    const common = createChainCommon(genesis.chainId, genesis.hardfork)
    const hashes = new ReferenceBlockHashes()
    // The AI precompile (shared/ai), with its plain CPU implementation.
    // Caches on its Merkle state (as the tuned baseline): without them every write rehashes its
    // trie path at once, and a long run's check falls far behind the engine (a 50,000-transaction
    // ERC20 run took more than 18 minutes to check; 5,000 in blocks of 1,000: 26.4 s, 16.9 s with them).
    const stateManager = new MerkleStateManager({ common, caches: new Caches() })
    const vm = await createVM({ common, blockchain: hashes as never, stateManager, evmOpts: { customPrecompiles: aiCustomPrecompiles(cpuInference) } })
    const sm = vm.stateManager
    await putGenesisState(sm, genesis)
    const root = await sm.getStateRoot()
    if (!bytesEqual(root, genesis.stateRoot)) {
      throw new VerificationError(`genesis state roots differ: engine ${to0x(genesis.stateRoot)}, @ethereumjs/vm ${to0x(root)}`)
    }
    const block = referenceGenesis(genesis, common, root)
    if (!bytesEqual(block.hash(), genesis.hash)) {
      const ours = block.header.toJSON() as Record<string, unknown>
      const theirs = genesis.header.toJSON() as Record<string, unknown>
      const field = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].find((k) => data(ours[k]) !== data(theirs[k]))
      throw new VerificationError(`genesis hashes differ: engine ${to0x(genesis.hash)}, @ethereumjs/vm ${to0x(block.hash())}`, {
        details: field === undefined ? 'no header field differs' : `header ${field}: engine ${describe(theirs[field])}, @ethereumjs/vm ${describe(ours[field])}`,
      })
    }
    hashes.record(0n, block.hash())
    return new SequentialVerifier(vm, common, hashes, block)
  }

  /** Build the sealed block on the reference and compare; the reference state advances. */
  async verify(sealed: SealedBlock): Promise<VerifyResult> {
    const t0 = performance.now()
    const number = BigInt(sealed.record.number)
    const result = (difference?: string): VerifyResult => {
      const ms = performance.now() - t0
      if (difference === undefined) return { block: number, ok: true, ms }
      this.failedAt ??= number
      return { block: number, ok: false, ms, difference }
    }
    if (this.failedAt !== undefined) {
      return { block: number, ok: false, ms: 0, difference: `the sequential check stopped at block ${this.failedAt}; later blocks cannot be checked` }
    }
    const expected = this.parent.header.number + 1n
    if (number !== expected) {
      // Nothing has run: the verifier stays usable for the right block.
      return { block: number, ok: false, ms: performance.now() - t0, difference: `block number: engine ${sealed.record.number}, @ethereumjs/vm expects ${expected} after its head` }
    }
    let builder: BlockBuilder | undefined
    try {
      builder = await this.startBlock(sealed)
      const { txs, hashes, results } = await this.addTransactions(builder, sealed)
      const { block } = await builder.build()
      builder = undefined
      this.parent = block
      this.compareBlock(sealed, block, txs, hashes, results)
      return result()
    } catch (error) {
      if (builder !== undefined) await builder.revert().catch(() => undefined)
      if (error instanceof Difference) return result(error.message)
      return result(`@ethereumjs/vm cannot build block ${number}: ${shortMessage(error)}`)
    }
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

  /** The builder over the parent, with the producer's choices checked against the parent. */
  private async startBlock(sealed: SealedBlock): Promise<BlockBuilder> {
    const env = sealed.env
    const parent = this.parent.header
    const postMerge = this.common.gteHardfork('paris')
    const timestamp = BigInt(env.timestamp)
    if (timestamp <= parent.timestamp) throw new Difference(`header timestamp: engine ${env.timestamp} is not after the parent's ${parent.timestamp}`)
    if ((env.uncles ?? []).length > 0) throw new Difference('uncles: the engine credits ommers, which the reference builder does not support')
    const headerData: Record<string, unknown> = {
      timestamp,
      gasLimit: BigInt(env.gasLimit),
      coinbase: env.coinbase as Hex,
      mixHash: env.mixHash as Hex,
      extraData: env.extraData as Hex,
      ...(postMerge ? {} : { difficulty: BigInt(env.difficulty), ...(env.nonce !== undefined ? { nonce: env.nonce as Hex } : {}) }),
      ...(this.common.isActivatedEIP(4788) ? { parentBeaconBlockRoot: (env.parentBeaconBlockRoot ?? to0x(new Uint8Array(32))) as Hex } : {}),
    }
    // The producer's fields must make a valid header after the parent (checked before any
    // state changes: the builder would otherwise fail on them inside addTransaction).
    let probe
    try {
      probe = createBlockHeader({ ...headerData, number: parent.number + 1n, parentHash: this.parent.hash() } as never, { common: this.common, setHardfork: false })
    } catch (error) {
      throw new Difference(`header: @ethereumjs/block refuses the engine's header fields: ${shortMessage(error)}`)
    }
    try {
      probe.validateGasLimit(parent)
    } catch (error) {
      throw new Difference(`header gasLimit: engine ${env.gasLimit}: ${shortMessage(error)}`)
    }
    const withdrawals = env.withdrawals ?? (this.common.isActivatedEIP(4895) ? [] : undefined)
    return buildBlock(this.vm, {
      parentBlock: this.parent,
      headerData: headerData as never,
      ...(withdrawals !== undefined ? { withdrawals: withdrawals as never } : {}),
      blockOpts: { putBlockIntoBlockchain: true },
    })
  }

  /** Walk the planned positions: included transactions are added, rejections re-judged. */
  private async addTransactions(builder: BlockBuilder, sealed: SealedBlock): Promise<{ txs: TypedTransaction[]; hashes: string[]; results: RunTxResult[] }> {
    const positioned = new Map<number, Rejection>()
    for (const rejection of sealed.rejections ?? []) {
      if (rejection.position === undefined) continue // intake: judgeStatelessRejection
      if (positioned.has(rejection.position)) throw new Difference(`rejections: two at position ${rejection.position}`)
      positioned.set(rejection.position, rejection)
    }
    const total = sealed.raws.length + positioned.size
    for (const position of positioned.keys()) {
      if (!Number.isInteger(position) || position < 0 || position >= total) {
        throw new Difference(`rejection at position ${position}: outside the block's ${total} planned transactions`)
      }
    }
    const add = this.adder(builder)
    const txs: TypedTransaction[] = []
    const results: RunTxResult[] = []
    const hashes: string[] = []
    let included = 0
    for (let position = 0; position < total; position++) {
      const rejection = positioned.get(position)
      if (rejection !== undefined) {
        await this.judgeRejection(add, rejection, position)
        continue
      }
      const raw = sealed.raws[included]!
      const hash = to0x(keccak256(raw))
      const label = `transaction ${included} at position ${position} (${hash})`
      let tx: TypedTransaction
      try {
        tx = createTxFromRLP(raw, { common: this.common })
      } catch (error) {
        throw new Difference(`${label}: the engine includes it, but @ethereumjs/tx cannot decode it: ${shortMessage(error)}`)
      }
      let result: RunTxResult
      try {
        result = await add(tx)
      } catch (error) {
        const message = shortMessage(error)
        throw new Difference(`${label}: the engine includes it, but @ethereumjs/vm rejects it as ${classifyExecutionError(message) ?? 'invalid'} (${message})`)
      }
      txs.push(tx)
      hashes.push(hash)
      results.push(result)
      included++
    }
    return { txs, hashes, results }
  }

  /**
   * addTransaction's effect, one transaction at a time: the remaining-gas check, then runTx
   * (which reverts its own changes when it throws). Blob transactions, and builders whose
   * books look different, take addTransaction itself.
   */
  private adder(builder: BlockBuilder): (tx: TypedTransaction) => Promise<RunTxResult> {
    const books = builderInternals(builder)
    const common = this.common
    if (books === undefined || common.isActivatedEIP(8037) || common.isActivatedEIP(7928)) return (tx) => builder.addTransaction(tx)
    const block = createBlock({ header: { ...books.headerData, gasUsed: 0n } as never }, { common, setHardfork: false })
    const gasLimit = block.header.gasLimit
    return async (tx) => {
      if (tx.type >= 3) return builder.addTransaction(tx)
      if (tx.gasLimit > gasLimit - books.gasUsed) throw new Error('tx has a higher gas limit than the remaining gas in the block')
      if (!books.checkpointed) {
        await this.vm.evm.journal.checkpoint()
        books.checkpointed = true
      }
      const result = await runTx(this.vm, { tx, block, blockGasUsed: books.gasUsed })
      books.transactions.push(tx)
      books.transactionResults.push(result)
      books.gasUsed += result.blockGasSpent
      books._minerValue += result.minerValue
      return result
    }
  }

  private async judgeRejection(add: (tx: TypedTransaction) => Promise<RunTxResult>, rejection: Rejection, position: number): Promise<void> {
    const label = `rejection at position ${position} (${rejection.id})`
    if (rejection.raw === undefined) throw new Difference(`${label}: recorded ${rejection.code} without its raw transaction`)
    const raw = fromHex(rejection.raw)
    if (to0x(keccak256(raw)) !== data(rejection.id)) throw new Difference(`${label}: id is not the hash of its raw transaction ${to0x(keccak256(raw))}`)
    let tx: TypedTransaction
    try {
      tx = createTxFromRLP(raw, { common: this.common })
    } catch (error) {
      const message = shortMessage(error)
      const reference = classifyExecutionError(message)
      if (!codeMatches(rejection.code, reference)) {
        throw new Difference(`${label}: recorded ${rejection.code}, but @ethereumjs/tx rejects it as ${reference ?? 'malformed-transaction'} (${message})`)
      }
      return
    }
    let accepted = false
    try {
      await add(tx)
      accepted = true
    } catch (error) {
      const message = shortMessage(error)
      const reference = classifyExecutionError(message)
      if (!codeMatches(rejection.code, reference)) {
        throw new Difference(`${label}: recorded ${rejection.code}, but @ethereumjs/vm rejects it as ${reference ?? 'invalid'} (${message})`)
      }
    }
    if (accepted) throw new Difference(`${label}: recorded ${rejection.code}, but @ethereumjs/vm includes it`)
  }

  /** Every field of the sealed block against the reference block. */
  private compareBlock(sealed: SealedBlock, block: Block, txs: TypedTransaction[], hashes: string[], results: RunTxResult[]): void {
    const header = block.header
    const hash = to0x(block.hash())
    const differ = (what: string, engine: unknown, reference: unknown): never => {
      throw new Difference(`${what}: engine ${describe(engine)}, @ethereumjs/vm ${describe(reference)}`)
    }
    const eqQ = (what: string, engine: unknown, reference: unknown): void => {
      if (quantity(engine) !== quantity(reference)) differ(what, engine, typeof reference === 'bigint' || typeof reference === 'number' ? quantity(reference) : reference)
    }
    const eqD = (what: string, engine: unknown, reference: unknown): void => {
      if (data(engine) !== data(reference)) differ(what, engine, reference)
    }

    // The execution environment the engine ran under: what the parent decides.
    const env = sealed.env
    eqQ('env number', env.number, header.number)
    eqD('env parentHash', env.parentHash, to0x(header.parentHash))
    if (header.baseFeePerGas !== undefined || env.baseFeePerGas !== undefined) eqQ('env baseFeePerGas', env.baseFeePerGas, header.baseFeePerGas)
    if (header.excessBlobGas !== undefined || env.excessBlobGas !== undefined) eqQ('env excessBlobGas', env.excessBlobGas, header.excessBlobGas)

    // Receipts, in block order.
    if (sealed.receipts.length !== txs.length) differ('receipt count', sealed.receipts.length, txs.length)
    let cumulative = 0n
    for (let i = 0; i < txs.length; i++) {
      const tx = txs[i]!
      const result = results[i]!
      const ours = sealed.receipts[i]!
      const txHash = hashes[i]!
      const what = (field: string): string => `receipt ${i} (${txHash}) ${field}`
      cumulative = result.receipt.cumulativeBlockGasUsed
      const reference: Record<keyof Omit<ReceiptRecord, 'kind' | 'includedAtMs' | 'logs'>, unknown> = {
        txHash,
        block: header.number,
        blockHash: hash,
        index: i,
        from: tx.getSenderAddress().toString(),
        to: tx.to === undefined ? null : tx.to.toString(),
        contractAddress: result.createdAddress === undefined ? null : result.createdAddress.toString(),
        status: 'status' in result.receipt ? result.receipt.status : undefined,
        cumulativeGasUsed: cumulative,
        gasUsed: result.totalGasSpent,
        effectiveGasPrice: effectiveGasPrice(tx, header.baseFeePerGas),
        logsBloom: to0x(result.receipt.bitvector),
        type: tx.type,
        blobGasUsed: result.blobGasUsed !== undefined && result.blobGasUsed > 0n ? result.blobGasUsed : undefined,
      }
      eqD(what('txHash'), ours.txHash, reference.txHash)
      eqQ(what('index'), ours.index, reference.index)
      eqD(what('from'), ours.from, reference.from)
      eqD(what('to'), ours.to, reference.to)
      eqD(what('contractAddress'), ours.contractAddress, reference.contractAddress)
      eqQ(what('status'), ours.status, reference.status)
      eqQ(what('cumulativeGasUsed'), ours.cumulativeGasUsed, reference.cumulativeGasUsed)
      eqQ(what('gasUsed'), ours.gasUsed, reference.gasUsed)
      eqQ(what('effectiveGasPrice'), ours.effectiveGasPrice, reference.effectiveGasPrice)
      eqQ(what('type'), ours.type, reference.type)
      eqQ(what('blobGasUsed'), ours.blobGasUsed, reference.blobGasUsed)
      const logs = result.receipt.logs
      if (ours.logs.length !== logs.length) differ(what('logs count'), ours.logs.length, logs.length)
      for (let j = 0; j < logs.length; j++) {
        const [address, topics, payload] = logs[j]!
        const log = ours.logs[j]!
        eqD(what(`logs[${j}].address`), log.address, to0x(address))
        if (log.topics.length !== topics.length) differ(what(`logs[${j}].topics count`), log.topics.length, topics.length)
        topics.forEach((t, k) => eqD(what(`logs[${j}].topics[${k}]`), log.topics[k], to0x(t)))
        eqD(what(`logs[${j}].data`), log.data, to0x(payload))
      }
      eqD(what('logsBloom'), ours.logsBloom, reference.logsBloom)
      // Last: a block whose execution differs has a different hash too.
      eqQ(what('block'), ours.block, reference.block)
      eqD(what('blockHash'), ours.blockHash, reference.blockHash)
    }

    // The block record: header field by field, then the hash and the transaction hashes.
    const engineHeader = sealed.record.header
    const referenceHeader = header.toJSON() as Record<string, unknown>
    for (const field of new Set([...Object.keys(referenceHeader), ...Object.keys(engineHeader)])) {
      const engine = engineHeader[field]
      const reference = referenceHeader[field]
      if (engine === undefined && reference === undefined) continue
      if (QUANTITY_FIELDS.has(field)) eqQ(`header ${field}`, engine, reference)
      else eqD(`header ${field}`, engine, reference)
    }
    eqD('block hash', sealed.record.hash, hash)
    eqQ('record number', sealed.record.number, header.number)
    if (sealed.record.txHashes.length !== txs.length) differ('record txHashes count', sealed.record.txHashes.length, txs.length)
    hashes.forEach((h, i) => eqD(`record txHashes[${i}]`, sealed.record.txHashes[i], h))
    // The record lists every rejection at a position, in block order, and nothing unknown.
    const rejections = sealed.rejections ?? []
    const known = new Set(rejections.map((r) => data(r.id)))
    const positioned = rejections.filter((r) => r.position !== undefined).sort((a, b) => a.position! - b.position!)
    const listed = sealed.record.rejected.map(data)
    let next = 0
    for (const id of listed) {
      if (!known.has(id)) differ('record rejected', `${id} listed`, 'no such rejection')
      if (next < positioned.length && id === data(positioned[next]!.id)) next++
    }
    if (next < positioned.length) differ('record rejected', `${positioned[next]!.id} missing (or out of order)`, `rejected at position ${positioned[next]!.position}`)

    // The head record the engine moved to.
    const head = sealed.head
    eqQ('head number', head.number, header.number)
    eqD('head hash', head.hash, hash)
    eqD('head stateRoot', head.stateRoot, to0x(header.stateRoot))
    eqQ('head timestamp', head.timestamp, header.timestamp)
    eqQ('head gasLimit', head.gasLimit, header.gasLimit)
    eqQ('head gasUsed', head.gasUsed, header.gasUsed)
    eqQ('head difficulty', head.difficulty, header.difficulty)
    eqQ('head baseFeePerGas', head.baseFeePerGas, header.baseFeePerGas)
    eqQ('head excessBlobGas', head.excessBlobGas, header.excessBlobGas)
    eqQ('head blobGasUsed', head.blobGasUsed, header.blobGasUsed)
    const recent = this.hashes.recent()
    const engineRecent = head.recentHashes ?? {}
    for (const [n, h] of recent) {
      if (n + BLOCKHASH_WINDOW <= header.number) continue
      eqD(`head recentHashes[${n}]`, engineRecent[n.toString()], to0x(h))
    }
    for (const n of Object.keys(engineRecent)) {
      if (!recent.has(BigInt(n)) || BigInt(n) + BLOCKHASH_WINDOW <= header.number) differ(`head recentHashes[${n}]`, engineRecent[n], undefined)
    }
  }
}

/**
 * The genesis block, from the genesis file's fields and the reference's own state root (the
 * header defaults of a parevm genesis: difficulty 0 after the Merge and 1 before, base fee
 * 1 gwei, empty withdrawals, zero blob gas and beacon root).
 */
function referenceGenesis(genesis: GenesisState, common: Common, stateRoot: Uint8Array): Block {
  const file = genesis.file
  return createBlock(
    {
      header: {
        number: 0n,
        gasLimit: BigInt(file.gasLimit),
        timestamp: BigInt(file.timestamp ?? 0),
        extraData: (file.extraData ?? '0x') as Hex,
        difficulty: BigInt(file.difficulty ?? (common.gteHardfork('paris') ? 0 : 1)),
        mixHash: (file.mixHash ?? to0x(new Uint8Array(32))) as Hex,
        coinbase: (file.coinbase ?? to0x(new Uint8Array(20))) as Hex,
        stateRoot,
        ...(common.isActivatedEIP(1559) ? { baseFeePerGas: BigInt(file.baseFeePerGas ?? common.param('initialBaseFee')) } : {}),
        ...(common.isActivatedEIP(4895) ? { withdrawalsRoot: KECCAK256_RLP } : {}),
        ...(common.isActivatedEIP(4844) ? { blobGasUsed: 0n, excessBlobGas: 0n, parentBeaconBlockRoot: new Uint8Array(32) } : {}),
      },
    },
    { common, setHardfork: false },
  )
}
