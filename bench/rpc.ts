/**
 * The JSON-RPC endpoint of `parevm node`, measured on this machine:
 *   1. eth_sendRawTransaction: transfers the node accepts per second (checked, queued; the node
 *      seals meanwhile), one transaction per HTTP request with C requests outstanding, and in
 *      batches of 100;
 *   2. read latency under load: eth_getTransactionReceipt, eth_call (an ERC20 balanceOf) and
 *      eth_getLogs (a token's Transfer events over the last 100 blocks) from 4 closed-loop
 *      readers while token transfers are injected at a fixed rate through the same endpoint.
 *
 *   npx tsx bench/rpc.ts [--senders 400] [--per-sender 5] [--concurrency 16] [--rate 200] [--seconds 10] [--workers 2] [--out DIR --label L]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { encodeFunctionData, type Abi, type Hex } from 'viem'

import artifacts from '../shared/workload/contracts/artifacts.json' with { type: 'json' }
import { createChainCommon } from '../shared/chain/common.ts'
import { parseGenesis } from '../shared/chain/genesis.ts'
import { keccak256 } from '../shared/crypto/keccak.ts'
import { privateKeyToAddress } from '../shared/crypto/secp256k1.ts'
import { bigintToHex, to0x } from '../shared/hex.ts'
import { startNode, type RunningNode } from '../functions/cli/node.ts'

const { values: args } = parseArgs({
  options: {
    senders: { type: 'string', default: '400' },
    'per-sender': { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
    out: { type: 'string' },
    label: { type: 'string', default: 'rpc' },
  },
})
const SENDERS = Number(args.senders)
const PER_SENDER = Number(args['per-sender'])
const CONCURRENCY = Number(args.concurrency)
const RATE = Number(args.rate)
const SECONDS = Number(args.seconds)
const CHAIN_ID = 31337n
const GWEI = 10n ** 9n
const token = artifacts.contracts.Token as { abi: Abi; bytecode: Hex }
const common = createChainCommon(CHAIN_ID, 'cancun')

const keys = Array.from({ length: SENDERS + 1 }, (_, i) => keccak256(new TextEncoder().encode(`parevm rpc bench ${i}`)))
const addresses = keys.map((k) => to0x(privateKeyToAddress(k)))
const nonces = new Map<number, number>()

function sign(from: number, tx: { to?: string; value?: bigint; data?: string; gasLimit: bigint }): string {
  const nonce = nonces.get(from) ?? 0
  nonces.set(from, nonce + 1)
  const signed = createFeeMarket1559Tx(
    { chainId: CHAIN_ID, nonce: BigInt(nonce), maxFeePerGas: 100n * GWEI, maxPriorityFeePerGas: GWEI, gasLimit: tx.gasLimit, value: tx.value ?? 0n, data: (tx.data ?? '0x') as Hex, ...(tx.to !== undefined ? { to: tx.to as Hex } : {}) },
    { common },
  ).sign(keys[from]!)
  return to0x(signed.serialize())
}

let rpcId = 0
async function post(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return res.json()
}
async function call(url: string, method: string, params: unknown[]): Promise<any> {
  const answer = (await post(url, { jsonrpc: '2.0', id: ++rpcId, method, params })) as { result?: unknown; error?: { message: string } }
  if (answer.error !== undefined) throw new Error(`${method}: ${answer.error.message}`)
  return answer.result
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function waitForReceipt(url: string, hash: string, timeoutMs = 60_000): Promise<any> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const r = await call(url, 'eth_getTransactionReceipt', [hash])
    if (r !== null) return r
    await new Promise((res) => setTimeout(res, 20))
  }
  throw new Error(`no receipt for ${hash}`)
}

/** Send `raws` with `concurrency` requests outstanding (one transaction each, or `batch` per request). */
async function sendAll(url: string, raws: readonly string[], concurrency: number, batch: number): Promise<{ ms: number; refused: number; hashes: string[] }> {
  let next = 0
  let refused = 0
  const hashes: string[] = []
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < raws.length) {
        const chunk = raws.slice(next, next + batch)
        next += chunk.length
        const body = chunk.map((raw) => ({ jsonrpc: '2.0', id: ++rpcId, method: 'eth_sendRawTransaction', params: [raw] }))
        const answer = (await post(url, batch === 1 ? body[0] : body)) as { result?: string; error?: unknown } | { result?: string; error?: unknown }[]
        for (const a of Array.isArray(answer) ? answer : [answer]) {
          if (a.result !== undefined) hashes.push(a.result)
          else refused++
        }
      }
    }),
  )
  return { ms: performance.now() - t0, refused, hashes }
}

