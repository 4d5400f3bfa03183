/**
 * An in-memory Merkle Patricia Trie (Ethereum's yellow paper, appendix D) built for one root
 * per block: updates copy only the path they change, every node caches its reference (its
 * embedded encoding or its hash), so a new root re-hashes only the paths written since the
 * last one. Nodes are kept between blocks.
 *
 * A trie may also start from a root hash alone (`MerkleTrie.fromRoot`): its nodes are then
 * "hash nodes" until resolved from a node store. Operations that reach an unresolved node throw
 * MissingTrieNodeError; `unresolvedOnPath` lists what a key needs, `resolveNode` fills a hash
 * node in place (checked against its hash), so a coordinator that starts cold loads only the
 * paths a block touches (see world-state.ts).
 */
import { RLP } from '@ethereumjs/rlp'

import { keccak256 } from '../crypto/keccak.ts'
import { InvariantError, MalformedInputError, ParevmError } from '../errors.ts'
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
/** A node known only by its hash (not loaded yet); `ref` is its reference in its parent. */
interface HashNode {
  t: 3
  hash: Uint8Array
  ref: Uint8Array
}
type TrieNode = LeafNode | ExtensionNode | BranchNode | HashNode

/** An unresolved node, to be loaded by hash and passed to `resolveNode`. */
export type UnresolvedNode = Readonly<Pick<HashNode, 'hash'>>

/** An operation reached a node that is not loaded (a trie started from a root hash). */
export class MissingTrieNodeError extends ParevmError {
  readonly node: UnresolvedNode
  constructor(node: UnresolvedNode) {
    super(`trie node 0x${Buffer.from(node.hash).toString('hex')} is not loaded`)
    this.name = 'MissingTrieNodeError'
    this.node = node
  }
}

const hashNode = (hash: Uint8Array): HashNode => ({ t: 3, hash, ref: encodeBytes(hash) })

function missing(node: HashNode): never {
  throw new MissingTrieNodeError(node)
}

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
  if (node.t === 3) missing(node)
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
  if (child.t === 3) missing(child)
  if (child.t === 0) return leaf(concatNibbles(path, child.path), child.value)
  if (child.t === 1) return extension(concatNibbles(path, child.path), child.child)
  return extension(path, child)
}

