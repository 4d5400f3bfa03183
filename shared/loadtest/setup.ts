/**
 * Set-up of a load test: funded senders and the workload contracts (two ERC20 tokens,
 * constant-product pools), once.
 *
 * - Genesis (a fresh chain): the workload generator's genesis allocation - senders funded,
 *   contracts with their storage laid out - written by the pipeline at start or, for an
 *   endpoint whose store is empty, by the load test itself (trie nodes, state, block 0, head).
 * - Funding (a running chain): transactions from a funded key. The contracts have no
 *   constructors, so each is deployed with init code that writes its initial storage (the
 *   token's supply to the funder; the pool's tokens and reserves) and returns the compiled
 *   runtime code. Then the funder sends each sender ETH and tokens and each pool its reserves,
 *   and each sender approves its pools. The funder's transactions go in waves, one queue message
 *   each, a wave after the previous one is included (a standard queue may reorder separate
 *   messages, and a nonce gap would be rejected); every set-up transaction must succeed.
 */
import { RLP } from '@ethereumjs/rlp'

import type { GenesisFile, GenesisState } from '../chain/genesis.ts'
import { initializeChain } from '../cluster/bootstrap.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { privateKeyToAddress } from '../crypto/secp256k1.ts'
import { ConfigError, ParevmError } from '../errors.ts'
import { bigintToMinimalBytes, fromHex, to0x } from '../hex.ts'
import { chunkBySize } from '../pipeline/codec.ts'
import { decodeAccount } from '../state/values.ts'
import { Records } from '../store/records.ts'
import { StateTable } from '../store/state-table.ts'
import { saveTrieNodes } from '../trie/node-store.ts'
import artifacts from '../workload/contracts/artifacts.json' with { type: 'json' }
import { TOKEN_ABI, erc20TransferData, fixedAddress, mappingSlot, workloadGenesis } from '../workload/generator.ts'
import { commonFor, intentFor, mixNeeds, recipientAddress, senderKey, senderPools, signRaw, type LoadTestMix, type SignedTx, type WorkloadContext } from './intents.ts'

import type { SupportedHardfork } from '../chain/common.ts'
import type { KeyValueStore } from '../ports/kv-store.ts'
import type { Queue } from '../ports/queue.ts'

export interface WorkloadShape {
  mix: LoadTestMix
  accounts: number
  hotShare: number
  pools: number
  seed: number
}

const ETH = 10n ** 18n
const MAX_UINT = (1n << 256n) - 1n
/** Token units each sender and each pool receive (as in the workload generator's genesis). */
export const TOKENS_PER_SENDER = 1_000_000n * ETH
export const TOKENS_PER_POOL = 1_000_000_000n * ETH

// ----- genesis ---------------------------------------------------------------------------------

export function genesisSetup(shape: WorkloadShape, senders: readonly string[], chain: { chainId: bigint; hardfork: SupportedHardfork }): { file: GenesisFile; ctx: WorkloadContext } {
  const { genesis, tokenA, tokenB, pools } = workloadGenesis(
    { txs: 0, mix: shape.mix, accounts: shape.accounts, hotShare: shape.hotShare, pools: shape.pools, seed: shape.seed, chainId: chain.chainId, hardfork: chain.hardfork },
    senders,
  )
  return { file: genesis, ctx: { ...shape, ...chain, tokenA, tokenB, pools, hotRecipient: recipientAddress(shape.seed, -1) } }
}

/**
 * A store without a chain gets this genesis (trie nodes first, so that a coordinator starting
 * cold can load the state trie); a store with the same genesis is kept as it is.
 */
export async function bootstrapStore(kv: KeyValueStore, genesis: GenesisState): Promise<'created' | 'existing'> {
  const existing = await new Records(kv).getBlock(0n)
  if (existing === undefined) await saveTrieNodes(kv, genesis.trie)
  try {
    await initializeChain(kv, genesis)
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(`the target already runs another chain: ${error.message}`, {
        hint: 'fund the load-test senders by transactions with --funder-key (a funded key of that chain), or point the load test at empty tables',
        cause: error,
      })
    }
    throw error
  }
  return existing === undefined ? 'created' : 'existing'
}

// ----- funding by transactions -----------------------------------------------------------------

