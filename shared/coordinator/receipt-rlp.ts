/**
 * A receipt's consensus encoding, byte for byte `encodeReceipt` of `@ethereumjs/vm` for the
 * receipts this engine makes (post-Byzantium: a status, never a state root), written into one
 * buffer: the library's goes through hex strings and its generic encoder, about 11 µs for a
 * receipt with one log here, most of the coordinator's settlement of an ERC20 transfer.
 */
import { bytesItemSize, lengthPrefixSize, writeBytesItem, writeLengthPrefix } from '../trie/rlp.ts'

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
    for (const t of topics) topicsPayload += bytesItemSize(t)
    topicsPayloads[i] = topicsPayload
    logPayloads[i] = bytesItemSize(address) + lengthPrefixSize(topicsPayload) + topicsPayload + bytesItemSize(data)
    logsPayload += lengthPrefixSize(logPayloads[i]!) + logPayloads[i]!
  }
  const payload = 1 + bytesItemSize(gas) + bytesItemSize(bloom) + lengthPrefixSize(logsPayload) + logsPayload
  const prefix = txType === 0 ? 0 : 1
  const out = new Uint8Array(prefix + lengthPrefixSize(payload) + payload)
  let at = 0
  if (prefix === 1) out[at++] = txType
  at = writeLengthPrefix(out, at, payload, 0xc0)
  out[at++] = status === 0 ? 0x80 : 0x01
  at = writeBytesItem(out, at, gas)
  at = writeBytesItem(out, at, bloom)
  at = writeLengthPrefix(out, at, logsPayload, 0xc0)
  for (let i = 0; i < logs.length; i++) {
    const [address, topics, data] = logs[i]!
    at = writeLengthPrefix(out, at, logPayloads[i]!, 0xc0)
    at = writeBytesItem(out, at, address)
    at = writeLengthPrefix(out, at, topicsPayloads[i]!, 0xc0)
    for (const t of topics) at = writeBytesItem(out, at, t)
    at = writeBytesItem(out, at, data)
  }
  return out
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
