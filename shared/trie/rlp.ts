/**
 * Minimal RLP encoding on pre-encoded items, for trie nodes: a branch's children are either
 * embedded node encodings (under 32 bytes) or hash strings, so the list is assembled from
 * already-encoded parts instead of re-encoding nested structures.
 */

function lengthPrefix(length: number, offset: number): Uint8Array {
  if (length < 56) return Uint8Array.of(offset + length)
  const bytes: number[] = []
  for (let l = length; l > 0; l = Math.floor(l / 256)) bytes.unshift(l & 0xff)
  return Uint8Array.of(offset + 55 + bytes.length, ...bytes)
}

/** RLP string encoding of raw bytes. */
export function encodeBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 1 && bytes[0]! < 0x80) return bytes
  const prefix = lengthPrefix(bytes.length, 0x80)
  const out = new Uint8Array(prefix.length + bytes.length)
  out.set(prefix, 0)
  out.set(bytes, prefix.length)
  return out
}

/** RLP list of items that are already RLP-encoded. */
export function encodeList(items: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const item of items) length += item.length
  const prefix = lengthPrefix(length, 0xc0)
  const out = new Uint8Array(prefix.length + length)
  out.set(prefix, 0)
  let offset = prefix.length
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
  for (const item of items) length += item.length === 1 && item[0]! < 0x80 ? 1 : lengthPrefixSize(item.length) + item.length
  const prefix = lengthPrefix(length, 0xc0)
  const out = new Uint8Array(prefix.length + length)
  out.set(prefix, 0)
  let offset = prefix.length
  for (const item of items) {
    if (item.length === 1 && item[0]! < 0x80) {
      out[offset++] = item[0]!
      continue
    }
    if (item.length < 56) {
      out[offset++] = 0x80 + item.length
    } else {
      const p = lengthPrefix(item.length, 0x80)
      out.set(p, offset)
      offset += p.length
    }
    out.set(item, offset)
    offset += item.length
  }
  return out
}

/** The size of an RLP length prefix (string or list) for a payload of `length` bytes. */
export function lengthPrefixSize(length: number): number {
  if (length < 56) return 1
  let bytes = 0
  for (let l = length; l > 0; l = Math.floor(l / 256)) bytes++
  return 1 + bytes
}
