/**
 * JSON-RPC request bodies (shared/rpc `handleRpc`, what `parevm node` serves): bad JSON, wrong
 * request shapes, batches, every method with random and wrong parameters, raw transactions of
 * every kind. Each body must resolve to a JSON-RPC 2.0 response (or nothing, for notifications),
 * never throw, and never answer -32603 "internal error" (an exception the method did not turn
 * into a JSON-RPC error).
 */
import { EmbeddedCluster } from '../../shared/cluster/embedded.ts'
import { StoreBackend } from '../../shared/rpc/backend.ts'
import { handleRpc, RpcService } from '../../shared/rpc/service.ts'
import { signTx, testGenesis } from '../helpers/chain.ts'
import { RawTxGenerator, validPool } from './raw-tx.ts'
import { hex, Rng } from './rng.ts'
import { count, failure, HANG_MS, newStats, retimed, type FuzzFailure, type TargetOptions, type TargetRun } from './types.ts'

const METHODS = 'net_version net_listening net_peerCount eth_chainId eth_syncing eth_accounts eth_blockNumber eth_getBlockByNumber eth_getBlockByHash eth_getBlockTransactionCountByNumber eth_getBlockTransactionCountByHash eth_getUncleCountByBlockNumber eth_getUncleCountByBlockHash eth_getBlockReceipts eth_getTransactionByHash eth_getTransactionByBlockNumberAndIndex eth_getTransactionByBlockHashAndIndex eth_getTransactionReceipt eth_sendRawTransaction eth_getBalance eth_getTransactionCount eth_getCode eth_getStorageAt eth_call eth_estimateGas eth_gasPrice eth_maxPriorityFeePerGas eth_blobBaseFee eth_feeHistory eth_getLogs eth_newFilter eth_newBlockFilter eth_newPendingTransactionFilter eth_getFilterChanges eth_getFilterLogs eth_uninstallFilter parevm_blocks parevm_pendingCount eth_sendTransaction eth_sign web3_clientVersion nope __proto__ constructor toString'.split(' ')

function param(rng: Rng, raws: RawTxGenerator, depth = 0): unknown {
  const r = rng.int(depth > 1 ? 12 : 14)
  switch (r) {
    case 0:
      return rng.pick(['latest', 'earliest', 'pending', 'safe', 'finalized', 'LATEST', ''])
    case 1:
      return rng.pick(['0x0', '0x1', '0x2', '0x', '0x00', '0x-1', '0xffffffffffffffffffffffffffffffff', '1', '0xg', '0x1fffffffffffff'])
    case 2:
      return hex(rng.bytes(rng.pick([20, 32, 0, 19, 21, 33])))
    case 3:
      return raws.next().input.slice(0, 4000)
    case 4:
      return rng.pick([0, 1, -1, 1.5, 2 ** 53, 1e308, Number.MAX_SAFE_INTEGER])
    case 5:
      return rng.pick([null, true, false])
    case 6:
      return rng.pick(['', 'x', '\u0000', '😀', 'a'.repeat(rng.int(300))])
    case 7:
    case 8:
      // A call or filter object.
      return Object.fromEntries(
        Array.from({ length: rng.length(5) + 1 }, () => [
          rng.pick(['from', 'to', 'data', 'input', 'value', 'gas', 'gasPrice', 'maxFeePerGas', 'nonce', 'fromBlock', 'toBlock', 'address', 'topics', 'blockHash', 'accessList', 'type', 'chainId', '__proto__']),
          param(rng, raws, depth + 1),
        ]),
      )
    case 9:
      return { blockHash: hex(rng.bytes(32)), requireCanonical: rng.chance(0.5) }
    case 10:
    case 11:
      return rng.pick(['0x0', '0x1', 'latest', hex(rng.bytes(20))])
    default:
      return Array.from({ length: rng.length(4) }, () => param(rng, raws, depth + 1))
  }
}

function request(rng: Rng, raws: RawTxGenerator, valid: string[]): unknown {
  const method = rng.pick(METHODS)
  const params = method === 'eth_sendRawTransaction' && rng.chance(0.5) ? [rng.chance(0.3) && valid.length > 0 ? valid.pop()! : raws.next().input.slice(0, 20_000)] : Array.from({ length: rng.length(4) }, () => param(rng, raws))
  const req: Record<string, unknown> = { jsonrpc: '2.0', method, params, id: rng.int(1000) }
  if (rng.chance(0.1)) {
    const field = rng.pick(['jsonrpc', 'method', 'params', 'id'])
    if (rng.chance(0.5)) delete req[field]
    else req[field] = param(rng, raws)
  }
  return req
}

