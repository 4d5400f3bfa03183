/**
 * A batch of intake work as it crosses threads: the inputs as one string with offsets, the
 * results as a few buffers (raw bytes of every accepted transaction end to end, and 116 fixed
 * bytes each: sender, public key, hash) plus the rejection records. The buffers are transferred,
 * never copied per transaction; the main thread reads each transaction as views into them.
 *
 * `runIntakeJob` is the whole judgement (the same `judgeIngressBody` / `decodeRawTx` the
 * sequencer runs inline); an intake thread runs it, and so does the pool itself when a thread
 * fails, so a batch always gets the same answer.
 */
import { commonFor, sharedTxCommon } from '../exec/common-for.ts'
import { to0x, toHex } from '../hex.ts'
import { decodeRawTx, type DecodedTx, type IntakeContext, type IntakeResult } from './decode.ts'
import { judgeIngressBody, type MessageJudgement } from './ingress.ts'
import { IntakeTxView } from './tx-view.ts'

import type { ChainSpec } from '../exec/block-env.ts'
import type { Rejection } from './rejection.ts'

/** The block intake judges for: its chain rules (by number and time) and gas limit. */
export interface IntakeSpec {
  chain: ChainSpec
  number: bigint
  timestamp: bigint
  blockGasLimit: bigint
  maxTxBytes?: number
}

export type IntakeMode = 'bodies' | 'inputs'

export interface IntakeRequest {
  mode: IntakeMode
  /** The inputs end to end; input i is text.slice(offsets[i], offsets[i + 1]). */
  text: string
  offsets: Uint32Array
  chain: ChainSpec
  number: string
  timestamp: string
  blockGasLimit: string
  maxTxBytes?: number
  /** The rejections' timestamp (the requester's clock). */
  nowMs: number
}

export interface PackedResults {
  /** Mode `bodies`: per body, its number of transactions, or -1 for a malformed envelope. */
  counts?: Int32Array
  envelopeRejections: Rejection[]
  /** Per transaction: 1 accepted, 0 rejected. */
  status: Uint8Array
  rejections: Rejection[]
  /** Per accepted transaction: sender (20), public key (64), hash (32), intrinsic gas (8, big-endian). */
  fixed: Uint8Array
  raw: Uint8Array
  /** Accepted transaction k's raw bytes are raw[rawOffsets[k], rawOffsets[k + 1]). */
  rawOffsets: Uint32Array
}

export const FIXED_BYTES = 20 + 64 + 32 + 8

export function makeRequest(mode: IntakeMode, inputs: readonly string[], spec: IntakeSpec, nowMs: number): IntakeRequest {
  const offsets = new Uint32Array(inputs.length + 1)
  let at = 0
  inputs.forEach((input, i) => {
    offsets[i] = at
    at += input.length
  })
  offsets[inputs.length] = at
  return {
    mode,
    text: inputs.join(''),
    offsets,
    chain: spec.chain,
    number: spec.number.toString(),
    timestamp: spec.timestamp.toString(),
    blockGasLimit: spec.blockGasLimit.toString(),
    ...(spec.maxTxBytes !== undefined ? { maxTxBytes: spec.maxTxBytes } : {}),
    nowMs,
  }
}

export function requestInputs(request: IntakeRequest): string[] {
  const out: string[] = new Array(request.offsets.length - 1)
  for (let i = 0; i < out.length; i++) out[i] = request.text.slice(request.offsets[i], request.offsets[i + 1])
  return out
}

export function intakeContext(spec: { chain: ChainSpec; number: bigint; timestamp: bigint; blockGasLimit: bigint; maxTxBytes?: number | undefined }, clock: () => number): IntakeContext {
  return {
    common: sharedTxCommon(commonFor(spec.chain, spec.number, spec.timestamp)),
    blockGasLimit: spec.blockGasLimit,
    clock,
    ...(spec.maxTxBytes !== undefined ? { maxTxBytes: spec.maxTxBytes } : {}),
  }
}

