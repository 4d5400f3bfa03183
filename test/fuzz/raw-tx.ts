/**
 * Raw transaction inputs for intake (`decodeRawTx`): random bytes, every type byte, mutated valid
 * transactions (bit flips, inserted and deleted bytes, truncation at every length, corrupted and
 * huge RLP length prefixes, fields replaced), deeply nested RLP lists, valid transactions of
 * types 0/1/2, non-hex strings, odd lengths, oversize input. Each input must give `{ ok: true }`
 * or one rejection with a known code and a reason, within HANG_MS, and the sequential check's
 * own stateless judge (shared/verify/stateless.ts) must agree.
 */
import { RLP } from '@ethereumjs/rlp'
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx'

import { createChainCommon } from '../../shared/chain/common.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { privateKeyToAddress } from '../../shared/crypto/secp256k1.ts'
import { decodeRawTx, MAX_TX_BYTES, type IntakeContext } from '../../shared/intake/decode.ts'
import { REJECTION_CODES, type RejectionCode } from '../../shared/intake/rejection.ts'
import { judgeStatelessRejection, statelessReasons } from '../../shared/verify/stateless.ts'
import { hex, Rng, unhex } from './rng.ts'
import { count, failure, HANG_MS, newStats, type TargetOptions, type TargetRun } from './types.ts'

import type { Common } from '@ethereumjs/common'

export const CHAIN_ID = 7777n
export const BLOCK_GAS_LIMIT = 30_000_000n

let commonCache: Common | undefined
export function fuzzCommon(): Common {
  commonCache ??= createChainCommon(CHAIN_ID, 'cancun')
  return commonCache
}

export function fuzzKey(i: number): Uint8Array {
  const k = new Uint8Array(32)
  k[29] = 0x5a
  k[30] = (i >> 8) & 0xff
  k[31] = (i & 0xff) + 1
  return k
}

export interface ValidTx {
  raw: string
  /** Lowercase hex without 0x. */
  senderHex: string
  type: number
}

/** A valid signed transaction of type 0, 1 or 2 with random fields (not necessarily fundable). */
export function randomValidTx(rng: Rng, keyIndex: number): ValidTx {
  const common = fuzzCommon()
  const type = rng.int(3)
  const create = rng.chance(0.15)
  const data = hex(rng.bytes(rng.length(create ? 600 : 300)))
  const base = {
    nonce: BigInt(rng.chance(0.5) ? rng.int(5) : rng.u32()),
    gasLimit: 100_000n + BigInt(rng.int(1_000_000)),
    ...(create ? {} : { to: hex(rng.bytes(20)) as `0x${string}` }),
    value: rng.chance(0.5) ? 0n : BigInt(rng.u32()) * BigInt(rng.u32()),
    data: data as `0x${string}`,
  }
  const accessList = Array.from({ length: rng.length(3) }, () => ({
    address: hex(rng.bytes(20)) as `0x${string}`,
    storageKeys: Array.from({ length: rng.length(3) }, () => hex(rng.bytes(32)) as `0x${string}`),
  }))
  const fee = BigInt(1 + rng.int(1000)) * 10n ** 9n
  const key = fuzzKey(keyIndex)
  const tx =
    type === 0
      ? createLegacyTx({ ...base, gasPrice: fee }, { common })
      : type === 1
        ? createAccessList2930Tx({ ...base, chainId: CHAIN_ID, gasPrice: fee, accessList }, { common })
        : createFeeMarket1559Tx({ ...base, chainId: CHAIN_ID, maxFeePerGas: fee, maxPriorityFeePerGas: fee / BigInt(1 + rng.int(4)), accessList }, { common })
  return { raw: hex(tx.sign(key).serialize()), senderHex: Buffer.from(privateKeyToAddress(key)).toString('hex'), type }
}

export interface RawInput {
  kind: string
  input: string
  /** Valid transactions: the sender that must be recovered. */
  senderHex?: string
  /** Inputs whose code is known by construction. */
  expectCode?: RejectionCode
}

const NON_HEX_SAMPLES = ['', '0x', '0X', '0x0', '0', 'x', '0xg0', '0x 00', ' 0x00', '0x00 ', '0x00\n', '0x\u0000', '0xé0', '0x😀', '0x0x00', '00x0', '-0x00', '0x-0', '0x+0', 'null', '[]', '{}', '0x' + 'f'.repeat(7)]

const ALPHABETS = ['0123456789abcdefABCDEF', '0123456789abcdefghxyzXYZ -_+', '\u0000\u0001\t\n\r ', 'éüñ中文😀\u200b\ufeff\ud800', '{}[]":,\\/']