function body(rng: Rng, raws: RawTxGenerator, valid: string[]): { kind: string; body: string } {
  const r = rng.int(100)
  if (r < 8) return { kind: 'bad-json', body: rng.pick(['', '{', '[', '{"jsonrpc":"2.0",', 'null', '"x"', '5', '\u0000', '[]', '{}']) }
  if (r < 15) {
    const good = JSON.stringify(request(rng, raws, valid))
    return { kind: 'bad-json', body: good.slice(0, rng.int(good.length)) }
  }
  if (r < 25) return { kind: 'batch', body: JSON.stringify(Array.from({ length: rng.range(1, 8) }, () => (rng.chance(0.2) ? param(rng, raws) : request(rng, raws, valid)))) }
  return { kind: 'request', body: JSON.stringify(request(rng, raws, valid)) }
}

/** Whether `text` is a JSON-RPC 2.0 response (or a batch of them); undefined when it is. */
function responseProblem(text: string): string | undefined {
  if (text === '') return undefined // notifications only
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'the response is not JSON'
  }
  const list = Array.isArray(value) ? value : [value]
  if (list.length === 0) return 'an empty batch response'
  for (const item of list) {
    if (item === null || typeof item !== 'object') return 'a response that is not an object'
    const o = item as { jsonrpc?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } }
    if (o.jsonrpc !== '2.0') return 'a response without jsonrpc "2.0"'
    if (('result' in o) === ('error' in o)) return 'a response with both or neither of result and error'
    if (o.error !== undefined) {
      if (!Number.isInteger(o.error.code) || typeof o.error.message !== 'string') return 'an error without an integer code and a message'
      if (o.error.code === -32603) return `internal error: ${o.error.message}`
    }
  }
  return undefined
}

export async function fuzzRpc(options: TargetOptions): Promise<TargetRun> {
  const stats = newStats('JSON-RPC bodies')
  const failures: FuzzFailure[] = []
  const rng = Rng.derive(options.seed, 5)
  const raws = new RawTxGenerator(rng, validPool(rng, 16))
  const genesis = testGenesis({ accounts: 16 })
  const cluster = await EmbeddedCluster.start({ genesis, workers: 1, threads: false, blockSize: 50, verify: true })
  const t0 = performance.now()
  try {
    // One sealed block, so block and transaction lookups find something.
    await cluster.runOrdered([signTx({ from: 0, nonce: 0, to: `0x${'44'.repeat(20)}`, value: 1n })])
    const backend = new StoreBackend({ kv: cluster.kv, ingress: cluster.ingress, chain: genesis.chain, chainId: genesis.chainId, coinbase: genesis.coinbase })
    const service = new RpcService({ backend })
    const valid = Array.from({ length: 15 }, (_, i) => signTx({ from: i + 1, nonce: 0, to: `0x${'44'.repeat(20)}`, value: 1n }))
    for (let i = 0; i < options.count; i++) {
      const b = body(rng, raws, valid)
      count(stats.byKind, b.kind)
      const start = performance.now()
      let text: string
      try {
        text = await handleRpc(b.body, service)
      } catch (error) {
        failures.push(failure(stats.target, options.seed, i, b.kind, b.body, error))
        continue
      }
      const ms = await retimed(performance.now() - start, () => handleRpc(b.body, service))
      stats.slowestMs = Math.max(stats.slowestMs, ms)
      if (ms > HANG_MS) failures.push(failure(stats.target, options.seed, i, b.kind, b.body, `hang: ${ms.toFixed(0)} ms`))
      const problem = typeof text === 'string' ? responseProblem(text) : 'handleRpc did not give a string'
      if (problem !== undefined) failures.push(failure(stats.target, options.seed, i, b.kind, b.body, problem))
      else if (text.includes('"error"')) count(stats.rejectedByCode, 'json-rpc-error')
      else stats.accepted++
      if ((i & 255) === 255) options.onProgress?.(i + 1)
    }
  } finally {
    await cluster.stop()
  }
  stats.inputs = options.count
  stats.ms = performance.now() - t0
  return { stats, failures }
}
