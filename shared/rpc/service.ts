/**
 * The Ethereum JSON-RPC 2.0 handler, independent of its transport: `handle(body)` takes a
 * request body (one request or a batch) and gives the response body. The HTTP server of
 * `parevm node` and the AWS Lambda handler both call it with a `StoreBackend`.
 *
 * State is kept for the latest sealed block only: state queries at an older block answer
 * -32601 (the error viem and ethers fall back on). Blocks, transactions, receipts and logs are
 * served for every sealed block.
 */
import { Capability, createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'

import { commonFor, sharedTxCommon } from '../exec/common-for.ts'
import { rpcReceipts, rpcTransaction, type RpcObject } from '../export/rpc-shapes.ts'
import { bigintToHex, fromHex, to0x, toHex } from '../hex.ts'
import { decodeRawTx } from '../intake/decode.ts'
import { storageKey } from '../state/keys.ts'
import { decodeAccount, KECCAK256_NULL } from '../state/values.ts'
import { bloomMayContain, parseBloom } from './bloom.ts'
import { CallRunner, parseCallRequest, parseOverrides } from './call.ts'
import {
  invalidParam,
  methodNotAvailable,
  RpcError,
  RPC_INTERNAL_ERROR,
  RPC_INVALID_PARAMS,
  RPC_INVALID_REQUEST,
  RPC_LIMIT_EXCEEDED,
  RPC_PARSE_ERROR,
  RPC_SERVER_ERROR,
} from './errors.ts'
import { Params, parseAddress, parseBlockRef, parseHash, QUANTITY, type BlockRef } from './params.ts'
import { LogIndex } from './log-index.ts'
import { PendingPool, type PendingTx } from './pending.ts'

import type { RpcBackend } from './backend.ts'
import type { Rejection } from '../intake/rejection.ts'
import type { HeadRecord, ReceiptRecord, SealedBlockRecord } from '../store/records.ts'
import type { Common } from '@ethereumjs/common'

export interface RpcLimits {
  /** Largest request body in bytes. */
  maxBodyBytes: number
  /** Most requests in one batch. */
  maxBatch: number
  /** Widest eth_getLogs block range. */
  maxLogRange: number
  /** Most logs one eth_getLogs answers. */
  maxLogs: number
  /** Most filters installed at once. */
  maxFilters: number
}

export const DEFAULT_RPC_LIMITS: RpcLimits = {
  maxBodyBytes: 1024 * 1024,
  maxBatch: 100,
  maxLogRange: 10_000,
  maxLogs: 10_000,
  maxFilters: 1_000,
}

/** One sealed block as the live page shows it. */
export interface BlockSummary {
  number: string
  hash: string
  txs: number
  gasUsed: string
  shards: number
  reexecuted: number
  txsFullyPredicted: number
  sealedAtMs: number
  /** Stage times in ms (when the node reports them). */
  timings?: Record<string, number>
  wallMs?: number
  rejected?: number
  keysPredicted?: number
  keysActual?: number
}

export interface RpcServiceOptions {
  backend: RpcBackend
  clientVersion?: string
  /** What eth_accounts answers (the node holds no keys: empty by default). */
  accounts?: readonly string[]
  /** The tip eth_maxPriorityFeePerGas suggests (default 1 gwei). */
  priorityFeeWei?: bigint
  limits?: Partial<RpcLimits>
  /** Recent block summaries from the node (parevm_blocks); otherwise read from the block records. */
  blockSummaries?: () => BlockSummary[]
  /** After a transaction is accepted (the node wakes its sealing loop). */
  onAccepted?: (hash: string) => void
  now?: () => number
}

interface JsonRpcRequest {
  jsonrpc?: unknown
  id?: unknown
  method?: unknown
  params?: unknown
}

type LogFilter = { from: BlockRef; to: BlockRef; blockHash?: string; addresses?: Uint8Array[]; topics: (Uint8Array[] | null)[] }

interface InstalledFilter {
  kind: 'log' | 'block' | 'pending'
  log?: LogFilter
  /** The last block whose changes were answered. */
  lastBlock: bigint
  lastSeq: number
  touchedMs: number
}

interface CachedBlock {
  record: SealedBlockRecord
  raws?: Uint8Array[]
  receipts?: ReceiptRecord[]
  logs?: RpcObject[]
}

/** Methods answered -32601 on purpose (no keys, no history, no mining). */
const NOT_AVAILABLE: Record<string, string> = {
  eth_sendTransaction: 'the node holds no keys: sign locally and use eth_sendRawTransaction',
  eth_sign: 'the node holds no keys',
  eth_signTransaction: 'the node holds no keys',
  eth_signTypedData_v4: 'the node holds no keys',
  eth_fillTransaction: 'fill and sign locally',
  eth_getProof: 'no Merkle proofs are served',
  eth_mining: 'no mining',
  eth_hashrate: 'no mining',
  eth_getWork: 'no mining',
  eth_submitWork: 'no mining',
  eth_coinbase: 'no mining',
}

const FILTER_IDLE_MS = 5 * 60_000
/** How far above a sender's next nonce a transaction is still accepted. */
export const NONCE_AHEAD_MAX = 64n
const LOG_FIELDS = ['fromBlock', 'toBlock', 'address', 'topics', 'blockHash'] as const

export class RpcService {
  readonly backend: RpcBackend
  readonly pending: PendingPool
  readonly limits: RpcLimits
  /** Which blocks hold logs of which address and topic, where the node announces its blocks. */
  readonly logIndex = new LogIndex()
  private readonly calls: CallRunner
  private readonly options: RpcServiceOptions
  private readonly now: () => number
  private readonly filters = new Map<string, InstalledFilter>()
  private readonly blockCache = new Map<bigint, CachedBlock>()
  private readonly senderLocks = new Map<string, Promise<unknown>>()
  private readonly methods: Record<string, { params: string[]; run: (p: Params) => Promise<unknown> }>

  constructor(options: RpcServiceOptions) {
    this.options = options
    this.backend = options.backend
    this.now = options.now ?? Date.now
    this.pending = new PendingPool(120_000, this.now)
    this.limits = { ...DEFAULT_RPC_LIMITS, ...options.limits }
    this.calls = new CallRunner(this.backend)
    this.methods = this.methodTable()
  }

  // ----- transport-independent entry -------------------------------------------------------

  /**
   * A request body → the response body ('' when every request was a notification). Never
   * throws: every failure is a JSON-RPC error.
   */
  async handle(body: string): Promise<string> {
    if (Buffer.byteLength(body) > this.limits.maxBodyBytes) {
      return JSON.stringify(errorResponse(null, new RpcError(RPC_INVALID_REQUEST, `request body of ${Buffer.byteLength(body)} bytes exceeds the limit of ${this.limits.maxBodyBytes} bytes`)))
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch (error) {
      return JSON.stringify(errorResponse(null, new RpcError(RPC_PARSE_ERROR, `parse error: ${(error as Error).message}`)))
    }
    if (Array.isArray(parsed)) {
      if (parsed.length === 0) return JSON.stringify(errorResponse(null, new RpcError(RPC_INVALID_REQUEST, 'empty batch')))
      if (parsed.length > this.limits.maxBatch) {
        return JSON.stringify(errorResponse(null, new RpcError(RPC_INVALID_REQUEST, `batch of ${parsed.length} requests exceeds the limit of ${this.limits.maxBatch}`)))
      }
      const answers = await Promise.all(parsed.map((r) => this.handleOne(r)))
      const out = answers.filter((a) => a !== undefined)
      return out.length === 0 ? '' : JSON.stringify(out)
    }
    const answer = await this.handleOne(parsed)
    return answer === undefined ? '' : JSON.stringify(answer)
  }

  private async handleOne(request: unknown): Promise<object | undefined> {
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      return errorResponse(null, new RpcError(RPC_INVALID_REQUEST, 'invalid request: expected an object with jsonrpc, method, params and id'))
    }
    const r = request as JsonRpcRequest
    const validId = r.id === undefined || r.id === null || typeof r.id === 'string' || (typeof r.id === 'number' && Number.isFinite(r.id))
    const id = validId ? (r.id ?? null) : null
    if (r.jsonrpc !== '2.0') return errorResponse(id, new RpcError(RPC_INVALID_REQUEST, 'invalid request: jsonrpc must be "2.0"'))
    if (!validId) return errorResponse(null, new RpcError(RPC_INVALID_REQUEST, 'invalid request: id must be a string, a number or null'))
    if (typeof r.method !== 'string' || r.method.length === 0) return errorResponse(id, new RpcError(RPC_INVALID_REQUEST, 'invalid request: method must be a non-empty string'))
    if (r.params !== undefined && !Array.isArray(r.params)) {
      return errorResponse(id, new RpcError(RPC_INVALID_PARAMS, 'invalid params: this server takes params as an array'))
    }
    const notification = r.id === undefined
    try {
      const result = await this.call(r.method, (r.params as unknown[] | undefined) ?? [])
      return notification ? undefined : { jsonrpc: '2.0', id, result: result ?? null }
    } catch (error) {
      if (notification) return undefined
      if (error instanceof RpcError) return errorResponse(id, error)
      return errorResponse(id, new RpcError(RPC_INTERNAL_ERROR, `internal error: ${(error as Error)?.message ?? String(error)}`))
    }
  }

  /** One method call (params as an array): the result, or an RpcError. */
  async call(method: string, params: readonly unknown[]): Promise<unknown> {
    const m = Object.hasOwn(this.methods, method) ? this.methods[method] : undefined
    if (m === undefined) throw methodNotAvailable(method, NOT_AVAILABLE[method])
    if (params.length > m.params.length) {
      throw new RpcError(RPC_INVALID_PARAMS, `too many arguments, want at most ${m.params.length}`)
    }
    return m.run(new Params(params, m.params))
  }

  // ----- the methods -----------------------------------------------------------------------

  private methodTable(): Record<string, { params: string[]; run: (p: Params) => Promise<unknown> }> {
    const b = this.backend
    return {
      web3_clientVersion: { params: [], run: async () => this.options.clientVersion ?? 'parevm/0.1.0' },
      web3_sha3: { params: ['data'], run: async (p) => to0x((await import('../crypto/keccak.ts')).keccak256(fromHex(p.data(0)))) },
      net_version: { params: [], run: async () => b.chainId.toString() },
      net_listening: { params: [], run: async () => true },
      net_peerCount: { params: [], run: async () => '0x0' },
      eth_chainId: { params: [], run: async () => bigintToHex(b.chainId) },
      eth_syncing: { params: [], run: async () => false },
      eth_accounts: { params: [], run: async () => [...(this.options.accounts ?? [])] },
      eth_blockNumber: { params: [], run: async () => bigintToHex(BigInt((await b.head()).number)) },
      eth_getBlockByNumber: { params: ['block', 'hydrated'], run: (p) => this.getBlock(parseBlockRefStrict(p, 0), p.bool(1, false)) },
      eth_getBlockByHash: { params: ['blockHash', 'hydrated'], run: (p) => this.getBlock({ kind: 'hash', hash: p.hash(0) }, p.bool(1, false)) },
      eth_getBlockTransactionCountByNumber: { params: ['block'], run: (p) => this.blockTxCount(parseBlockRefStrict(p, 0)) },
      eth_getBlockTransactionCountByHash: { params: ['blockHash'], run: (p) => this.blockTxCount({ kind: 'hash', hash: p.hash(0) }) },
      eth_getUncleCountByBlockNumber: { params: ['block'], run: async (p) => ((await this.resolveBlock(parseBlockRefStrict(p, 0))) === undefined ? null : '0x0') },
      eth_getUncleCountByBlockHash: { params: ['blockHash'], run: async (p) => ((await this.resolveBlock({ kind: 'hash', hash: p.hash(0) })) === undefined ? null : '0x0') },
      eth_getBlockReceipts: { params: ['block'], run: (p) => this.blockReceipts(parseBlockRefStrict(p, 0)) },
      eth_getTransactionByHash: { params: ['transactionHash'], run: (p) => this.transactionByHash(p.hash(0)) },
      eth_getTransactionByBlockNumberAndIndex: { params: ['block', 'index'], run: (p) => this.transactionByBlockAndIndex(parseBlockRefStrict(p, 0), p.quantity(1)) },
      eth_getTransactionByBlockHashAndIndex: { params: ['blockHash', 'index'], run: (p) => this.transactionByBlockAndIndex({ kind: 'hash', hash: p.hash(0) }, p.quantity(1)) },
      eth_getTransactionReceipt: { params: ['transactionHash'], run: (p) => this.receipt(p.hash(0)) },
      eth_sendRawTransaction: { params: ['transaction'], run: (p) => this.sendRawTransaction(p.data(0)) },
      eth_getBalance: { params: ['address', 'block'], run: (p) => this.balance(p.address(0), p.block(1), 'eth_getBalance') },
      eth_getTransactionCount: { params: ['address', 'block'], run: (p) => this.transactionCount(p.address(0), p.block(1)) },
      eth_getCode: { params: ['address', 'block'], run: (p) => this.code(p.address(0), p.block(1)) },
      eth_getStorageAt: { params: ['address', 'slot', 'block'], run: (p) => this.storageAt(p.address(0), slotParam(p.require(1)), p.block(2)) },
      eth_call: {
        params: ['transaction', 'block', 'stateOverrides', 'blockOverrides'],
        run: async (p) => {
          const req = parseCallRequest(p.require(0), 0, 'transaction')
          const head = await this.latestStateHead(p.block(1), 'eth_call')
          if (p.has(3)) throw invalidParam(3, 'blockOverrides', 'block overrides are not supported')
          return this.calls.call(req, parseOverrides(p.raw(2), 2, 'stateOverrides'), head)
        },
      },
      eth_estimateGas: {
        params: ['transaction', 'block', 'stateOverrides'],
        run: async (p) => {
          const req = parseCallRequest(p.require(0), 0, 'transaction')
          const head = await this.latestStateHead(p.block(1), 'eth_estimateGas')
          return bigintToHex(await this.calls.estimate(req, parseOverrides(p.raw(2), 2, 'stateOverrides'), head))
        },
      },
      eth_gasPrice: { params: [], run: async () => bigintToHex((await this.nextBaseFee()) + this.priorityFee()) },
      eth_maxPriorityFeePerGas: { params: [], run: async () => bigintToHex(this.priorityFee()) },
      eth_blobBaseFee: { params: [], run: async () => '0x1' },
      eth_feeHistory: { params: ['blockCount', 'newestBlock', 'rewardPercentiles'], run: (p) => this.feeHistory(p) },
      eth_getLogs: { params: ['filter'], run: async (p) => this.logs(parseLogFilter(p.object(0), 0)) },
      eth_newFilter: { params: ['filter'], run: async (p) => this.installFilter('log', parseLogFilter(p.object(0), 0)) },
      eth_newBlockFilter: { params: [], run: async () => this.installFilter('block') },
      eth_newPendingTransactionFilter: { params: [], run: async () => this.installFilter('pending') },
      eth_getFilterChanges: { params: ['filterId'], run: (p) => this.filterChanges(filterIdParam(p)) },
      eth_getFilterLogs: { params: ['filterId'], run: (p) => this.filterLogs(filterIdParam(p)) },
      eth_uninstallFilter: { params: ['filterId'], run: async (p) => this.filters.delete(filterIdParam(p)) },
      parevm_blocks: { params: ['count'], run: (p) => this.blockSummaries(p.has(0) ? Number(p.quantity(0)) : 20) },
      parevm_pendingCount: { params: [], run: async () => this.pending.size },
    }
  }

  private priorityFee(): bigint {
    return this.options.priorityFeeWei ?? 1_000_000_000n
  }

  private async nextBaseFee(head?: HeadRecord): Promise<bigint> {
    const env = this.calls.nextEnv(head ?? (await this.backend.head()))
    return BigInt(env.baseFeePerGas ?? 0)
  }

  private txCommon(number: bigint, timestamp: bigint): Common {
    return sharedTxCommon(commonFor(this.backend.chain, number, timestamp))
  }

  // ----- blocks ----------------------------------------------------------------------------

  /** The sealed block a reference names (undefined: none). */
  private async resolveBlock(ref: BlockRef): Promise<CachedBlock | undefined> {
    let number: bigint | undefined
    if (ref.kind === 'hash') number = await this.backend.blockNumberByHash(ref.hash)
    else if (ref.kind === 'number') number = ref.number
    else if (ref.tag === 'earliest') number = 0n
    else number = BigInt((await this.backend.head()).number)
    if (number === undefined) return undefined
    const cached = this.blockCache.get(number)
    if (cached !== undefined) {
      if (ref.kind === 'hash' && cached.record.hash.toLowerCase() !== ref.hash) return undefined
      return cached
    }
    const record = await this.backend.block(number)
    if (record === undefined) return undefined
    if (ref.kind === 'hash' && record.hash.toLowerCase() !== ref.hash) return undefined
    const entry: CachedBlock = { record }
    this.blockCache.set(number, entry)
    if (this.blockCache.size > 512) this.blockCache.delete(this.blockCache.keys().next().value!)
    return entry
  }

  private async rawsOf(block: CachedBlock): Promise<Uint8Array[]> {
    block.raws ??= await this.backend.blockTxs(block.record)
    return block.raws
  }

  private async receiptsOf(block: CachedBlock): Promise<ReceiptRecord[]> {
    if (block.receipts !== undefined) return block.receipts
    const found = await this.backend.receipts(block.record.txHashes)
    const receipts: ReceiptRecord[] = []
    found.forEach((r, i) => {
      if (r === undefined || r.kind !== 'receipt') throw new RpcError(RPC_INTERNAL_ERROR, `the receipt of ${block.record.txHashes[i]} in block ${block.record.number} is missing`)
      receipts.push(r)
    })
    block.receipts = receipts
    return receipts
  }

  private async logsOf(block: CachedBlock): Promise<RpcObject[]> {
    if (block.logs !== undefined) return block.logs
    block.logs = rpcReceipts(await this.receiptsOf(block)).flatMap((r) => r.logs as RpcObject[])
    return block.logs
  }

  private blockCommon(record: SealedBlockRecord): Common {
    return this.txCommon(BigInt(record.number), BigInt(record.header.timestamp ?? 0))
  }

  private async getBlock(ref: BlockRef, hydrated: boolean): Promise<RpcObject | null> {
    const block = await this.resolveBlock(ref)
    if (block === undefined) return null
    const raws = await this.rawsOf(block)
    const r = block.record
    const h = r.header
    const number = bigintToHex(BigInt(r.number))
    const common = this.blockCommon(r)
    const out: RpcObject = {
      number,
      hash: r.hash,
      parentHash: h.parentHash,
      nonce: h.nonce ?? '0x0000000000000000',
      sha3Uncles: h.uncleHash ?? '0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347',
      logsBloom: h.logsBloom,
      transactionsRoot: h.transactionsTrie,
      stateRoot: h.stateRoot,
      receiptsRoot: h.receiptTrie,
      miner: h.coinbase,
      difficulty: h.difficulty ?? '0x0',
      totalDifficulty: '0x0',
      extraData: h.extraData ?? '0x',
      size: bigintToHex(BigInt(540 + raws.reduce((s, raw) => s + raw.length + 3, 0))),
      gasLimit: h.gasLimit,
      gasUsed: h.gasUsed,
      timestamp: h.timestamp,
      mixHash: h.mixHash,
      uncles: [],
      transactions: hydrated ? raws.map((raw, i) => rpcTransaction(raw, common, i, r.hash, number)) : r.txHashes,
    }
    if (h.baseFeePerGas !== undefined) out.baseFeePerGas = h.baseFeePerGas
    if (h.withdrawalsRoot !== undefined) {
      out.withdrawalsRoot = h.withdrawalsRoot
      out.withdrawals = []
    }
    if (h.blobGasUsed !== undefined) out.blobGasUsed = h.blobGasUsed
    if (h.excessBlobGas !== undefined) out.excessBlobGas = h.excessBlobGas
    if (h.parentBeaconBlockRoot !== undefined) out.parentBeaconBlockRoot = h.parentBeaconBlockRoot
    if (h.requestsHash !== undefined) out.requestsHash = h.requestsHash
    return out
  }

  private async blockTxCount(ref: BlockRef): Promise<string | null> {
    const block = await this.resolveBlock(ref)
    return block === undefined ? null : bigintToHex(BigInt(block.record.txHashes.length))
  }

  private async blockReceipts(ref: BlockRef): Promise<RpcObject[] | null> {
    const block = await this.resolveBlock(ref)
    return block === undefined ? null : rpcReceipts(await this.receiptsOf(block))
  }

  // ----- transactions and receipts ---------------------------------------------------------

  private async includedReceipt(hash: string): Promise<ReceiptRecord | undefined> {
    const [r] = await this.backend.receipts([hash])
    return r?.kind === 'receipt' ? r : undefined
  }

  private async transactionByHash(hash: string): Promise<RpcObject | null> {
    const receipt = await this.includedReceipt(hash)
    if (receipt !== undefined) return this.transactionByBlockAndIndex({ kind: 'number', number: BigInt(receipt.block) }, BigInt(receipt.index))
    const p = this.pending.get(hash)
    if (p === undefined) return null
    const head = await this.backend.head()
    const common = this.txCommon(BigInt(head.number) + 1n, BigInt(head.timestamp))
    const out = rpcTransaction(fromHex(p.raw), common, 0, '', '')
    return { ...out, blockHash: null, blockNumber: null, transactionIndex: null }
  }

  private async transactionByBlockAndIndex(ref: BlockRef, index: bigint): Promise<RpcObject | null> {
    const block = await this.resolveBlock(ref)
    if (block === undefined) return null
    const raws = await this.rawsOf(block)
    const raw = raws[Number(index)]
    if (raw === undefined) return null
    const r = block.record
    return rpcTransaction(raw, this.blockCommon(r), Number(index), r.hash, bigintToHex(BigInt(r.number)))
  }

  private async receipt(hash: string): Promise<RpcObject | null> {
    const receipt = await this.includedReceipt(hash)
    if (receipt === undefined) return null
    const block = await this.resolveBlock({ kind: 'number', number: BigInt(receipt.block) })
    if (block === undefined) return null // receipts are written just before the block's seal
    const all = rpcReceipts(await this.receiptsOf(block))
    return all[receipt.index] ?? null
  }

  // ----- sending ---------------------------------------------------------------------------

  private async sendRawTransaction(raw: string): Promise<string> {
    const head = await this.backend.head()
    const number = BigInt(head.number) + 1n
    const common = this.txCommon(number, BigInt(head.timestamp) + 1n)
    const decoded = decodeRawTx(raw, { common, blockGasLimit: BigInt(head.gasLimit), clock: this.now })
    if (!decoded.ok) throw new RpcError(RPC_SERVER_ERROR, intakeMessage(decoded.rejection, this.backend.chainId))
    const { tx, hashHex, senderHex } = decoded.tx
    const sender = `0x${senderHex}`
    if (this.pending.get(hashHex) !== undefined) return hashHex
    const [record] = await this.backend.receipts([hashHex])
    if (record?.kind === 'receipt') return hashHex
    // A transaction's outcome is final: the sequencer drops a hash it has decided before.
    if (record?.kind === 'rejection') {
      throw new RpcError(RPC_SERVER_ERROR, `transaction ${hashHex} was already rejected (${record.code}: ${record.reason}); sign it again (a new hash) to retry`)
    }
    return this.withSenderLock(sender, async () => {
      const [accountValue] = await this.backend.state.load([senderHex])
      const account = decodeAccount(accountValue!.value)
      const sealedNonce = account?.nonce ?? 0n
      const balance = account?.balance ?? 0n
      await this.pending.refresh(sender, sealedNonce, (hashes) => this.hasRecords(hashes))
      if (tx.nonce < sealedNonce) throw new RpcError(RPC_SERVER_ERROR, `nonce too low: address ${sender}, tx: ${tx.nonce} state: ${sealedNonce}`)
      const { feeCap, tip } = fees(tx)
      const existing = this.pending.ofSender(sender).find((e) => e.nonce === tx.nonce)
      if (existing !== undefined) {
        throw new RpcError(RPC_SERVER_ERROR, `replacement transaction underpriced: nonce ${tx.nonce} of ${sender} is already accepted (${existing.hash}) and parevm does not replace accepted transactions`)
      }
      // Clients that send concurrently can deliver nonce n + 1 just before n: a small gap is
      // accepted (the sequencer holds a transaction whose predecessor is missing for a moment,
      // then rejects it as nonce-gap); a wider one is refused at once.
      const next = this.pending.nextNonce(sender, sealedNonce)
      if (tx.nonce > next + NONCE_AHEAD_MAX) {
        throw new RpcError(RPC_SERVER_ERROR, `nonce too high: address ${sender}, tx: ${tx.nonce} next: ${next} (at most ${NONCE_AHEAD_MAX} above the next nonce are accepted)`)
      }
      if (account !== undefined && !isEoa(account.codeHash)) throw new RpcError(RPC_SERVER_ERROR, `sender not an eoa: address ${sender}`)
      const baseFee = await this.nextBaseFee(head)
      if (feeCap < baseFee) throw new RpcError(RPC_SERVER_ERROR, `max fee per gas less than block base fee: address ${sender}, maxFeePerGas: ${feeCap} baseFee: ${baseFee}`)
      const cost = tx.gasLimit * feeCap + tx.value
      const committed = this.pending.committed(sender)
      if (balance < committed + cost) {
        const pendingNote = committed > 0n ? ` (${committed} committed by pending transactions)` : ''
        throw new RpcError(RPC_SERVER_ERROR, `insufficient funds for gas * price + value: address ${sender} have ${balance - committed}${pendingNote} want ${cost}`)
      }
      const hex = raw.startsWith('0x') ? raw : `0x${raw}`
      await this.backend.submit(hex)
      this.pending.add({ hash: hashHex, raw: hex, tx, sender, nonce: tx.nonce, cost, feeCap, tip })
      this.options.onAccepted?.(hashHex)
      return hashHex
    })
  }

  private async withSenderLock<T>(sender: string, work: () => Promise<T>): Promise<T> {
    const before = this.senderLocks.get(sender) ?? Promise.resolve()
    const run = before.then(work, work)
    const tail = run.catch(() => undefined)
    this.senderLocks.set(sender, tail)
    void tail.then(() => {
      if (this.senderLocks.get(sender) === tail) this.senderLocks.delete(sender)
    })
    return run
  }

  private async hasRecords(hashes: string[]): Promise<boolean[]> {
    return (await this.backend.receipts(hashes)).map((r) => r !== undefined)
  }

  // ----- state -----------------------------------------------------------------------------

  /** The head if `ref` names the latest state; older state is not kept (-32601). */
  private async latestStateHead(ref: BlockRef, method: string): Promise<HeadRecord> {
    const head = await this.backend.head()
    const number = BigInt(head.number)
    let ok: boolean
    if (ref.kind === 'tag') ok = ref.tag !== 'earliest' || number === 0n
    else if (ref.kind === 'number') ok = ref.number === number
    else ok = ref.hash === head.hash.toLowerCase()
    if (!ok) throw methodNotAvailable(method, `state is kept for the latest block (${number}) only`)
    return head
  }

  private async account(address: string, ref: BlockRef, method: string) {
    await this.latestStateHead(ref, method)
    const [value] = await this.backend.state.load([address.slice(2)])
    return decodeAccount(value!.value)
  }

  private async balance(address: string, ref: BlockRef, method: string): Promise<string> {
    return bigintToHex((await this.account(address, ref, method))?.balance ?? 0n)
  }

  private async transactionCount(address: string, ref: BlockRef): Promise<string> {
    const stateRef: BlockRef = ref.kind === 'tag' && ref.tag === 'pending' ? { kind: 'tag', tag: 'latest' } : ref
    const sealed = (await this.account(address, stateRef, 'eth_getTransactionCount'))?.nonce ?? 0n
    if (ref.kind !== 'tag' || ref.tag !== 'pending') return bigintToHex(sealed)
    await this.pending.refresh(address, sealed, (hashes) => this.hasRecords(hashes))
    return bigintToHex(this.pending.nextNonce(address, sealed))
  }

  private async code(address: string, ref: BlockRef): Promise<string> {
    const account = await this.account(address, ref, 'eth_getCode')
    if (account === undefined || isEoa(account.codeHash)) return '0x'
    const [code] = await this.backend.state.loadCode([toHex(account.codeHash)])
    return to0x(code!)
  }

  private async storageAt(address: string, slot: string, ref: BlockRef): Promise<string> {
    await this.latestStateHead(ref, 'eth_getStorageAt')
    const [value] = await this.backend.state.load([storageKey(address.slice(2), slot)])
    const bytes = value!.value ?? new Uint8Array(0)
    return `0x${toHex(bytes).padStart(64, '0')}`
  }

  // ----- fees ------------------------------------------------------------------------------

  private async feeHistory(p: Params): Promise<RpcObject> {
    const countRaw = p.require(0)
    const count = typeof countRaw === 'number' && Number.isInteger(countRaw) ? BigInt(countRaw) : p.quantity(0)
    if (count < 1n || count > 1024n) throw invalidParam(0, 'blockCount', 'must be 1..1024')
    const newest = await this.resolveBlock(parseBlockRefStrict(p, 1))
    if (newest === undefined) throw invalidParam(1, 'newestBlock', 'no such block')
    const percentiles = p.has(2) ? p.require(2) : undefined
    if (percentiles !== undefined && (!Array.isArray(percentiles) || percentiles.some((x, i) => typeof x !== 'number' || x < 0 || x > 100 || (i > 0 && x < percentiles[i - 1])))) {
      throw invalidParam(2, 'rewardPercentiles', 'expected increasing numbers between 0 and 100')
    }
    const newestNumber = BigInt(newest.record.number)
    const oldest = newestNumber - count + 1n < 0n ? 0n : newestNumber - count + 1n
    const baseFees: string[] = []
    const ratios: number[] = []
    const rewards: string[][] = []
    for (let n = oldest; n <= newestNumber; n++) {
      const block = await this.resolveBlock({ kind: 'number', number: n })
      if (block === undefined) break
      const h = block.record.header
      const baseFee = BigInt(h.baseFeePerGas ?? 0)
      baseFees.push(bigintToHex(baseFee))
      ratios.push(Number(BigInt(h.gasUsed ?? 0)) / Number(BigInt(h.gasLimit ?? 1)))
      if (percentiles !== undefined) {
        const tips = (await this.receiptsOf(block)).map((r) => BigInt(r.effectiveGasPrice) - baseFee).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        rewards.push((percentiles as number[]).map((pc) => bigintToHex(tips.length === 0 ? 0n : tips[Math.min(tips.length - 1, Math.floor((pc / 100) * tips.length))]!)))
      }
    }
    const head = await this.backend.head()
    const after = newestNumber === BigInt(head.number) ? await this.nextBaseFee(head) : BigInt((await this.resolveBlock({ kind: 'number', number: newestNumber + 1n }))?.record.header.baseFeePerGas ?? 0)
    baseFees.push(bigintToHex(after))
    const out: RpcObject = { oldestBlock: bigintToHex(oldest), baseFeePerGas: baseFees, gasUsedRatio: ratios }
    if (percentiles !== undefined) out.reward = rewards
    return out
  }

  // ----- logs and filters ------------------------------------------------------------------

  private async blockRange(filter: LogFilter, head: bigint): Promise<[bigint, bigint] | undefined> {
    if (filter.blockHash !== undefined) {
      const n = await this.backend.blockNumberByHash(filter.blockHash)
      if (n === undefined) throw new RpcError(RPC_SERVER_ERROR, `unknown block ${filter.blockHash}`)
      return [n, n]
    }
    const num = async (ref: BlockRef): Promise<bigint> => {
      if (ref.kind === 'number') return ref.number
      if (ref.kind === 'tag') return ref.tag === 'earliest' ? 0n : head
      const n = await this.backend.blockNumberByHash(ref.hash)
      if (n === undefined) throw new RpcError(RPC_SERVER_ERROR, `unknown block ${ref.hash}`)
      return n
    }
    const from = await num(filter.from)
    let to = await num(filter.to)
    if (to > head) to = head
    if (from > to) return undefined
    return [from, to]
  }

  /**
   * A sealed block announced by the node (in block order, from genesis): its hash is known and
   * its logs are indexed.
   */
  noteSealed(record: SealedBlockRecord, receipts: readonly ReceiptRecord[]): void {
    if (this.logIndex.covered === -1 && record.number === '1') this.logIndex.add(0, [])
    this.logIndex.add(Number(record.number), receipts)
  }

  /**
   * The blocks of [from, to] to read for a filter: from the log index where it covers the
   * range, every block after it (each checked against its header bloom).
   */
  private blocksToVisit(filter: LogFilter, from: bigint, to: bigint): bigint[] {
    const covered = BigInt(this.logIndex.covered)
    const out: bigint[] = []
    let next = from
    if (covered >= from) {
      const end = to < covered ? to : covered
      const found = this.logIndex.candidates(Number(from), Number(end), filter.addresses?.map((a) => to0x(a)), filter.topics.map((o) => (o === null ? null : o.map((t) => to0x(t)))))
      if (found !== undefined) {
        for (const n of found) out.push(BigInt(n))
        next = end + 1n
      }
    }
    for (let n = next; n <= to; n++) out.push(n)
    return out
  }

  /** Logs in [from, to]: blocks whose bloom rules the filter out are skipped unread. */
  private async logsInRange(filter: LogFilter, from: bigint, to: bigint): Promise<RpcObject[]> {
    if (to - from + 1n > BigInt(this.limits.maxLogRange)) {
      throw new RpcError(RPC_LIMIT_EXCEEDED, `query exceeds max block range ${this.limits.maxLogRange} (blocks ${from} to ${to}); ask for a narrower range`)
    }
    const out: RpcObject[] = []
    for (const n of this.blocksToVisit(filter, from, to)) {
      const block = await this.resolveBlock({ kind: 'number', number: n })
      if (block === undefined || block.record.txHashes.length === 0) continue
      if (!bloomMatches(block.record.header.logsBloom, filter)) continue
      for (const log of await this.logsOf(block)) {
        if (!logMatches(log, filter)) continue
        out.push(log)
        if (out.length > this.limits.maxLogs) {
          throw new RpcError(RPC_LIMIT_EXCEEDED, `query returned more than ${this.limits.maxLogs} results; ask for a narrower range (blocks ${from} to ${n - 1n} fit)`)
        }
      }
    }
    return out
  }

  private async logs(filter: LogFilter): Promise<RpcObject[]> {
    const head = BigInt((await this.backend.head()).number)
    const range = await this.blockRange(filter, head)
    return range === undefined ? [] : this.logsInRange(filter, range[0], range[1])
  }

  private async installFilter(kind: InstalledFilter['kind'], log?: LogFilter): Promise<string> {
    this.expireFilters()
    if (this.filters.size >= this.limits.maxFilters) throw new RpcError(RPC_LIMIT_EXCEEDED, `too many filters installed (${this.limits.maxFilters}); uninstall some`)
    const head = BigInt((await this.backend.head()).number)
    const id = bigintToHex(BigInt(`0x${toHex(crypto.getRandomValues(new Uint8Array(16)))}`))
    const filter: InstalledFilter = { kind, lastBlock: head, lastSeq: this.pending.lastSeq, touchedMs: this.now() }
    if (log !== undefined) {
      filter.log = log
      // Changes start after the head, or at fromBlock if that is later.
      if (log.from.kind === 'number' && log.from.number - 1n > head) filter.lastBlock = log.from.number - 1n
    }
    this.filters.set(id, filter)
    return id
  }

  private expireFilters(): void {
    const now = this.now()
    for (const [id, f] of this.filters) if (now - f.touchedMs > FILTER_IDLE_MS) this.filters.delete(id)
  }

  private filterOrThrow(id: string): InstalledFilter {
    this.expireFilters()
    const f = this.filters.get(id)
    if (f === undefined) throw new RpcError(RPC_SERVER_ERROR, 'filter not found')
    f.touchedMs = this.now()
    return f
  }

  private async filterChanges(id: string): Promise<unknown[]> {
    const f = this.filterOrThrow(id)
    const head = BigInt((await this.backend.head()).number)
    if (f.kind === 'pending') {
      const out = this.pending.recent.filter((r) => r.seq > f.lastSeq).map((r) => r.hash)
      f.lastSeq = this.pending.lastSeq
      return out
    }
    if (head <= f.lastBlock) return []
    const from = f.lastBlock + 1n
    if (f.kind === 'block') {
      const hashes: string[] = []
      for (let n = from; n <= head; n++) {
        const block = await this.resolveBlock({ kind: 'number', number: n })
        if (block !== undefined) hashes.push(block.record.hash)
      }
      f.lastBlock = head
      return hashes
    }
    const log = f.log!
    let to = head
    if (log.to.kind === 'number' && log.to.number < to) to = log.to.number
    let start = from
    if (log.from.kind === 'number' && log.from.number > start) start = log.from.number
    if (to - start + 1n > BigInt(this.limits.maxLogRange)) start = to - BigInt(this.limits.maxLogRange) + 1n
    const out = start > to ? [] : await this.logsInRange(log, start, to)
    f.lastBlock = head
    return out
  }

  private async filterLogs(id: string): Promise<RpcObject[]> {
    const f = this.filterOrThrow(id)
    if (f.kind !== 'log') throw new RpcError(RPC_SERVER_ERROR, 'filter not found (not a log filter)')
    return this.logs(f.log!)
  }

  // ----- the live page ---------------------------------------------------------------------

  private async blockSummaries(count: number): Promise<BlockSummary[]> {
    const n = Math.max(1, Math.min(200, count))
    if (this.options.blockSummaries !== undefined) return this.options.blockSummaries().slice(-n)
    const head = BigInt((await this.backend.head()).number)
    const out: BlockSummary[] = []
    for (let b = head; b >= 1n && out.length < n; b--) {
      const block = await this.resolveBlock({ kind: 'number', number: b })
      if (block === undefined) break
      const r = block.record
      out.unshift({
        number: r.number,
        hash: r.hash,
        txs: r.txHashes.length,
        gasUsed: r.header.gasUsed ?? '0x0',
        shards: Number(r.stats.shards ?? 0),
        reexecuted: Number(r.stats.reexecuted ?? 0),
        txsFullyPredicted: Number(r.stats.txsFullyPredicted ?? 0),
        sealedAtMs: r.sealedAtMs,
      })
    }
    return out
  }
}

/** The transport-independent entry point: a request body to a response body. */
export function handleRpc(body: string, ctx: RpcService): Promise<string> {
  return ctx.handle(body)
}

function errorResponse(id: unknown, error: RpcError): object {
  const e: Record<string, unknown> = { code: error.code, message: error.message }
  if (error.data !== undefined) e.data = error.data
  return { jsonrpc: '2.0', id: id ?? null, error: e }
}

function parseBlockRefStrict(p: Params, i: number): BlockRef {
  return parseBlockRef(p.require(i), i, i === 0 ? 'block' : 'newestBlock')
}

function filterIdParam(p: Params): string {
  const v = p.require(0)
  if (typeof v !== 'string' || !QUANTITY.test(v)) throw invalidParam(0, 'filterId', 'expected a filter id (hex quantity)')
  return v.toLowerCase()
}

function slotParam(v: unknown): string {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(v)) throw invalidParam(1, 'slot', 'expected a storage slot (hex, up to 32 bytes)')
  return v.slice(2).toLowerCase().padStart(64, '0')
}