function randomText(rng: Rng, n: number): string {
  const alphabet = [...rng.pick(ALPHABETS)]
  let s = ''
  for (let i = 0; i < n; i++) s += rng.pick(alphabet)
  return s
}

function randomCase(rng: Rng, s: string): string {
  if (!rng.chance(0.2)) return s
  return [...s].map((c) => (rng.chance(0.5) ? c.toUpperCase() : c)).join('')
}

function withPrefix(rng: Rng, bytes: Uint8Array): string {
  const body = randomCase(rng, Buffer.from(bytes).toString('hex'))
  const r = rng.int(10)
  return r === 0 ? body : r === 1 ? `0X${body}` : `0x${body}`
}

/** The RLP header for a string (0x80 base) or list (0xc0 base) of `length` bytes. */
function rlpHeader(length: number, list: boolean): Uint8Array {
  const base = list ? 0xc0 : 0x80
  if (length < 56) return Uint8Array.of(base + length)
  const bytes: number[] = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  return Uint8Array.of(base + 55 + bytes.length, ...bytes)
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts))
}

/** A list nested `depth` deep around `inner`. */
function nestedList(depth: number, inner: Uint8Array): Uint8Array {
  const headers: Uint8Array[] = []
  let length = inner.length
  for (let i = 0; i < depth; i++) {
    const h = rlpHeader(length, true)
    headers.push(h)
    length += h.length
  }
  return concat(...headers.reverse(), inner)
}

function randomRlpItem(rng: Rng, depth = 0): Uint8Array {
  if (depth > 3 || rng.chance(0.6)) {
    const r = rng.int(5)
    if (r === 0) return Uint8Array.of(rng.int(0x80))
    if (r === 1) return Uint8Array.of(0x80)
    const b = rng.bytes(r === 2 ? rng.int(60) : rng.length(300))
    return concat(rlpHeader(b.length, false), b)
  }
  const items = Array.from({ length: rng.length(12) }, () => randomRlpItem(rng, depth + 1))
  const body = concat(...items)
  return concat(rlpHeader(body.length, true), body)
}

/** Replace, drop, duplicate or append one field of a valid transaction's RLP list. */
function mutateField(rng: Rng, raw: Uint8Array): Uint8Array {
  const typed = raw[0]! < 0xc0
  const payload = typed ? raw.subarray(1) : raw
  let fields: unknown
  try {
    fields = RLP.decode(payload)
  } catch {
    return raw
  }
  if (!Array.isArray(fields)) return raw
  const list = [...(fields as unknown[])]
  const i = rng.int(list.length)
  const r = rng.int(7)
  const big = (): Uint8Array => {
    const b = rng.bytes(rng.range(1, 40))
    if (rng.chance(0.5)) b[0] = 0 // leading zero: not canonical
    return b
  }
  if (r === 0) list[i] = new Uint8Array(0)
  else if (r === 1) list[i] = big()
  else if (r === 2) list[i] = [big(), [new Uint8Array(0)]]
  else if (r === 3) list.splice(i, 1)
  else if (r === 4) list.push(big())
  else if (r === 5) list[i] = Uint8Array.of(rng.int(256))
  else list[i] = rng.bytes(rng.pick([20, 32, 33, 65]))
  const encoded = RLP.encode(list as never)
  return typed ? concat(raw.subarray(0, 1), encoded) : encoded
}

function mutateBytes(rng: Rng, raw: Uint8Array): { kind: string; bytes: Uint8Array } {
  const b = Uint8Array.from(raw)
  const r = rng.int(9)
  if (r === 0) {
    for (let n = rng.range(1, 3); n > 0; n--) {
      const i = rng.int(b.length)
      b[i] = b[i]! ^ (1 << rng.int(8))
    }
    return { kind: 'mut-bitflip', bytes: b }
  }
  if (r === 1) {
    const i = rng.int(b.length + 1)
    return { kind: 'mut-insert', bytes: concat(b.subarray(0, i), rng.bytes(rng.range(1, 4)), b.subarray(i)) }
  }
  if (r === 2) {
    const i = rng.int(b.length)
    return { kind: 'mut-delete', bytes: concat(b.subarray(0, i), b.subarray(i + rng.range(1, 4))) }
  }
  if (r === 3) {
    b[rng.int(b.length)] = rng.int(256)
    return { kind: 'mut-overwrite', bytes: b }
  }
  if (r === 4) return { kind: 'mut-truncate', bytes: b.subarray(0, rng.int(b.length)) }
  if (r === 5) {
    // Corrupt the outer list's length prefix.
    const at = b[0]! < 0xc0 ? 1 : 0
    b[at] = rng.range(0xc0, 0xff)
    if (rng.chance(0.5) && at + 1 < b.length) b[at + 1] = rng.int(256)
    return { kind: 'mut-prefix', bytes: b }
  }
  if (r === 6) {
    // A huge length prefix (up to 2^64 - 1) in front of the rest.
    const at = b[0]! < 0xc0 ? 1 : 0
    const lenBytes = rng.range(1, 8)
    const len = Uint8Array.from({ length: lenBytes }, () => (rng.chance(0.7) ? 0xff : rng.int(256)))
    const head = Uint8Array.of(...b.subarray(0, at), (rng.chance(0.5) ? 0xf7 : 0xb7) + lenBytes, ...len)
    return { kind: 'mut-huge-prefix', bytes: concat(head, b.subarray(at + 1 + (b[at]! > 0xf7 ? b[at]! - 0xf7 : 0))) }
  }
  if (r === 7) return { kind: 'mut-field', bytes: mutateField(rng, b) }
  return { kind: 'mut-append', bytes: concat(b, rng.bytes(rng.range(1, 64))) }
}

