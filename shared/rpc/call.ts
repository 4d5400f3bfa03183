/**
 * eth_call and eth_estimateGas: a call runs with the engine's Executor over a BlockView of the
 * latest sealed state (plus optional state overrides) in the environment of the next block;
 * nothing is written. Without a fee the base fee is taken as zero (geth's rule for calls).
 */
import { createTx, type TypedTransaction } from '@ethereumjs/tx'
import { Account, Address } from '@ethereumjs/util'

import { nextBlockEnv } from '../chain/next-block.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { commonFor } from '../exec/common-for.ts'
import { Executor, type SimulatedCall } from '../exec/executor.ts'
import { bigintToHex, fromHex, to0x, toHex } from '../hex.ts'
import { makeVersion, storageKey, wipeKey, type StateKey } from '../state/keys.ts'
import { decodeAccount, encodeAccount, normalizeStorageValue, wipeMarker, type StateValue } from '../state/values.ts'
import { BlockView } from '../state/view.ts'
import { lookupFromHashes } from '../worker/shard-worker.ts'
import { invalidParam, RpcError, RPC_EXECUTION_REVERTED, RPC_SERVER_ERROR } from './errors.ts'
import { parseAddress, parseData, parseHash, parseQuantity } from './params.ts'

import type { RpcBackend } from './backend.ts'
import type { BlockEnv } from '../exec/block-env.ts'
import type { HeadRecord } from '../store/records.ts'

export interface CallRequest {
  from?: string
  to?: string
  gas?: bigint
  gasPrice?: bigint
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
  value?: bigint
  data?: string
  accessList?: { address: string; storageKeys: string[] }[]
}

export interface AccountOverride {
  balance?: bigint
  nonce?: bigint
  code?: string
  state?: Record<string, string>
  stateDiff?: Record<string, string>
}

export function parseCallRequest(v: unknown, index: number, name: string): CallRequest {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidParam(index, name, 'expected a transaction call object')
  const o = v as Record<string, unknown>
  const out: CallRequest = {}
  const q = (field: string): bigint | undefined => (o[field] === undefined || o[field] === null ? undefined : parseQuantity(o[field], index, `${name}.${field}`))
  if (o.from !== undefined && o.from !== null) out.from = parseAddress(o.from, index, `${name}.from`)
  if (o.to !== undefined && o.to !== null) out.to = parseAddress(o.to, index, `${name}.to`)
  const gas = q('gas')
  if (gas !== undefined) out.gas = gas
  const gasPrice = q('gasPrice')
  if (gasPrice !== undefined) out.gasPrice = gasPrice
  const maxFee = q('maxFeePerGas')
  if (maxFee !== undefined) out.maxFeePerGas = maxFee
  const tip = q('maxPriorityFeePerGas')
  if (tip !== undefined) out.maxPriorityFeePerGas = tip
  const value = q('value')
  if (value !== undefined) out.value = value
  const input = o.input ?? o.data
  if (input !== undefined && input !== null) {
    if (o.input !== undefined && o.data !== undefined && o.input !== o.data) throw invalidParam(index, `${name}.input`, 'input and data differ')
    out.data = parseData(input, index, `${name}.input`)
  }
  if (Array.isArray(o.accessList)) {
    out.accessList = o.accessList.map((entry, i) => {
      const e = entry as { address?: unknown; storageKeys?: unknown }
      const keys = Array.isArray(e.storageKeys) ? e.storageKeys : []
      return { address: parseAddress(e.address, index, `${name}.accessList[${i}].address`), storageKeys: keys.map((k) => parseHash(k, index, `${name}.accessList[${i}].storageKeys`)) }
    })
  }
  if (out.gasPrice !== undefined && (out.maxFeePerGas !== undefined || out.maxPriorityFeePerGas !== undefined)) {
    throw invalidParam(index, name, 'both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified')
  }
  return out
}