function isEoa(codeHash: Uint8Array): boolean {
  return toHex(codeHash) === toHex(KECCAK256_NULL)
}

function fees(tx: TypedTransaction): { feeCap: bigint; tip: bigint } {
  if (tx.supports(Capability.EIP1559FeeMarket)) {
    const t = tx as unknown as { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
    return { feeCap: t.maxFeePerGas, tip: t.maxPriorityFeePerGas }
  }
  const gasPrice = (tx as unknown as { gasPrice: bigint }).gasPrice
  return { feeCap: gasPrice, tip: gasPrice }
}

/** An intake rejection in the words (geth's) that viem and ethers map to their error types. */
export function intakeMessage(r: Rejection, chainId: bigint): string {
  switch (r.code) {
    case 'wrong-chain-id':
      return `invalid chain id for signer: the node's chain id is ${chainId} (${r.reason})`
    case 'unprotected':
      return 'only replay-protected (EIP-155) transactions allowed over RPC'
    case 'intrinsic-gas':
      return `intrinsic gas too low: ${r.reason}`
    case 'gas-above-block-limit':
      return `exceeds block gas limit: ${r.reason}`
    case 'tip-above-fee-cap':
      return `max priority fee per gas higher than max fee per gas: ${r.reason}`
    case 'unsupported-type':
      return `transaction type not supported: ${r.reason}`
    case 'oversize':
      return `oversized data: ${r.reason}`
    case 'bad-signature':
      return `invalid sender: ${r.reason}`
    default:
      return `invalid transaction: ${r.reason}`
  }
}

export function parseLogFilter(o: Record<string, unknown>, index: number): LogFilter {
  for (const key of Object.keys(o)) if (!(LOG_FIELDS as readonly string[]).includes(key)) throw invalidParam(index, `filter.${key}`, 'unknown field')
  const filter: LogFilter = {
    from: o.fromBlock === undefined || o.fromBlock === null ? { kind: 'tag', tag: 'latest' } : parseBlockRef(o.fromBlock, index, 'filter.fromBlock'),
    to: o.toBlock === undefined || o.toBlock === null ? { kind: 'tag', tag: 'latest' } : parseBlockRef(o.toBlock, index, 'filter.toBlock'),
    topics: [],
  }
  if (o.blockHash !== undefined && o.blockHash !== null) {
    if (o.fromBlock !== undefined || o.toBlock !== undefined) throw invalidParam(index, 'filter.blockHash', 'blockHash excludes fromBlock and toBlock')
    filter.blockHash = parseHash(o.blockHash, index, 'filter.blockHash')
  }
  if (o.address !== undefined && o.address !== null) {
    const list = Array.isArray(o.address) ? o.address : [o.address]
    if (list.length > 0) filter.addresses = list.map((a, i) => fromHex(parseAddress(a, index, `filter.address[${i}]`)))
  }
  if (o.topics !== undefined && o.topics !== null) {
    if (!Array.isArray(o.topics) || o.topics.length > 4) throw invalidParam(index, 'filter.topics', 'expected an array of at most 4 positions')
    filter.topics = o.topics.map((t, i) => {
      if (t === null) return null
      const options = Array.isArray(t) ? t : [t]
      if (options.length === 0) return null
      return options.map((x, j) => fromHex(parseHash(x, index, `filter.topics[${i}]${Array.isArray(t) ? `[${j}]` : ''}`)))
    })
  }
  return filter
}

function bloomMatches(bloomHex: string | undefined, f: LogFilter): boolean {
  const bloom = parseBloom(bloomHex)
  if (bloom === undefined) return true
  if (f.addresses !== undefined && !f.addresses.some((a) => bloomMayContain(bloom, a))) return false
  for (const options of f.topics) if (options !== null && !options.some((t) => bloomMayContain(bloom, t))) return false
  return true
}

function logMatches(log: RpcObject, f: LogFilter): boolean {
  const address = (log.address as string).toLowerCase()
  if (f.addresses !== undefined && !f.addresses.some((a) => to0x(a) === address)) return false
  const topics = log.topics as string[]
  for (let i = 0; i < f.topics.length; i++) {
    const options = f.topics[i]
    if (options === null || options === undefined) continue
    const topic = topics[i]?.toLowerCase()
    if (topic === undefined || !options.some((t) => to0x(t) === topic)) return false
  }
  return true
}

export type { PendingTx }