/** Judge a batch (in an intake thread, or inline) and pack the answer. */
export function runIntakeJob(request: IntakeRequest): PackedResults {
  const ctx = intakeContext(
    { chain: request.chain, number: BigInt(request.number), timestamp: BigInt(request.timestamp), blockGasLimit: BigInt(request.blockGasLimit), maxTxBytes: request.maxTxBytes },
    () => request.nowMs,
  )
  const inputs = requestInputs(request)
  const results: IntakeResult[] = []
  let counts: Int32Array | undefined
  const envelopeRejections: Rejection[] = []
  if (request.mode === 'bodies') {
    counts = new Int32Array(inputs.length)
    inputs.forEach((body, i) => {
      const judged = judgeIngressBody(body, ctx)
      if (judged.kind === 'malformed') {
        counts![i] = -1
        envelopeRejections.push(judged.rejection)
      } else {
        counts![i] = judged.results.length
        results.push(...judged.results)
      }
    })
  } else {
    for (const input of inputs) results.push(decodeRawTx(input, ctx))
  }
  return packResults(results, counts, envelopeRejections)
}

function packResults(results: readonly IntakeResult[], counts: Int32Array | undefined, envelopeRejections: Rejection[]): PackedResults {
  const status = new Uint8Array(results.length)
  const rejections: Rejection[] = []
  let accepted = 0
  let rawBytes = 0
  for (const r of results) {
    if (r.ok) {
      accepted++
      rawBytes += r.tx.raw.length
    }
  }
  const fixed = new Uint8Array(accepted * FIXED_BYTES)
  const raw = new Uint8Array(rawBytes)
  const rawOffsets = new Uint32Array(accepted + 1)
  let k = 0
  let at = 0
  results.forEach((r, i) => {
    if (!r.ok) {
      rejections.push(r.rejection)
      return
    }
    status[i] = 1
    const base = k * FIXED_BYTES
    fixed.set(r.tx.sender, base)
    fixed.set(r.tx.senderPubKey, base + 20)
    fixed.set(r.tx.hash, base + 84)
    new DataView(fixed.buffer).setBigUint64(base + 116, r.tx.intrinsicGas ?? 0n)
    raw.set(r.tx.raw, at)
    rawOffsets[k] = at
    at += r.tx.raw.length
    k++
  })
  rawOffsets[accepted] = at
  return { ...(counts !== undefined ? { counts } : {}), envelopeRejections, status, rejections, fixed, raw, rawOffsets }
}

/** The buffers to transfer with a packed answer. */
export function transferList(packed: PackedResults): ArrayBuffer[] {
  const list = [packed.status.buffer, packed.fixed.buffer, packed.raw.buffer, packed.rawOffsets.buffer] as ArrayBuffer[]
  if (packed.counts !== undefined) list.push(packed.counts.buffer as ArrayBuffer)
  return list
}

/** A decoded transaction whose sender was recovered elsewhere: views into the given bytes. */
export function decodedFromParts(raw: Uint8Array, sender: Uint8Array, senderPubKey: Uint8Array, hash: Uint8Array, intrinsicGas: bigint): DecodedTx<IntakeTxView> {
  return { raw, tx: new IntakeTxView(raw), hash, hashHex: to0x(hash), sender, senderHex: toHex(sender), senderPubKey, intrinsicGas }
}

/** Per transaction, in input order: accepted (views into the packed buffers) or rejected. */
export function unpackResults(packed: PackedResults): IntakeResult<IntakeTxView>[] {
  const out: IntakeResult<IntakeTxView>[] = new Array(packed.status.length)
  let k = 0
  let j = 0
  for (let i = 0; i < packed.status.length; i++) {
    if (packed.status[i] === 0) {
      out[i] = { ok: false, rejection: packed.rejections[j++]! }
      continue
    }
    const base = k * FIXED_BYTES
    const raw = packed.raw.subarray(packed.rawOffsets[k]!, packed.rawOffsets[k + 1]!)
    const fixed = packed.fixed
    const intrinsicGas = new DataView(fixed.buffer, fixed.byteOffset, fixed.byteLength).getBigUint64(base + 116)
    out[i] = { ok: true, tx: decodedFromParts(raw, fixed.subarray(base, base + 20), fixed.subarray(base + 20, base + 84), fixed.subarray(base + 84, base + 116), intrinsicGas) }
    k++
  }
  return out
}

/** Per body (mode `bodies`): its envelope's rejection, or its transactions' results. */
export function unpackJudgements(packed: PackedResults): MessageJudgement<IntakeTxView>[] {
  const results = unpackResults(packed)
  const out: MessageJudgement<IntakeTxView>[] = []
  let at = 0
  let e = 0
  for (const count of packed.counts ?? []) {
    if (count < 0) {
      out.push({ kind: 'malformed', rejection: packed.envelopeRejections[e++]! })
      continue
    }
    out.push({ kind: 'txs', results: results.slice(at, at + count) })
    at += count
  }
  return out
}