async function main(): Promise<void> {
  const alloc = Object.fromEntries(addresses.map((a) => [a, { balance: bigintToHex(10n ** 24n) }]))
  const genesisFile = parseGenesis({ config: { chainId: Number(CHAIN_ID), hardfork: 'cancun' }, alloc, gasLimit: bigintToHex(60_000_000n), baseFeePerGas: bigintToHex(GWEI), timestamp: bigintToHex(BigInt(Math.floor(Date.now() / 1000))) })
  const node: RunningNode = await startNode({ genesisFile, port: 0, workers: Number(args.workers), verify: false, blockSize: 2000 })
  const url = node.url
  const results: Record<string, unknown> = { machine: { cpus: cpus().length, cpu: cpus()[0]?.model, parallelism: availableParallelism(), node: process.version }, date: new Date().toISOString() }
  try {
    // ----- 1. acceptance ------------------------------------------------------------------
    const sign1 = (round: number) => Array.from({ length: SENDERS }, (_, s) => sign(s + 1, { to: addresses[0], value: BigInt(round + 1), gasLimit: 21_000n }))
    const rounds = Array.from({ length: PER_SENDER * 2 }, (_, r) => sign1(r))
    const single = rounds.slice(0, PER_SENDER).flat()
    const batched = rounds.slice(PER_SENDER).flat()
    const a = await sendAll(url, single, CONCURRENCY, 1)
    await node.idle()
    const b = await sendAll(url, batched, Math.max(1, Math.floor(CONCURRENCY / 4)), 100)
    await node.idle()
    results.sendRawTransaction = {
      singleRequests: { txs: single.length, concurrency: CONCURRENCY, ms: Math.round(a.ms), perSec: Math.round(single.length / (a.ms / 1000)), refused: a.refused },
      batchesOf100: { txs: batched.length, concurrency: Math.max(1, Math.floor(CONCURRENCY / 4)), ms: Math.round(b.ms), perSec: Math.round(batched.length / (b.ms / 1000)), refused: b.refused },
      includedAfter: (await call(url, 'eth_getTransactionCount', [addresses[1], 'latest'])) as string,
    }
    console.log(JSON.stringify(results.sendRawTransaction))

    // ----- 2. reads under load -------------------------------------------------------------
    const deployer = 0
    const deploy = await call(url, 'eth_sendRawTransaction', [sign(deployer, { data: token.bytecode, gasLimit: 1_000_000n })])
    const address = (await waitForReceipt(url, deploy)).contractAddress as string
    const transferData = (i: number) => encodeFunctionData({ abi: token.abi, functionName: 'transfer', args: [addresses[1 + (i % SENDERS)] as Hex, 0n] })
    const load = Array.from({ length: Math.ceil(RATE * SECONDS) }, (_, i) => sign(1 + (i % SENDERS), { to: address, data: transferData(i), gasLimit: 60_000n }))
    const warm = await call(url, 'eth_sendRawTransaction', [sign(deployer, { to: address, data: transferData(0), gasLimit: 60_000n })])
    await waitForReceipt(url, warm)
    const balanceOf = encodeFunctionData({ abi: token.abi, functionName: 'balanceOf', args: [addresses[1] as Hex] })
    const lat: Record<'receipt' | 'call' | 'logs', number[]> = { receipt: [], call: [], logs: [] }
    let injecting = true
    const start = performance.now()
    let sent = 0
    const injector = (async () => {
      const inflight = new Set<Promise<unknown>>()
      while (sent < load.length) {
        const due = Math.min(load.length, Math.floor(((performance.now() - start) / 1000) * RATE))
        while (sent < due) {
          const p: Promise<unknown> = call(url, 'eth_sendRawTransaction', [load[sent++]!]).catch(() => undefined).finally(() => inflight.delete(p))
          inflight.add(p)
        }
        await new Promise((r) => setTimeout(r, 5))
      }
      await Promise.all(inflight)
      injecting = false
    })()
    const readers = Array.from({ length: 4 }, async (_, r) => {
      while (injecting) {
        const kind = (['receipt', 'call', 'logs'] as const)[(r + lat.receipt.length + lat.call.length + lat.logs.length) % 3]!
        const head = BigInt(await call(url, 'eth_blockNumber', []))
        const t0 = performance.now()
        if (kind === 'receipt') await call(url, 'eth_getTransactionReceipt', [warm])
        else if (kind === 'call') await call(url, 'eth_call', [{ to: address, data: balanceOf }, 'latest'])
        else await call(url, 'eth_getLogs', [{ address, fromBlock: bigintToHex(head > 100n ? head - 100n : 0n), toBlock: 'latest' }])
        lat[kind].push(performance.now() - t0)
      }
    })
    await Promise.all([injector, ...readers])
    const injectMs = performance.now() - start
    await node.idle()
    const summary = (xs: number[]) => {
      const s = [...xs].sort((x, y) => x - y)
      return { count: s.length, p50: Number(percentile(s, 50).toFixed(2)), p99: Number(percentile(s, 99).toFixed(2)), max: Number((s[s.length - 1] ?? 0).toFixed(2)) }
    }
    const head = BigInt(await call(url, 'eth_blockNumber', []))
    results.readsUnderLoad = {
      offeredTxPerSec: RATE,
      injectedTxs: sent,
      injectSeconds: Number((injectMs / 1000).toFixed(1)),
      blocks: Number(head),
      logsRangeBlocks: 100,
      eth_getTransactionReceipt: summary(lat.receipt),
      eth_call: summary(lat.call),
      eth_getLogs: summary(lat.logs),
    }
    console.log(JSON.stringify(results.readsUnderLoad))
  } finally {
    await node.stop()
  }
  if (args.out !== undefined) {
    mkdirSync(args.out, { recursive: true })
    writeFileSync(join(args.out, `${args.label}.json`), `${JSON.stringify(results, null, 2)}\n`)
  }
}

await main()