/** Init code that writes `storage` and returns `runtime` (a deployment without a constructor). */
export function initCodeWithStorage(runtime: Uint8Array, storage: readonly (readonly [Uint8Array, bigint])[]): Uint8Array {
  if (runtime.length > 0xffff) throw new ParevmError(`runtime code of ${runtime.length} bytes is too large for this init code`)
  const word = (v: Uint8Array | bigint): Uint8Array => {
    const out = new Uint8Array(32)
    const bytes = typeof v === 'bigint' ? bigintToMinimalBytes(v) : v
    out.set(bytes, 32 - bytes.length)
    return out
  }
  const prologue = 67 * storage.length + 15
  const code = new Uint8Array(prologue + runtime.length)
  let p = 0
  for (const [slot, value] of storage) {
    code[p++] = 0x7f // PUSH32 value
    code.set(word(value), p)
    p += 32
    code[p++] = 0x7f // PUSH32 slot
    code.set(word(slot), p)
    p += 32
    code[p++] = 0x55 // SSTORE
  }
  const size = [runtime.length >> 8, runtime.length & 0xff]
  const offset = [prologue >> 8, prologue & 0xff]
  // CODECOPY(dest 0, offset, size); RETURN(0, size)
  code.set([0x61, ...size, 0x61, ...offset, 0x60, 0x00, 0x39, 0x61, ...size, 0x60, 0x00, 0xf3], p)
  p += 15
  code.set(runtime, p)
  return code
}

/** CREATE address of `from`'s transaction with `nonce`. */
export function createAddress(from: string, nonce: bigint): string {
  return to0x(keccak256(RLP.encode([fromHex(from), bigintToMinimalBytes(nonce)])).subarray(12))
}

function wordHex(value: bigint | string): string {
  return (typeof value === 'bigint' ? value.toString(16) : value.replace(/^0x/, '')).padStart(64, '0')
}

export function approveData(spender: string, amount: bigint): string {
  return `0x${TOKEN_ABI.approve}${wordHex(spender)}${wordHex(amount)}`
}

function deployGas(initCode: Uint8Array, runtime: Uint8Array, sstores: number): bigint {
  return BigInt(60_000 + 16 * initCode.length + 200 * runtime.length + 25_000 * sstores)
}

export interface FundingOptions {
  kv: KeyValueStore
  /** Where set-up transactions are sent (the ingress queue). */
  ingress: Queue
  funderKey: Uint8Array
  /** Wei each sender receives. */
  fundWei: bigint
  shape: WorkloadShape
  chain: { chainId: bigint; hardfork: SupportedHardfork }
  senders: readonly string[]
  timeoutMs: number
  /** A stop request (Ctrl-C) ends the waiting with an error. */
  stopped?: () => boolean
  /** Most transactions in one wave (one queue message). */
  waveTxsMax?: number
  onProgress?: (line: string) => void
}

export interface FundingResult {
  ctx: WorkloadContext
  txs: number
  waves: number
  ms: number
}

const WAVE_BYTES_MAX = 200 * 1024
const POLL_MS = 250
const ERC20_GAS = 90_000n
const APPROVE_GAS = 80_000n
const MAX_FEE_WEI = 100n * 10n ** 9n

