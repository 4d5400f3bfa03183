/**
 * An in-memory Merkle Patricia Trie (Ethereum's yellow paper, appendix D) built for one root
 * per block: updates copy only the path they change, every node caches its reference (its
 * embedded encoding or its hash), so a new root re-hashes only the paths written since the
 * last one. Nodes are kept between blocks.
 */
import { keccak256 } from '../crypto/keccak.ts'
import { EMPTY_STRING, encodeBytes, encodeList } from './rlp.ts'

interface LeafNode {
  t: 0
  path: Uint8Array
  value: Uint8Array
  ref: Uint8Array | undefined
}
interface ExtensionNode {
  t: 1
  path: Uint8Array
  child: TrieNode
  ref: Uint8Array | undefined
}
interface BranchNode {
  t: 2
  children: (TrieNode | null)[]
  value: Uint8Array | null
  ref: Uint8Array | undefined
}
type TrieNode = LeafNode | ExtensionNode | BranchNode

/** keccak256(RLP("")): the root of an empty trie. */
export const EMPTY_TRIE_ROOT = keccak256(EMPTY_STRING)

export function bytesToNibbles(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length * 2)
  for (let i = 0; i < key.length; i++) {
    out[i * 2] = key[i]! >> 4
    out[i * 2 + 1] = key[i]! & 0x0f
  }
  return out
}

function hexPrefix(path: Uint8Array, leaf: boolean): Uint8Array {
  const odd = path.length % 2
  const out = new Uint8Array(Math.floor(path.length / 2) + 1)
  const flag = (leaf ? 2 : 0) + odd
  let i = 0
  if (odd) {
    out[0] = (flag << 4) | path[0]!
    i = 1
  } else {
    out[0] = flag << 4
  }
  for (let o = 1; i < path.length; i += 2, o++) out[o] = (path[i]! << 4) | path[i + 1]!
  return out
}

function commonPrefix(a: Uint8Array, b: Uint8Array, bStart: number): number {
  const max = Math.min(a.length, b.length - bStart)
  let i = 0
  while (i < max && a[i] === b[bStart + i]) i++
  return i
}

