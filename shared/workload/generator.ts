/**
 * The workload generator: a genesis with funded senders, two ERC20 tokens and constant-product
 * pools (real compiled contracts with their storage laid out at genesis), and real signed
 * transactions of a chosen mix. Everything is derived from the seed, so a run is reproducible.
 *
 * Conflicts are controlled by the hot-spot share: that fraction of transactions targets one
 * hot key (a hot recipient for transfers, the hot pool for swaps); the rest go to distinct
 * recipients and spread pools. Senders and recipients are disjoint sets, so with a hot share
 * of 0 transfers are independent.
 */
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, type TypedTransaction } from '@ethereumjs/tx'

import { createChainCommon, DEFAULT_HARDFORK, type SupportedHardfork } from '../chain/common.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { privateKeyToAddress } from '../crypto/secp256k1.ts'
import { ConfigError } from '../errors.ts'
import { bigintToHex, fromHex, to0x } from '../hex.ts'
import artifacts from './contracts/artifacts.json' with { type: 'json' }
import { aiGenesisAlloc, aiIntent } from '../ai/workload.ts'

import type { GenesisFile } from '../chain/genesis.ts'
import type { Common } from '@ethereumjs/common'

export const WORKLOAD_MIXES = ['transfers', 'erc20', 'amm', 'amm-hot', 'mixed', 'chain', 'ai'] as const
export type WorkloadMix = (typeof WORKLOAD_MIXES)[number]

export interface WorkloadOptions {
  txs: number
  mix: WorkloadMix
  /** Senders (each with a key); recipients are as many fresh addresses. */
  accounts: number
  /** 0..1: share of transactions aimed at the hot recipient or hot pool. */
  hotShare: number
  pools: number
  seed: number
  chainId?: bigint
  hardfork?: SupportedHardfork
  /** Block gas limit written into the genesis. */
  gasLimit?: bigint
}

export interface WorkloadAccount {
  address: string
  privateKey: Uint8Array
}

export interface Workload {
  options: Required<Omit<WorkloadOptions, 'chainId' | 'hardfork' | 'gasLimit'>> & { chainId: bigint; hardfork: SupportedHardfork; gasLimit: bigint }
  genesis: GenesisFile
  /** Signed transactions, 0x-hex, in submission order. */
  rawTxs: string[]
  senders: WorkloadAccount[]
  tokenA: string
  tokenB: string
  pools: string[]
  hotRecipient: string
}

export const DEFAULT_CHAIN_ID = 7777n
export const DEFAULT_GAS_LIMIT = 4_000_000_000n
export const COINBASE = `0x${'c0'.repeat(20)}`
const MAX_UINT = (1n << 256n) - 1n
const ETH = 10n ** 18n

export const TOKEN_ABI = {
  transfer: 'a9059cbb',
  approve: '095ea7b3',
  balanceOf: '70a08231',
}
/** swap(uint256,bool,uint256) */
export const POOL_SWAP = '4312ae31'

/** Slot of `mapping[key]` for a mapping declared at `base` (Solidity layout). */
export function mappingSlot(key: string | Uint8Array, base: bigint | Uint8Array): Uint8Array {
  const buf = new Uint8Array(64)
  const k = typeof key === 'string' ? fromHex(key) : key
  buf.set(k, 32 - k.length)
  const b = typeof base === 'bigint' ? fromHex(base.toString(16).padStart(64, '0')) : base
  buf.set(b, 64 - b.length)
  return keccak256(buf)
}

export function fixedAddress(kind: number, index: number): string {
  return `0x${kind.toString(16).padStart(8, '0')}${index.toString(16).padStart(32, '0')}`
}

function word(value: bigint | string): string {
  return (typeof value === 'bigint' ? value.toString(16) : value.replace(/^0x/, '')).padStart(64, '0')
}

/** xorshift128+: fast, seeded, reproducible. */
export function createRng(seed: number): () => number {
  let s0 = BigInt(seed) ^ 0x9e3779b97f4a7c15n
  let s1 = BigInt(seed) * 0xbf58476d1ce4e5b9n + 1n
  const mask = (1n << 64n) - 1n
  return () => {
    let x = s0
    const y = s1
    s0 = y
    x = (x ^ (x << 23n)) & mask
    s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n)
    return Number(((s1 + y) & mask) >> 11n) / 2 ** 53
  }
}