function remove(node: TrieNode | null, key: Uint8Array, pos: number): TrieNode | null {
  if (node === null) return null
  if (node.t === 3) missing(node)
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
    if (node.t === 3) missing(node)
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
  if (node.t === 3) return missing(node)
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

/** The first unresolved node on a key's path, if any. */
function firstUnresolved(node: TrieNode | null, key: Uint8Array, pos: number): HashNode | undefined {
  while (node !== null) {
    if (node.t === 3) return node
    if (node.t === 2) {
      if (pos === key.length) return undefined
      node = node.children[key[pos]!]!
      pos++
      continue
    }
    const shared = commonPrefix(node.path, key, pos)
    if (shared !== node.path.length || node.t === 0) return undefined
    pos += shared
    node = node.child
  }
  return undefined
}

function decodeHexPrefix(bytes: Uint8Array): { path: Uint8Array; leaf: boolean } {
  if (bytes.length === 0) throw new MalformedInputError('trie node has an empty path')
  const flag = bytes[0]! >> 4
  if (flag > 3) throw new MalformedInputError(`trie node has an invalid hex-prefix flag ${flag}`)
  const odd = flag & 1
  const nibbles = bytesToNibbles(bytes.subarray(1))
  const path = odd ? concatNibbles(Uint8Array.of(bytes[0]! & 0x0f), nibbles) : nibbles
  return { path, leaf: flag >= 2 }
}

type Decoded = Uint8Array | Decoded[]

/** A child reference: a 32-byte hash (not loaded) or an embedded node. */
function decodeChild(raw: Decoded): TrieNode | null {
  if (raw instanceof Uint8Array) {
    if (raw.length === 0) return null
    if (raw.length === 32) return hashNode(raw)
    throw new MalformedInputError(`trie node has a ${raw.length}-byte child reference`)
  }
  return decodeNodeList(raw)
}

function decodeNodeList(raw: Decoded[]): TrieNode {
  if (raw.length === 17) {
    const children = raw.slice(0, 16).map(decodeChild)
    const value = raw[16]
    if (!(value instanceof Uint8Array)) throw new MalformedInputError('trie branch value is not a string')
    return { t: 2, children, value: value.length === 0 ? null : value, ref: undefined }
  }
  if (raw.length === 2 && raw[0] instanceof Uint8Array) {
    const { path, leaf: isLeaf } = decodeHexPrefix(raw[0])
    if (isLeaf) {
      if (!(raw[1] instanceof Uint8Array)) throw new MalformedInputError('trie leaf value is not a string')
      return leaf(path, raw[1])
    }
    const child = decodeChild(raw[1]!)
    if (child === null) throw new MalformedInputError('trie extension without a child')
    return extension(path, child)
  }
  throw new MalformedInputError(`not a trie node (a list of ${raw.length} items)`)
}

/** Fill an unresolved node in place with its RLP encoding, after checking it hashes to it. */
export function resolveNode(node: UnresolvedNode, encoded: Uint8Array): void {
  const target = node as HashNode
  if (target.t !== 3) return
  const hash = keccak256(encoded)
  if (Buffer.compare(Buffer.from(hash), Buffer.from(target.hash)) !== 0) {
    throw new InvariantError(`trie node store returned bytes that do not hash to 0x${Buffer.from(target.hash).toString('hex')}`)
  }
  const decoded = RLP.decode(encoded) as Decoded
  if (decoded instanceof Uint8Array) throw new MalformedInputError('a trie node is an RLP list')
  // Same node, now loaded: its reference in its parent stays what it was.
  Object.assign(target, decodeNodeList(decoded), { ref: target.ref })
}

/** Every hashed node under (and including) `node` that is loaded, as (hash, encoding). */
function emitAll(node: TrieNode | null, sink: NodeSink, isRoot: boolean): void {
  if (node === null || node.t === 3) return
  const encoded = encodeNode(node, undefined)
  if (encoded.length >= 32 || isRoot) sink(keccak256(encoded), encoded)
  if (node.t === 1) emitAll(node.child, sink, false)
  else if (node.t === 2) for (const child of node.children) emitAll(child, sink, false)
}

/** A trie's contents at one moment (`MerkleTrie.snapshot`): nodes are never changed in place, so keeping the root keeps them. */
export interface TrieSnapshot {
  readonly root: unknown
}

export class MerkleTrie {
  private rootNode: TrieNode | null = null
  private count = 0

  /** The trie as it is now, to come back to (`fromSnapshot`, `restore`): updates copy the paths they change. */
  snapshot(): TrieSnapshot {
    return { root: this.rootNode }
  }

  /** Back to a snapshot of this or another trie. */
  restore(snapshot: TrieSnapshot): void {
    this.rootNode = snapshot.root as TrieNode | null
  }

  static fromSnapshot(snapshot: TrieSnapshot): MerkleTrie {
    const trie = new MerkleTrie()
    trie.restore(snapshot)
    return trie
  }

  /** A trie known by its root hash only; nodes are resolved as they are needed. */
  static fromRoot(root: Uint8Array): MerkleTrie {
    const trie = new MerkleTrie()
    if (Buffer.compare(Buffer.from(root), Buffer.from(EMPTY_TRIE_ROOT)) !== 0) trie.rootNode = hashNode(root.slice())
    return trie
  }

  /** The first node on `key`'s path that is not loaded (undefined: the path is complete). */
  unresolvedOnPath(key: Uint8Array): UnresolvedNode | undefined {
    return firstUnresolved(this.rootNode, bytesToNibbles(key), 0)
  }

  /** Every loaded hashed node (the root always), for persisting a trie built in memory. */
  exportNodes(sink: NodeSink): void {
    this.root()
    emitAll(this.rootNode, sink, true)
  }

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

  /**
   * The references of the root's 16 children as a branch at the first nibble would hold them
   * (null where no key starts with that nibble), computing those not cached yet. A trie whose
   * keys all start with one nibble has an extension or a leaf at its root: the child is then
   * that node less its first nibble. For a root split across tries that each hold the keys of
   * some first nibbles (parallel-world-state.ts): the whole trie's root branch takes, at each
   * nibble, the reference its holder gives. Keys must not be empty.
   */
  childReferences(sink?: NodeSink): (Uint8Array | null)[] {
    const out: (Uint8Array | null)[] = Array.from({ length: 16 }, () => null)
    const node = this.rootNode
    if (node === null) return out
    if (node.t === 3) missing(node)
    if (node.t === 2) {
      if (node.value !== null) throw new InvariantError('a trie with an empty key has no first-nibble children')
      for (let i = 0; i < 16; i++) {
        const child = node.children[i]
        if (child !== null && child !== undefined) out[i] = reference(child, sink)
      }
      return out
    }
    if (node.path.length === 0) throw new InvariantError('a trie with an empty key has no first-nibble children')
    const rest = node.path.subarray(1)
    const child = node.t === 0 ? leaf(rest, node.value) : rest.length === 0 ? node.child : extension(rest, node.child)
    out[node.path[0]!] = reference(child, sink)
    return out
  }

  /**
   * Compute the reference of every node of these tries that has none yet, deepest level
   * first, each level's hashes in one call of `hashMany` (the `keccak` GPU stage batches them:
   * shared/gpu/stages.ts); root() then finds them cached. The same nodes get the same hashes
   * and reach the sink as root() alone would give them (in level order).
   */
  static async hashPending(tries: readonly MerkleTrie[], hashMany: (messages: Uint8Array[]) => Promise<Uint8Array[]>, sink?: NodeSink): Promise<void> {
    const levels: TrieNode[][] = []
    const seen = new Set<TrieNode>()
    const visit = (node: TrieNode): number => {
      let height = 0
      const children = node.t === 1 ? [node.child] : node.t === 2 ? node.children : []
      for (const child of children) if (child !== null && child !== undefined && child.ref === undefined) height = Math.max(height, visit(child) + 1)
      if (!seen.has(node)) {
        seen.add(node)
        ;(levels[height] ??= []).push(node)
      }
      return height
    }
    for (const trie of tries) if (trie.rootNode !== null && trie.rootNode.ref === undefined) visit(trie.rootNode)
    for (const level of levels) {
      const pending: { node: TrieNode; encoded: Uint8Array }[] = []
      for (const node of level) {
        const encoded = encodeNode(node, sink)
        if (encoded.length < 32) node.ref = encoded
        else pending.push({ node, encoded })
      }
      if (pending.length === 0) continue
      const hashes = await hashMany(pending.map((p) => p.encoded))
      pending.forEach((p, i) => {
        sink?.(hashes[i]!, p.encoded)
        p.node.ref = encodeBytes(hashes[i]!)
      })
    }
  }

  /** Number of root() calls, for statistics. */
  get rootComputations(): number {
    return this.count
  }
}

/** Root of an ordered list (transactions, receipts, withdrawals): key RLP(index). */
export function orderedTrieRoot(values: readonly Uint8Array[]): Uint8Array {
  const list = new OrderedListTrie()
  for (const value of values) list.push(value)
  return list.root()
}

/**
 * The trie of an ordered list built as its items arrive (key RLP(index)). `root()` hashes only
 * what changed since the last call, so a list hashed after each settled prefix of a block costs
 * little more than once at the end, and the last call hashes only the last prefix's paths.
 */
export class OrderedListTrie {
  private readonly trie = new MerkleTrie()
  private count = 0

  /** Append the next item (a non-empty encoding). */
  push(value: Uint8Array): void {
    if (value.length === 0) throw new InvariantError(`item ${this.count} of an ordered list is empty`)
    this.trie.put(encodeIndex(this.count++), value)
  }

  get length(): number {
    return this.count
  }

  /** The root of the items pushed so far. */
  root(): Uint8Array {
    return this.trie.root()
  }
}

function encodeIndex(i: number): Uint8Array {
  if (i === 0) return Uint8Array.of(0x80)
  const bytes: number[] = []
  for (let v = i; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return encodeBytes(Uint8Array.from(bytes))
}