/** Generates the decode target's inputs; `pool`: valid transactions to mutate and replay. */
export class RawTxGenerator {
  private readonly sweeps: { raw: Uint8Array; at: number }[]
  private typeByte = 0

  constructor(
    private readonly rng: Rng,
    readonly pool: readonly ValidTx[],
  ) {
    this.sweeps = pool.slice(0, 3).map((v) => ({ raw: unhex(v.raw), at: 0 }))
  }

  next(): RawInput {
    const rng = this.rng
    const r = rng.int(1000)
    if (r < 90) {
      const v = rng.pick(this.pool)
      return { kind: `valid-type${v.type}`, input: rng.chance(0.1) ? randomCase(rng, v.raw) : v.raw, senderHex: v.senderHex }
    }
    if (r < 480) {
      const m = mutateBytes(rng, unhex(rng.pick(this.pool).raw))
      return { kind: m.kind, input: withPrefix(rng, m.bytes) }
    }
    if (r < 560) {
      // Truncation at every length of a few valid transactions, in turn.
      const sweep = this.sweeps[rng.int(this.sweeps.length)]!
      const bytes = sweep.raw.subarray(0, sweep.at)
      sweep.at = (sweep.at + 1) % sweep.raw.length
      return bytes.length === 0 ? { kind: 'truncate-sweep', input: '0x', expectCode: 'malformed-hex' } : { kind: 'truncate-sweep', input: hex(bytes) }
    }
    if (r < 640) {
      // Every type byte in turn, with a random tail (sometimes a valid transaction's body).
      const t = this.typeByte
      this.typeByte = (this.typeByte + 1) % 256
      const tail = rng.chance(0.5) ? unhex(rng.pick(this.pool).raw).subarray(1) : rng.bytes(rng.length(200))
      const bytes = concat(Uint8Array.of(t), tail)
      return { kind: 'type-byte', input: withPrefix(rng, bytes), ...(t < 0xc0 && t !== 1 && t !== 2 ? { expectCode: 'unsupported-type' as const } : {}) }
    }
    if (r < 760) {
      const bytes = rng.bytes(rng.range(1, 1 + rng.length(600)))
      return { kind: 'random-bytes', input: withPrefix(rng, bytes) }
    }
    if (r < 840) {
      const item = randomRlpItem(rng)
      const t = rng.pick([1, 2, -1])
      return { kind: 'random-rlp', input: withPrefix(rng, t < 0 ? item : concat(Uint8Array.of(t), item)) }
    }
    if (r < 860) {
      const depth = rng.chance(0.3) ? rng.range(1000, 20_000) : rng.range(1, 200)
      const t = rng.pick([1, 2, -1])
      const inner = rng.chance(0.5) ? Uint8Array.of(0x80) : new Uint8Array(0)
      const list = nestedList(depth, inner)
      return { kind: 'nested-rlp', input: withPrefix(rng, t < 0 ? list : concat(Uint8Array.of(t), list)) }
    }
    if (r < 940) {
      const n = rng.int(3)
      if (n === 0) return { kind: 'non-hex', input: rng.pick(NON_HEX_SAMPLES), expectCode: 'malformed-hex' }
      const text = randomText(rng, rng.length(300))
      const input = rng.chance(0.5) ? `0x${text}` : text
      const s = input.startsWith('0x') || input.startsWith('0X') ? input.slice(2) : input
      const isHex = s.length > 0 && s.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(s)
      return { kind: 'non-hex', input, ...(isHex ? {} : { expectCode: 'malformed-hex' as const }) }
    }
    if (r < 990) {
      // Odd length: a valid transaction with a nibble added or removed.
      const v = rng.pick(this.pool).raw
      return { kind: 'odd-length', input: rng.chance(0.5) ? v.slice(0, -1) : `${v}${rng.pick([...'0123456789abcdef'])}`, expectCode: 'malformed-hex' }
    }
    if (r < 996) {
      // Just over or far over the size limit.
      const size = MAX_TX_BYTES + 1 + (rng.chance(0.5) ? rng.int(16) : rng.int(4 * MAX_TX_BYTES))
      const bytes = new Uint8Array(size)
      bytes[0] = rng.pick([0x02, 0xf9, 0x01, 0x7f])
      return { kind: 'oversize', input: hex(bytes), expectCode: 'oversize' }
    }
    // At the limit: decodes as far as its content allows.
    const bytes = rng.bytes(MAX_TX_BYTES - rng.int(3))
    bytes[0] = 0x02
    return { kind: 'at-limit', input: hex(bytes) }
  }
}