export function deriveKey(seed: number, label: string, index: number): Uint8Array {
  return keccak256(new TextEncoder().encode(`parevm:${seed}:${label}:${index}`))
}

function recipient(seed: number, index: number): string {
  return to0x(deriveKey(seed, 'recipient', index).subarray(12))
}

export function validateWorkloadOptions(o: WorkloadOptions): void {
  const problems: string[] = []
  if (!Number.isInteger(o.txs) || o.txs < 0 || o.txs > 1_000_000) problems.push(`txs must be 0..1000000 (got ${o.txs})`)
  if (!Number.isInteger(o.accounts) || o.accounts < 1 || o.accounts > 200_000) problems.push(`accounts must be 1..200000 (got ${o.accounts})`)
  if (!(o.hotShare >= 0 && o.hotShare <= 1)) problems.push(`hot share must be between 0 and 1 (got ${o.hotShare})`)
  if (!Number.isInteger(o.pools) || o.pools < 1 || o.pools > 10_000) problems.push(`pools must be 1..10000 (got ${o.pools})`)
  if (!WORKLOAD_MIXES.includes(o.mix)) problems.push(`mix must be one of ${WORKLOAD_MIXES.join(', ')} (got ${o.mix})`)
  if (problems.length > 0) throw new ConfigError(`invalid workload: ${problems.join('; ')}`)
}

/** The genesis alone (accounts funded, contracts deployed with their storage). */
export function workloadGenesis(o: WorkloadOptions, senders: readonly string[]): { genesis: GenesisFile; tokenA: string; tokenB: string; pools: string[] } {
  const tokenA = fixedAddress(0xa, 1)
  const tokenB = fixedAddress(0xa, 2)
  const pools = Array.from({ length: o.pools }, (_, i) => fixedAddress(0xb, i))
  const alloc: GenesisFile['alloc'] = {}
  for (const s of senders) alloc[s] = { balance: bigintToHex(1_000_000n * ETH) }
  const reserve = 1_000_000_000n * ETH
  const perSender = 1_000_000n * ETH
  for (const token of [tokenA, tokenB]) {
    const storage: Record<string, string> = {}
    storage[to0x(fromHex(word(0n)))] = to0x(fromHex(word(perSender * BigInt(senders.length) + reserve * BigInt(pools.length))))
    for (const s of senders) storage[to0x(mappingSlot(s, 1n))] = to0x(fromHex(word(perSender)))
    for (const p of pools) storage[to0x(mappingSlot(p, 1n))] = to0x(fromHex(word(reserve)))
    senders.forEach((s, i) => {
      // Each sender may swap in its own pool and in the hot pool 0.
      for (const p of new Set([pools[i % pools.length]!, pools[0]!])) {
        storage[to0x(mappingSlot(p, mappingSlot(s, 2n)))] = to0x(fromHex(word(MAX_UINT)))
      }
    })
    alloc[token] = { balance: '0x0', nonce: '0x1', code: artifacts.contracts.Token.deployedBytecode, storage }
  }
  for (const p of pools) {
    alloc[p] = {
      balance: '0x0',
      nonce: '0x1',
      code: artifacts.contracts.Pool.deployedBytecode,
      storage: {
        '0x00': to0x(fromHex(word(tokenA))),
        '0x01': to0x(fromHex(word(tokenB))),
        '0x02': to0x(fromHex(word(reserve))),
        '0x03': to0x(fromHex(word(reserve))),
      },
    }
  }
  // The ai mix: a model account and a classifier contract calling the AI precompile.
  if (o.mix === 'ai') Object.assign(alloc, aiGenesisAlloc(o.seed))
  const genesis: GenesisFile = {
    config: { chainId: Number(o.chainId ?? DEFAULT_CHAIN_ID), hardfork: o.hardfork ?? DEFAULT_HARDFORK },
    alloc,
    gasLimit: bigintToHex(o.gasLimit ?? DEFAULT_GAS_LIMIT),
    baseFeePerGas: bigintToHex(1_000_000_000n),
    coinbase: COINBASE,
    timestamp: '0x6553f100',
  }
  return { genesis, tokenA, tokenB, pools }
}

interface TxIntent {
  kind: 'transfer' | 'erc20' | 'swap' | 'ai'
  to: string
  value: bigint
  data: string
  gasLimit: bigint
}