export function parseOverrides(v: unknown, index: number, name: string): Map<string, AccountOverride> {
  const out = new Map<string, AccountOverride>()
  if (v === undefined || v === null) return out
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidParam(index, name, 'expected an object of address → account override')
  for (const [address, raw] of Object.entries(v as Record<string, unknown>)) {
    const addr = parseAddress(address, index, `${name} key`)
    if (typeof raw !== 'object' || raw === null) throw invalidParam(index, `${name}.${address}`, 'expected an object')
    const o = raw as Record<string, unknown>
    const ov: AccountOverride = {}
    if (o.balance !== undefined) ov.balance = parseQuantity(o.balance, index, `${name}.${address}.balance`)
    if (o.nonce !== undefined) ov.nonce = parseQuantity(o.nonce, index, `${name}.${address}.nonce`)
    if (o.code !== undefined) ov.code = parseData(o.code, index, `${name}.${address}.code`)
    for (const field of ['state', 'stateDiff'] as const) {
      if (o[field] === undefined) continue
      const slots = o[field] as Record<string, unknown>
      const parsed: Record<string, string> = {}
      for (const [slot, value] of Object.entries(slots)) parsed[parseHash(slot, index, `${name}.${address}.${field} key`)] = parseHash(value, index, `${name}.${address}.${field}.${slot}`)
      ov[field] = parsed
    }
    if (ov.state !== undefined && ov.stateDiff !== undefined) throw invalidParam(index, `${name}.${address}`, 'state and stateDiff are exclusive')
    out.set(addr.slice(2), ov)
  }
  return out
}

/** The revert reason of Error(string) or Panic(uint256) revert data, if it is one. */
export function revertReason(data: Uint8Array): string | undefined {
  const selector = toHex(data.subarray(0, 4))
  if (selector === '08c379a0' && data.length >= 68) {
    const length = Number(BigInt(to0x(data.subarray(36, 68))))
    if (68 + length <= data.length) return new TextDecoder().decode(data.subarray(68, 68 + length))
  }
  if (selector === '4e487b71' && data.length >= 36) return `panic: 0x${BigInt(to0x(data.subarray(4, 36))).toString(16)}`
  return undefined
}

/** Runs calls one at a time on one Executor (it is pointed at one view at a time). */
export class CallRunner {
  private executor: Executor | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private envCache: { hash: string; env: BlockEnv } | undefined

  constructor(private readonly backend: RpcBackend) {}

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work)
    this.queue = run.catch(() => undefined)
    return run
  }

  /** The environment of the block after the head (what eth_call and eth_estimateGas run in). */
  nextEnv(head: HeadRecord): BlockEnv {
    if (this.envCache?.hash !== head.hash) {
      const number = BigInt(head.number) + 1n
      const common = commonFor(this.backend.chain, number, BigInt(head.timestamp) + 1n)
      this.envCache = { hash: head.hash, env: nextBlockEnv(head, common, { coinbase: this.backend.coinbase, blockTimeSec: 1 }) }
    }
    return structuredClone(this.envCache.env)
  }

  /** One call; a refusal (intrinsic gas, fee cap) is an RpcError. */
  run(req: CallRequest, overrides: Map<string, AccountOverride>, gasLimit: bigint, head: HeadRecord): Promise<SimulatedCall> {
    return this.exclusive(async () => {
      const env = this.nextEnv(head)
      const number = BigInt(env.number)
      const noFee = req.gasPrice === undefined && req.maxFeePerGas === undefined && req.maxPriorityFeePerGas === undefined
      if (noFee && env.baseFeePerGas !== undefined) env.baseFeePerGas = '0x0'
      this.executor ??= new Executor(this.backend.chain)
      const view = new BlockView(number, this.backend.state)
      if (overrides.size > 0) await applyOverrides(view, overrides, makeVersion(number, 0))
      await this.executor.beginBlock(env, view, lookupFromHashes(head.recentHashes))
      const common = this.executor.txCommonForEnv(env)
      const baseFee = BigInt(env.baseFeePerGas ?? 0)
      const base = {
        gasLimit,
        value: req.value ?? 0n,
        data: (req.data ?? '0x') as `0x${string}`,
        ...(req.to !== undefined ? { to: req.to as `0x${string}` } : {}),
      }
      let txData: Record<string, unknown>
      if (req.maxFeePerGas !== undefined || req.maxPriorityFeePerGas !== undefined) {
        const tip = req.maxPriorityFeePerGas ?? 0n
        const maxFee = req.maxFeePerGas ?? baseFee * 2n + tip
        txData = { ...base, type: 2, maxFeePerGas: maxFee, maxPriorityFeePerGas: tip < maxFee ? tip : maxFee, accessList: req.accessList ?? [] }
      } else if (req.accessList !== undefined && common.isActivatedEIP(2930)) {
        txData = { ...base, type: 1, gasPrice: req.gasPrice ?? 0n, accessList: req.accessList }
      } else {
        txData = { ...base, type: 0, gasPrice: req.gasPrice ?? 0n }
      }
      let tx: TypedTransaction
      try {
        tx = createTx(txData as Parameters<typeof createTx>[0], { common, freeze: false })
      } catch (error) {
        throw new RpcError(RPC_SERVER_ERROR, `invalid call: ${(error as Error).message.split(' (tx type=')[0]}`)
      }
      const sender = new Address(fromHex(req.from ?? `0x${'00'.repeat(20)}`))
      ;(tx as unknown as { getSenderAddress: () => Address }).getSenderAddress = () => sender
      try {
        return await this.executor.simulate(tx)
      } catch (error) {
        throw new RpcError(RPC_SERVER_ERROR, callRefusal((error as Error).message))
      }
    })
  }

  /** eth_call: the return data, or error 3 with the revert data. */
  async call(req: CallRequest, overrides: Map<string, AccountOverride>, head: HeadRecord): Promise<string> {
    const cap = BigInt(head.gasLimit)
    const result = await this.run(req, overrides, req.gas !== undefined && req.gas < cap ? req.gas : cap, head)
    throwIfFailed(result)
    return to0x(result.returnValue)
  }

  /** eth_estimateGas: the lowest gas limit that succeeds (within 1.5%, as geth), by binary search. */
  async estimate(req: CallRequest, overrides: Map<string, AccountOverride>, head: HeadRecord): Promise<bigint> {
    const blockLimit = BigInt(head.gasLimit)
    let hi = req.gas !== undefined && req.gas < blockLimit ? req.gas : blockLimit
    const first = await this.run(req, overrides, hi, head)
    if (first.error !== undefined) {
      if (first.error === 'revert') throwIfFailed(first)
      throw new RpcError(RPC_SERVER_ERROR, `gas required exceeds allowance (${hi}): ${first.error}`)
    }
    const ok = async (gas: bigint): Promise<boolean> => {
      try {
        return (await this.run(req, overrides, gas, head)).error === undefined
      } catch {
        return false
      }
    }
    // Most calls need exactly what they used (no refund, no 63/64 reserve): one try settles them.
    if (first.gasUsed < hi && (await ok(first.gasUsed))) return first.gasUsed
    let lo = first.gasUsed
    const optimistic = ((first.gasUsed + first.gasRefund + 2300n) * 64n) / 63n
    if (optimistic < hi) {
      if (await ok(optimistic)) hi = optimistic
      else lo = optimistic
    }
    while (hi - lo > 1n && ((hi - lo) * 1000n) / hi >= 15n) {
      let mid = (hi + lo) / 2n
      if (mid > lo * 2n) mid = lo * 2n
      if (await ok(mid)) hi = mid
      else lo = mid
    }
    return hi
  }
}

