/**
 * A receipt's consensus encoding, byte for byte `encodeReceipt` of `@ethereumjs/vm` for the
 * receipts this engine makes (post-Byzantium: a status, never a state root), written into one
 * buffer: the library's goes through hex strings and its generic encoder, about 11 µs for a
 * receipt with one log here, most of the coordinator's settlement of an ERC20 transfer.
 */
import { lengthPrefixSize } from '../trie/rlp.ts'

import type { Log } from '@ethereumjs/evm'

/** RLP of [status, cumulative gas, bloom, logs], prefixed by the type byte for a typed transaction (EIP-2718). */
export function receiptRlp(status: number, cumulativeGasUsed: bigint, bloom: Uint8Array, logs: readonly Log[], txType: number): Uint8Array {
  const gas = uintBytes(cumulativeGasUsed)
  // Sizes first: each log's payload, the logs list's, the receipt's.
  const logPayloads = new Array<number>(logs.length)
  const topicsPayloads = new Array<number>(logs.length)
  let logsPayload = 0
  for (let i = 0; i < logs.length; i++) {
    const [address, topics, data] = logs[i]!
    let topicsPayload = 0
    for (const t of topics) topicsPayload += stringSize(t)
    topicsPayloads[i] = topicsPayload
    logPayloads[i] = stringSize(address) + lengthPrefixSize(topicsPayload) + topicsPayload + stringSize(data)
    logsPayload += lengthPrefixSize(logPayloads[i]!) + logPayloads[i]!
  }
  const payload = 1 + stringSize(gas) + stringSize(bloom) + lengthPrefixSize(logsPayload) + logsPayload
  const prefix = txType === 0 ? 0 : 1
  const out = new Uint8Array(prefix + lengthPrefixSize(payload) + payload)
  let at = 0
  if (prefix === 1) out[at++] = txType
  at = writeHeader(out, at, payload, 0xc0)
  out[at++] = status === 0 ? 0x80 : 0x01
  at = writeString(out, at, gas)
  at = writeString(out, at, bloom)
  at = writeHeader(out, at, logsPayload, 0xc0)
  for (let i = 0; i < logs.length; i++) {
    const [address, topics, data] = logs[i]!
    at = writeHeader(out, at, logPayloads[i]!, 0xc0)
    at = writeString(out, at, address)
    at = writeHeader(out, at, topicsPayloads[i]!, 0xc0)
    for (const t of topics) at = writeString(out, at, t)
    at = writeString(out, at, data)
  }
  return out
}

/** An RLP string's encoded size: a single byte below 0x80 is itself. */
function stringSize(b: Uint8Array): number {
  return b.length === 1 && b[0]! < 0x80 ? 1 : lengthPrefixSize(b.length) + b.length
}

function writeHeader(out: Uint8Array, at: number, length: number, offset: number): number {
  if (length < 56) {
    out[at] = offset + length
    return at + 1
  }
  const lenBytes = lengthPrefixSize(length) - 1
  out[at] = offset + 55 + lenBytes
  for (let k = lenBytes, l = length; k > 0; k--, l = Math.floor(l / 256)) out[at + k] = l % 256
  return at + 1 + lenBytes
}

function writeString(out: Uint8Array, at: number, b: Uint8Array): number {
  if (b.length === 1 && b[0]! < 0x80) {
    out[at] = b[0]!
    return at + 1
  }
  at = writeHeader(out, at, b.length, 0x80)
  out.set(b, at)
  return at + b.length
}

/** Minimal big-endian bytes of a non-negative integer; zero is one zero byte (as `bigIntToBytes` gives). */
function uintBytes(v: bigint): Uint8Array {
  if (v === 0n) return Uint8Array.of(0)
  const bytes: number[] = []
  if (v <= SAFE) {
    for (let n = Number(v); n > 0; n = Math.floor(n / 256)) bytes.push(n % 256)
  } else {
    for (; v > 0n; v >>= 8n) bytes.push(Number(v & 0xffn))
  }
  return Uint8Array.from(bytes.reverse())
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER)