function concatNibbles(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

const leaf = (path: Uint8Array, value: Uint8Array): LeafNode => ({ t: 0, path, value, ref: undefined })
const extension = (path: Uint8Array, child: TrieNode): ExtensionNode => ({ t: 1, path, child, ref: undefined })
const emptyChildren = (): (TrieNode | null)[] => Array.from({ length: 16 }, () => null)

function insert(node: TrieNode | null, key: Uint8Array, pos: number, value: Uint8Array): TrieNode {
  if (node === null) return leaf(key.subarray(pos), value)
  if (node.t === 2) {
    const children = node.children.slice()
    if (pos === key.length) return { t: 2, children, value, ref: undefined }
    const n = key[pos]!
    children[n] = insert(children[n]!, key, pos + 1, value)
    return { t: 2, children, value: node.value, ref: undefined }
  }
  const shared = commonPrefix(node.path, key, pos)
  if (node.t === 0 && shared === node.path.length && pos + shared === key.length) return leaf(node.path, value)
  if (node.t === 1 && shared === node.path.length) {
    return extension(node.path, insert(node.child, key, pos + shared, value))
  }
  // Split at the first differing nibble into a branch.
  const branch: BranchNode = { t: 2, children: emptyChildren(), value: null, ref: undefined }
  if (node.t === 0) {
    if (shared === node.path.length) branch.value = node.value
    else branch.children[node.path[shared]!] = leaf(node.path.subarray(shared + 1), node.value)
  } else {
    const rest = node.path.subarray(shared + 1)
    branch.children[node.path[shared]!] = rest.length === 0 ? node.child : extension(rest, node.child)
  }
  const at = pos + shared
  if (at === key.length) branch.value = value
  else branch.children[key[at]!] = leaf(key.subarray(at + 1), value)
  return shared === 0 ? branch : extension(node.path.subarray(0, shared), branch)
}

/** Re-shape a node whose child changed so the trie stays canonical. */
function joinExtension(path: Uint8Array, child: TrieNode): TrieNode {
  if (child.t === 0) return leaf(concatNibbles(path, child.path), child.value)
  if (child.t === 1) return extension(concatNibbles(path, child.path), child.child)
  return extension(path, child)
}

function remove(node: TrieNode | null, key: Uint8Array, pos: number): TrieNode | null {
  if (node === null) return null
  if (node.t === 0) {
    const shared = commonPrefix(node.path, key, pos)
    return shared === node.path.length && pos + shared === key.length ? null : node
  }
  if (node.t === 1) {
    const shared = commonPrefix(node.path, key, pos)
    if (shared !== node.path.length) return node
    const child = remove(node.child, key, pos + shared)
    if (child === node.child) return node
    return child === null ? null : joinExtension(node.path, child)
  }
  const children = node.children.slice()
  let value = node.value
  if (pos === key.length) {
    if (value === null) return node
    value = null
  } else {
    const n = key[pos]!
    const child = remove(children[n]!, key, pos + 1)
    if (child === children[n]) return node
    children[n] = child
  }
  let count = 0
  let only = -1
  for (let i = 0; i < 16; i++) {
    if (children[i] !== null) {
      count++
      only = i
    }
  }
  if (count === 0) return value === null ? null : leaf(new Uint8Array(0), value)
  if (count === 1 && value === null) return joinExtension(Uint8Array.of(only), children[only]!)
  return { t: 2, children, value, ref: undefined }
}

function lookup(node: TrieNode | null, key: Uint8Array, pos: number): Uint8Array | undefined {
  while (node !== null) {
    if (node.t === 2) {
      if (pos === key.length) return node.value ?? undefined
      node = node.children[key[pos]!]!
      pos++
      continue
    }
    const shared = commonPrefix(node.path, key, pos)
    if (shared !== node.path.length) return undefined
    pos += shared
    if (node.t === 0) return pos === key.length ? node.value : undefined
    node = node.child
  }
  return undefined
}

/** Callback for every hashed node (32-byte hash, RLP encoding) that was (re)computed. */
export type NodeSink = (hash: Uint8Array, encoded: Uint8Array) => void

function encodeNode(node: TrieNode, sink: NodeSink | undefined): Uint8Array {
  if (node.t === 0) return encodeList([encodeBytes(hexPrefix(node.path, true)), encodeBytes(node.value)])
  if (node.t === 1) return encodeList([encodeBytes(hexPrefix(node.path, false)), reference(node.child, sink)])
  const items: Uint8Array[] = new Array(17)
  for (let i = 0; i < 16; i++) {
    const child = node.children[i]
    items[i] = child === null || child === undefined ? EMPTY_STRING : reference(child, sink)
  }
  items[16] = node.value === null ? EMPTY_STRING : encodeBytes(node.value)
  return encodeList(items)
}

/** A node's reference in its parent: the encoding itself if under 32 bytes, else its hash. */
function reference(node: TrieNode, sink: NodeSink | undefined): Uint8Array {
  if (node.ref !== undefined) return node.ref
  const encoded = encodeNode(node, sink)
  if (encoded.length < 32) {
    node.ref = encoded
  } else {
    const hash = keccak256(encoded)
    sink?.(hash, encoded)
    node.ref = encodeBytes(hash)
  }
  return node.ref
}

export class MerkleTrie {
  private rootNode: TrieNode | null = null
  private count = 0

  /** Keys are raw bytes (the caller hashes them for secure tries). An empty value deletes. */
  put(key: Uint8Array, value: Uint8Array): void {
    if (value.length === 0) {
      this.del(key)
      return
    }
    this.rootNode = insert(this.rootNode, bytesToNibbles(key), 0, value)
  }

  del(key: Uint8Array): void {
    this.rootNode = remove(this.rootNode, bytesToNibbles(key), 0)
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return lookup(this.rootNode, bytesToNibbles(key), 0)
  }

  get isEmpty(): boolean {
    return this.rootNode === null
  }

  /** The root hash; only paths changed since the last call are re-hashed. */
  root(sink?: NodeSink): Uint8Array {
    this.count++
    if (this.rootNode === null) return EMPTY_TRIE_ROOT
    const ref = reference(this.rootNode, sink)
    if (ref.length === 33 && ref[0] === 0xa0) return ref.subarray(1)
    // A root under 32 bytes is still hashed.
    const hash = keccak256(ref)
    sink?.(hash, ref)
    return hash
  }

  /** Number of root() calls, for statistics. */
  get rootComputations(): number {
    return this.count
  }
}

/** Root of an ordered list (transactions, receipts, withdrawals): key RLP(index). */
export function orderedTrieRoot(values: readonly Uint8Array[]): Uint8Array {
  const trie = new MerkleTrie()
  for (let i = 0; i < values.length; i++) trie.put(encodeIndex(i), values[i]!)
  return trie.root()
}

function encodeIndex(i: number): Uint8Array {
  if (i === 0) return Uint8Array.of(0x80)
  const bytes: number[] = []
  for (let v = i; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return encodeBytes(Uint8Array.from(bytes))
}
