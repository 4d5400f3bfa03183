/**
 * Minimal RLP encoding on pre-encoded items, for trie nodes: a branch's children are either
 * embedded node encodings (under 32 bytes) or hash strings, so the list is assembled from
 * already-encoded parts instead of re-encoding nested structures.
 */

/** RLP string encoding of raw bytes. */
export function encodeBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 1 && bytes[0]! < 0x80) return bytes
  const out = new Uint8Array(bytesItemSize(bytes))
  writeBytesItem(out, 0, bytes)
  return out
}

/** RLP list of items that are already RLP-encoded. */
export function encodeList(items: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const item of items) length += item.length
  const out = new Uint8Array(lengthPrefixSize(length) + length)
  let offset = writeLengthPrefix(out, 0, length, 0xc0)
  for (const item of items) {
    out.set(item, offset)
    offset += item.length
  }
  return out
}

export const EMPTY_STRING = Uint8Array.of(0x80)

/** RLP list of byte strings (`encodeList(items.map(encodeBytes))`), written into one buffer. */
export function encodeBytesList(items: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const item of items) length += bytesItemSize(item)
  const out = new Uint8Array(lengthPrefixSize(length) + length)
  let offset = writeLengthPrefix(out, 0, length, 0xc0)
  for (const item of items) offset = writeBytesItem(out, offset, item)
  return out
}

/** The size of an RLP length prefix (string or list) for a payload of `length` bytes. */
export function lengthPrefixSize(length: number): number {
  if (length < 56) return 1
  let bytes = 0
  for (let l = length; l > 0; l = Math.floor(l / 256)) bytes++
  return 1 + bytes
}

/** The encoded size of a byte string: a single byte below 0x80 is itself. */
export function bytesItemSize(b: Uint8Array): number {
  return b.length === 1 && b[0]! < 0x80 ? 1 : lengthPrefixSize(b.length) + b.length
}

/**
 * Write the length prefix of a payload of `length` bytes at `at` (`offset` 0x80 for a string,
 * 0xc0 for a list); the position after it.
 */
export function writeLengthPrefix(out: Uint8Array, at: number, length: number, offset: number): number {
  if (length < 56) {
    out[at] = offset + length
    return at + 1
  }
  const lenBytes = lengthPrefixSize(length) - 1
  out[at] = offset + 55 + lenBytes
  for (let k = lenBytes, l = length; k > 0; k--, l = Math.floor(l / 256)) out[at + k] = l % 256
  return at + 1 + lenBytes
}

/** Write a byte string's encoding at `at`; the position after it. */
export function writeBytesItem(out: Uint8Array, at: number, b: Uint8Array): number {
  if (b.length === 1 && b[0]! < 0x80) {
    out[at] = b[0]!
    return at + 1
  }
  at = writeLengthPrefix(out, at, b.length, 0x80)
  out.set(b, at)
  return at + b.length
}