function throwIfFailed(result: SimulatedCall): void {
  if (result.error === undefined) return
  if (result.error === 'revert') {
    const reason = revertReason(result.returnValue)
    throw new RpcError(RPC_EXECUTION_REVERTED, reason === undefined ? 'execution reverted' : `execution reverted: ${reason}`, to0x(result.returnValue))
  }
  throw new RpcError(RPC_SERVER_ERROR, result.error)
}

/** A runTx refusal in the words clients know. */
function callRefusal(message: string): string {
  if (/intrinsic|base fee exceeds gas limit/i.test(message)) return `intrinsic gas too low: ${message}`
  if (/baseFeePerGas/.test(message)) return `max fee per gas less than block base fee: ${message}`
  if (/enough funds/.test(message)) return `insufficient funds for gas * price + value: ${message}`
  return message
}

async function applyOverrides(view: BlockView, overrides: Map<string, AccountOverride>, version: number): Promise<void> {
  const writes = new Map<StateKey, StateValue>()
  for (const [address, ov] of overrides) {
    const account = decodeAccount((await view.get(address)).value) ?? new Account()
    if (ov.balance !== undefined) account.balance = ov.balance
    if (ov.nonce !== undefined) account.nonce = ov.nonce
    if (ov.code !== undefined) {
      const code = fromHex(ov.code)
      const hash = keccak256(code)
      view.addCodes(new Map([[toHex(hash), code]]))
      account.codeHash = hash
    }
    writes.set(address, encodeAccount(account))
    if (ov.state !== undefined) writes.set(wipeKey(address), wipeMarker(version))
    for (const [slot, value] of Object.entries(ov.state ?? ov.stateDiff ?? {})) {
      writes.set(storageKey(address, slot.slice(2)), normalizeStorageValue(fromHex(value)))
    }
  }
  view.applyWrites(writes, version)
}

export { bigintToHex }
