/**
 * What each load-test transaction does, derived from the seed and its index alone, so that any
 * signing thread can build any transaction: transaction i is sent by sender i mod N with that
 * sender's next nonce, and its kind, recipient and amount come from a generator seeded by
 * (seed, i). The mixes and the hot-spot share follow shared/workload/generator.ts: that share of
 * transactions targets one hot key (the hot recipient, or pool 0), the rest spread out.
 */
import { createChainCommon, type SupportedHardfork } from '../chain/common.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { privateKeyToAddress } from '../crypto/secp256k1.ts'
import { to0x } from '../hex.ts'
import { createRng, deriveKey, erc20TransferData, signIntent, swapData, type WorkloadMix } from '../workload/generator.ts'

import type { Common } from '@ethereumjs/common'

/** The mixes a load test offers (the generator's, without the AI model mix). */
export const LOADTEST_MIXES = ['transfers', 'erc20', 'amm', 'amm-hot', 'mixed', 'chain'] as const satisfies readonly WorkloadMix[]
export type LoadTestMix = (typeof LOADTEST_MIXES)[number]

export interface WorkloadContext {
  seed: number
  mix: LoadTestMix
  /** 0..1: share of transactions aimed at the hot recipient or the hot pool. */
  hotShare: number
  /** Number of senders. */
  accounts: number
  chainId: bigint
  hardfork: SupportedHardfork
  tokenA: string
  tokenB: string
  pools: string[]
  hotRecipient: string
}

export interface TxIntent {
  kind: 'transfer' | 'erc20' | 'swap'
  to: string
  value: bigint
  data: string
  gasLimit: bigint
  /** Transaction type (0 legacy, 1 EIP-2930, 2 EIP-1559). */
  type: number
}

export function senderKey(seed: number, index: number): Uint8Array {
  return deriveKey(seed, 'sender', index)
}

export function senderAddresses(seed: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => to0x(privateKeyToAddress(senderKey(seed, i))))
}

/** A fresh recipient address (index -1 is the hot recipient), as in the workload generator. */
export function recipientAddress(seed: number, index: number): string {
  return to0x(deriveKey(seed, 'recipient', index).subarray(12))
}

/** Does this mix need ERC20 balances (token A; token B too for swaps) and pool approvals? */
export function mixNeeds(mix: LoadTestMix): { tokenA: boolean; tokenB: boolean; approvals: boolean } {
  const swaps = mix === 'amm' || mix === 'amm-hot' || mix === 'mixed'
  return { tokenA: mix !== 'transfers', tokenB: swaps, approvals: swaps }
}

/** The pools sender `s` may swap in: its own (s mod pools) and the hot pool 0. */
export function senderPools(pools: readonly string[], s: number): string[] {
  return [...new Set([pools[s % pools.length]!, pools[0]!])]
}

function txRng(seed: number, index: number): () => number {
  // Distinct per (seed, index); createRng mixes the bits.
  return createRng(seed * 4_194_301 + index)
}

export function intentFor(ctx: WorkloadContext, index: number): TxIntent {
  const rng = txRng(ctx.seed, index)
  const s = index % ctx.accounts
  const hot = ctx.mix === 'chain' || ctx.mix === 'amm-hot' || rng() < ctx.hotShare
  const r = rng()
  const kind: TxIntent['kind'] =
    ctx.mix === 'transfers' ? 'transfer' : ctx.mix === 'erc20' || ctx.mix === 'chain' ? 'erc20' : ctx.mix === 'mixed' ? (r < 0.4 ? 'transfer' : r < 0.8 ? 'erc20' : 'swap') : 'swap'
  const to = hot ? ctx.hotRecipient : recipientAddress(ctx.seed, Math.floor(rng() * ctx.accounts))
  // The mixed workload exercises every transaction type the intake accepts.
  const type = ctx.mix === 'mixed' ? index % 3 : 2
  if (kind === 'transfer') return { kind, to, value: BigInt(1 + Math.floor(rng() * 1e6)) * 10n ** 9n, data: '0x', gasLimit: 21_000n, type }
  if (kind === 'erc20') {
    const amount = BigInt(1 + Math.floor(rng() * 1e6)) * 10n ** 12n
    return { kind, to: ctx.tokenA, value: 0n, data: erc20TransferData(to, amount), gasLimit: 90_000n, type }
  }
  const pool = hot ? ctx.pools[0]! : ctx.pools[s % ctx.pools.length]!
  const amount = BigInt(1 + Math.floor(rng() * 1e6)) * 10n ** 12n
  return { kind, to: pool, value: 0n, data: swapData(amount, rng() < 0.5, 0n), gasLimit: 200_000n, type }
}

export interface SignedTx {
  raw: string
  /** Transaction hash (keccak of the raw bytes), 0x-hex: the key of its receipt or rejection. */
  hash: string
}

export function signRaw(common: Common, key: Uint8Array, nonce: bigint, intent: Omit<TxIntent, 'kind'>, chainId: bigint): SignedTx {
  const bytes = signIntent(common, key, nonce, intent, intent.type, chainId).serialize()
  return { raw: to0x(bytes), hash: to0x(keccak256(bytes)) }
}

export function commonFor(ctx: Pick<WorkloadContext, 'chainId' | 'hardfork'>): Common {
  return createChainCommon(ctx.chainId, ctx.hardfork)
}