export async function fundByTransactions(o: FundingOptions): Promise<FundingResult> {
  const t0 = performance.now()
  const { shape, chain } = o
  const needs = mixNeeds(shape.mix)
  const funder = to0x(privateKeyToAddress(o.funderKey))
  const state = new StateTable(o.kv)
  const [funderValue] = await state.load([funder.slice(2).toLowerCase()])
  const funderAccount = decodeAccount(funderValue!.value)
  if (funderAccount === undefined) {
    throw new ConfigError(`the funder ${funder} has no account on the target chain`, { hint: 'give --funder-key a key funded in the chain\'s genesis or by an earlier transfer' })
  }
  let nonce = funderAccount.nonce
  const common = commonFor(chain)
  const sign = (key: Uint8Array, n: bigint, to: string | undefined, value: bigint, data: string, gasLimit: bigint): SignedTx =>
    signRaw(common, key, n, { to: to as string, value, data, gasLimit, type: 2 }, chain.chainId)

  // 1. The funder: contracts, then ETH and tokens.
  const funderTxs: SignedTx[] = []
  let gasReserved = 0n
  const funderTx = (to: string | undefined, value: bigint, data: string, gasLimit: bigint): void => {
    funderTxs.push(sign(o.funderKey, nonce++, to, value, data, gasLimit))
    gasReserved += gasLimit
  }
  const supply = TOKENS_PER_SENDER * BigInt(shape.accounts) + TOKENS_PER_POOL * BigInt(shape.pools)
  const tokenRuntime = fromHex(artifacts.contracts.Token.deployedBytecode)
  const poolRuntime = fromHex(artifacts.contracts.Pool.deployedBytecode)
  let tokenA = fixedAddress(0xa, 1)
  let tokenB = fixedAddress(0xa, 2)
  let pools = Array.from({ length: shape.pools }, (_, i) => fixedAddress(0xb, i))
  const tokens: string[] = []
  if (needs.tokenA) {
    for (const which of needs.tokenB ? ['A', 'B'] : ['A']) {
      const address = createAddress(funder, nonce)
      const init = initCodeWithStorage(tokenRuntime, [
        [new Uint8Array(0), supply],
        [mappingSlot(funder, 1n), supply],
      ])
      funderTx(undefined, 0n, to0x(init), deployGas(init, tokenRuntime, 2))
      if (which === 'A') tokenA = address
      else tokenB = address
      tokens.push(address)
    }
  }
  if (needs.approvals) {
    pools = []
    for (let i = 0; i < shape.pools; i++) {
      pools.push(createAddress(funder, nonce))
      const init = initCodeWithStorage(poolRuntime, [
        [new Uint8Array(0), BigInt(tokenA)],
        [Uint8Array.of(1), BigInt(tokenB)],
        [Uint8Array.of(2), TOKENS_PER_POOL],
        [Uint8Array.of(3), TOKENS_PER_POOL],
      ])
      funderTx(undefined, 0n, to0x(init), deployGas(init, poolRuntime, 4))
    }
  }
  for (const s of o.senders) funderTx(s, o.fundWei, '0x', 21_000n)
  for (const token of tokens) {
    for (const s of o.senders) funderTx(token, 0n, erc20TransferData(s, TOKENS_PER_SENDER), ERC20_GAS)
    if (needs.approvals) for (const p of pools) funderTx(token, 0n, erc20TransferData(p, TOKENS_PER_POOL), ERC20_GAS)
  }
  const needed = o.fundWei * BigInt(o.senders.length) + gasReserved * MAX_FEE_WEI
  if (funderAccount.balance < needed) {
    throw new ConfigError(`the funder ${funder} holds ${funderAccount.balance} wei; funding ${o.senders.length} senders needs about ${needed} wei`, {
      hint: 'fund the funder, or lower --accounts or --fund-eth',
    })
  }
  const ctx: WorkloadContext = { ...shape, ...chain, tokenA, tokenB, pools, hotRecipient: recipientAddress(shape.seed, -1) }
  const deadline = Date.now() + o.timeoutMs
  const waves = splitWaves(funderTxs, o.waveTxsMax ?? 400)
  let done = 0
  for (const [k, wave] of waves.entries()) {
    await o.ingress.send([{ body: JSON.stringify({ txs: wave.map((t) => t.raw) }) }])
    await awaitSetupTxs(o.kv, wave, deadline, `funding wave ${k + 1}/${waves.length}`, undefined, { stopped: o.stopped })
    done += wave.length
    o.onProgress?.(`set-up: funder ${done}/${funderTxs.length} transactions included (wave ${k + 1}/${waves.length})`)
  }

  // 2. Each sender approves its pools for both tokens (in one message per sender).
  let approvals = 0
  if (needs.approvals) {
    const accounts = await state.load(o.senders.map((s) => s.slice(2).toLowerCase()))
    const messages: SignedTx[][] = o.senders.map((_, s) => {
      let n = decodeAccount(accounts[s]!.value)?.nonce ?? 0n
      const key = senderKey(shape.seed, s)
      return tokens.flatMap((token) => senderPools(pools, s).map((p) => sign(key, n++, token, 0n, approveData(p, MAX_UINT), APPROVE_GAS)))
    })
    const all = messages.flat()
    for (let i = 0; i < messages.length; i += 10) {
      await o.ingress.send(messages.slice(i, i + 10).map((txs) => ({ body: JSON.stringify({ txs: txs.map((t) => t.raw) }) })))
    }
    await awaitSetupTxs(o.kv, all, deadline, 'pool approvals', (n) => o.onProgress?.(`set-up: approvals ${n}/${all.length} included`), { stopped: o.stopped })
    approvals = all.length
  }
  return { ctx, txs: funderTxs.length + approvals, waves: waves.length, ms: performance.now() - t0 }
}