export function erc20TransferData(to: string, amount: bigint): string {
  return `0x${TOKEN_ABI.transfer}${word(to)}${word(amount)}`
}

export function swapData(amountIn: bigint, zeroForOne: boolean, minOut: bigint): string {
  return `0x${POOL_SWAP}${word(amountIn)}${word(zeroForOne ? 1n : 0n)}${word(minOut)}`
}

function pickKind(mix: WorkloadMix, r: number): TxIntent['kind'] {
  switch (mix) {
    case 'transfers':
      return 'transfer'
    case 'erc20':
    case 'chain':
      return 'erc20'
    case 'amm':
    case 'amm-hot':
      return 'swap'
    case 'ai':
      return 'ai'
    case 'mixed':
      return r < 0.4 ? 'transfer' : r < 0.8 ? 'erc20' : 'swap'
  }
}

export function generateWorkload(options: WorkloadOptions): Workload {
  validateWorkloadOptions(options)
  const o = {
    ...options,
    chainId: options.chainId ?? DEFAULT_CHAIN_ID,
    hardfork: options.hardfork ?? DEFAULT_HARDFORK,
    gasLimit: options.gasLimit ?? DEFAULT_GAS_LIMIT,
  }
  const senders: WorkloadAccount[] = Array.from({ length: o.accounts }, (_, i) => {
    const privateKey = deriveKey(o.seed, 'sender', i)
    return { address: to0x(privateKeyToAddress(privateKey)), privateKey }
  })
  const { genesis, tokenA, tokenB, pools } = workloadGenesis(o, senders.map((s) => s.address))
  const common = createChainCommon(o.chainId, o.hardfork)
  const rng = createRng(o.seed)
  const hotRecipient = recipient(o.seed, -1)
  const nonces = new Array<bigint>(o.accounts).fill(0n)
  const rawTxs: string[] = []
  for (let i = 0; i < o.txs; i++) {
    const s = i % o.accounts
    const hot = o.mix === 'chain' || o.mix === 'amm-hot' || rng() < o.hotShare
    const kind = pickKind(o.mix, rng())
    const to = hot ? hotRecipient : recipient(o.seed, Math.floor(rng() * o.accounts))
    let intent: TxIntent
    if (kind === 'transfer') {
      intent = { kind, to, value: BigInt(1 + Math.floor(rng() * 1e6)) * 10n ** 9n, data: '0x', gasLimit: 21_000n }
    } else if (kind === 'erc20') {
      const amount = BigInt(1 + Math.floor(rng() * 1e6)) * 10n ** 12n
      intent = { kind, to: tokenA, value: 0n, data: erc20TransferData(to, amount), gasLimit: 90_000n }
    } else if (kind === 'ai') {
      intent = { kind, ...aiIntent(rng, hot) }
    } else {
      const pool = hot ? pools[0]! : pools[s % pools.length]!
      const amount = BigInt(1 + Math.floor(rng() * 1e6)) * 10n ** 12n
      intent = { kind, to: pool, value: 0n, data: swapData(amount, rng() < 0.5, 0n), gasLimit: 200_000n }
    }
    // The mixed workload exercises every transaction type the intake accepts.
    const type = o.mix === 'mixed' ? i % 3 : 2
    const tx = signIntent(common, senders[s]!.privateKey, nonces[s]!, intent, type, o.chainId)
    nonces[s]!++
    rawTxs.push(to0x(tx.serialize()))
  }
  return { options: o, genesis, rawTxs, senders, tokenA, tokenB, pools, hotRecipient }
}

const MAX_FEE = 100n * 10n ** 9n
const PRIORITY_FEE = 10n ** 9n

export function signIntent(common: Common, key: Uint8Array, nonce: bigint, intent: Omit<TxIntent, 'kind'>, type: number, chainId: bigint): TypedTransaction {
  const base = { nonce, gasLimit: intent.gasLimit, to: intent.to as `0x${string}`, value: intent.value, data: intent.data as `0x${string}` }
  if (type === 0) return createLegacyTx({ ...base, gasPrice: MAX_FEE }, { common }).sign(key)
  if (type === 1) return createAccessList2930Tx({ ...base, chainId, gasPrice: MAX_FEE, accessList: [] }, { common }).sign(key)
  return createFeeMarket1559Tx({ ...base, chainId, maxFeePerGas: MAX_FEE, maxPriorityFeePerGas: PRIORITY_FEE }, { common }).sign(key)
}