/** Valid transactions to start from (signed once per run). */
export function validPool(rng: Rng, size = 48): ValidTx[] {
  return Array.from({ length: size }, (_, i) => randomValidTx(rng, i % 16))
}

const CODES = new Set<string>(REJECTION_CODES)

/** Check one input; undefined when it behaved, else what went wrong. */
export function checkRawInput(input: RawInput, ctx: IntakeContext, stats?: ReturnType<typeof newStats>): string | undefined {
  let t0 = performance.now()
  const result = decodeRawTx(input.input, ctx)
  let ms = performance.now() - t0
  // A slow call is timed again: a hang is slow every time, a GC pause or a busy machine is not.
  for (let again = 0; again < 2 && ms > HANG_MS; again++) {
    t0 = performance.now()
    decodeRawTx(input.input, ctx)
    ms = Math.min(ms, performance.now() - t0)
  }
  if (stats !== undefined) {
    stats.slowestMs = Math.max(stats.slowestMs, ms)
    if (result.ok) stats.accepted++
    else count(stats.rejectedByCode, result.rejection.code)
  }
  if (ms > HANG_MS) return `hang: decodeRawTx took ${ms.toFixed(0)} ms`
  if (result === null || typeof result !== 'object') return 'decodeRawTx returned no result'
  if (result.ok) {
    if (input.expectCode !== undefined) return `accepted, expected ${input.expectCode}`
    if (!/^[0-9a-f]{40}$/.test(result.tx.senderHex)) return `accepted with sender ${result.tx.senderHex}`
    if (input.senderHex !== undefined && result.tx.senderHex !== input.senderHex) return `sender ${result.tx.senderHex}, expected ${input.senderHex}`
    if (result.tx.hashHex !== hex(keccak256(result.tx.raw))) return 'hash is not keccak256 of the raw bytes'
    const { reasons, detail } = statelessReasons(input.input, ctx.common, { blockGasLimit: ctx.blockGasLimit })
    if (reasons.length > 0) return `accepted, but the reference finds ${reasons.join(', ')} (${detail})`
    return undefined
  }
  const r = result.rejection
  if (input.senderHex !== undefined) return `valid transaction rejected: ${r.code}: ${r.reason}`
  if (!CODES.has(r.code)) return `unknown rejection code ${String(r.code)}`
  if (typeof r.reason !== 'string' || r.reason.trim() === '') return 'rejection without a reason'
  if (!/^0x[0-9a-f]{64}$/.test(r.id)) return `rejection id ${r.id} is not a 32-byte hash`
  if (input.expectCode !== undefined && r.code !== input.expectCode) return `code ${r.code}, expected ${input.expectCode}: ${r.reason}`
  const judged = judgeStatelessRejection(input.input, r.code, ctx.common, { blockGasLimit: ctx.blockGasLimit })
  if (!judged.ok) return `rejected as ${r.code} (${r.reason}), but the reference finds ${judged.reference}`
  return undefined
}

export function fuzzDecode(options: TargetOptions): TargetRun {
  const stats = newStats('decodeRawTx')
  const failures = []
  const rng = Rng.derive(options.seed, 1)
  const gen = new RawTxGenerator(rng, validPool(rng))
  const ctx: IntakeContext = { common: fuzzCommon(), blockGasLimit: BLOCK_GAS_LIMIT }
  const t0 = performance.now()
  for (let i = 0; i < options.count; i++) {
    const input = gen.next()
    count(stats.byKind, input.kind)
    let problem: string | undefined
    try {
      problem = checkRawInput(input, ctx, stats)
    } catch (error) {
      failures.push(failure(stats.target, options.seed, i, input.kind, input.input, error))
      continue
    }
    if (problem !== undefined) failures.push(failure(stats.target, options.seed, i, input.kind, input.input, problem))
    if ((i & 1023) === 1023) options.onProgress?.(i + 1)
  }
  stats.inputs = options.count
  stats.ms = performance.now() - t0
  return { stats, failures }
}