function splitWaves(txs: readonly SignedTx[], txsMax: number): SignedTx[][] {
  return txs.length === 0 ? [] : chunkBySize(txs, (tx) => tx.raw.length + 3, WAVE_BYTES_MAX, txsMax)
}

/** Wait until every set-up transaction has a successful receipt; anything else is an error. */
export async function awaitSetupTxs(
  kv: KeyValueStore,
  txs: readonly SignedTx[],
  deadlineMs: number,
  what: string,
  onProgress?: (included: number) => void,
  options: { allowRevert?: boolean; stopped?: (() => boolean) | undefined } = {},
): Promise<void> {
  const records = new Records(kv)
  let pending = txs.map((t) => t.hash)
  let included = 0
  // Bounded by the deadline; each round sleeps POLL_MS.
  while (pending.length > 0) {
    const still: string[] = []
    for (let i = 0; i < pending.length; i += 100) {
      const chunk = pending.slice(i, i + 100)
      const found = await records.getReceipts(chunk)
      found.forEach((r, k) => {
        if (r === undefined) still.push(chunk[k]!)
        else if (r.kind === 'rejection') {
          throw new ParevmError(`set-up transaction ${chunk[k]} (${what}) was rejected: ${r.code}: ${r.reason}`, {
            hint: r.code === 'wrong-chain-id' ? 'give the target chain\'s --chain-id' : 'check the funder key, its balance and the chain\'s settings',
          })
        } else if (r.status !== 1 && options.allowRevert !== true) {
          throw new ParevmError(`set-up transaction ${chunk[k]} (${what}) reverted in block ${r.block}`, { hint: 'the chain may not run the workload contracts as compiled (hardfork?)' })
        } else included++
      })
    }
    pending = still
    onProgress?.(included)
    if (pending.length === 0) break
    if (options.stopped?.() === true) throw new ParevmError(`interrupted during set-up (${what}); nothing was injected`)
    if (Date.now() > deadlineMs) {
      throw new ParevmError(`set-up timed out: ${pending.length} of ${txs.length} transactions (${what}) not included`, {
        details: `first pending: ${pending.slice(0, 3).join(', ')}`,
        hint: 'is the pipeline consuming the ingress queue? raise --setup-timeout for a slow target',
      })
    }
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/** Next nonce of each sender on the chain (0 for an account not yet there). */
export async function senderNonces(kv: KeyValueStore, senders: readonly string[]): Promise<bigint[]> {
  const state = new StateTable(kv)
  const out: bigint[] = []
  for (let i = 0; i < senders.length; i += 1000) {
    const values = await state.load(senders.slice(i, i + 1000).map((s) => s.slice(2).toLowerCase()))
    for (const v of values) out.push(decodeAccount(v.value)?.nonce ?? 0n)
  }
  return out
}


/**
 * Warm-up: the first `count` transactions of the workload (one per sender, at its current
 * nonce) in one message, waited for before the measured run. They take the pipeline's cold
 * start (first blocks, code paths compiled, contract templates learnt by the predictor) out of
 * the measurement. Returns how many were sent.
 */
export async function warmUp(o: {
  kv: KeyValueStore
  ingress: Queue
  ctx: WorkloadContext
  senders: readonly string[]
  count: number
  timeoutMs: number
  stopped?: () => boolean
}): Promise<number> {
  const count = Math.min(o.count, o.senders.length)
  if (count <= 0) return 0
  const nonces = await senderNonces(o.kv, o.senders.slice(0, count))
  const common = commonFor(o.ctx)
  const txs = Array.from({ length: count }, (_, i) => signRaw(common, senderKey(o.ctx.seed, i), nonces[i]!, intentFor(o.ctx, i), o.ctx.chainId))
  await o.ingress.send([{ body: JSON.stringify({ txs: txs.map((t) => t.raw) }) }])
  await awaitSetupTxs(o.kv, txs, Date.now() + o.timeoutMs, 'warm-up', undefined, { allowRevert: true, stopped: o.stopped })
  return count
}
