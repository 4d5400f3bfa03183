/**
 * The state root on worker threads. The account trie is split by the first nibble of
 * keccak(address) into its 16 root children; K trie threads (trie-thread.ts) own them, nibble
 * n on thread n mod K, each with the storage tries of its accounts, so no thread needs
 * another. Per block the main thread routes each write to its account's thread (the address's
 * nibble is hashed here once per address and kept), each thread applies its part with the same
 * `WorldStateTrie` code (slot and address hashing, storage roots, node hashing) and returns the
 * references of its root children; the main thread puts the 16 into the root branch and hashes
 * it. Roots and nodes are byte for byte those of one `WorldStateTrie` over all the writes.
 *
 * MPT cases: the whole root is a branch only when at least two first nibbles are occupied;
 * with exactly one it is that thread's own root (its trie then holds only that nibble's
 * accounts), with none the empty root. A child reference is an embedded encoding under 32
 * bytes, else the hash (MerkleTrie.childReferences).
 *
 * In memory only: like `new WorldStateTrie()`, it is at its parent by construction and ignores
 * `parentRoot` (a coordinator re-applying a journaled block's absolute writes gets the same
 * trie). A lazy trie over a node store (the AWS coordinator, the simulator) stays one
 * `WorldStateTrie` on the coordinator's thread. Nodes are hashed on the CPU in the threads: the
 * `keccak` GPU stage (`options.gpu`) applies to `WorldStateTrie` only.
 *
 * Staging (StateRootTrie.stage): the threads apply a settled prefix of the next block ahead,
 * each keeping its parent to go back to; the block's `applyBlock` asks every thread that staged
 * (to commit), `discardStaged` every such thread (to go back).
 *
 * A thread that exits or fails fails every call in flight and every later one with a
 * TrieThreadError (not retryable: that thread's part of the state is gone); `close()` ends them.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

import { keccak256 } from '../crypto/keccak.ts'
import { ConfigError, InvariantError, ParevmError, type ParevmErrorOptions } from '../errors.ts'
import { bytesEqual, fromHex, toHex } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH, WIPE_PREFIX, type AddressHex, type StateKey } from '../state/keys.ts'
import { EMPTY_TRIE_ROOT } from './mpt.ts'
import { EMPTY_STRING, encodeList } from './rlp.ts'
import { packWrites, type PackedWrites, type TrieThreadOp, type TrieThreadReply, type TrieThreadRequest } from './trie-thread-protocol.ts'

import type { GpuContext } from '../gpu/context.ts'
import type { StateValue } from '../state/values.ts'
import type { StateRootTrie } from './state-root-trie.ts'
import type { WorldStateStats } from './world-state.ts'

/** The root branch has 16 children: more threads would have nothing to own. */
export const TRIE_THREADS_MAX = 16

/** A trie thread's script: `threadEntry('trie-thread', '../trie/')` of shared/cluster/threads.ts. */
export interface TrieThreadEntry {
  url: URL
  data: Record<string, string>
}

export interface ParallelTrieOptions {
  entry: TrieThreadEntry
  /** Trie threads, 1..16 (default: the machine's available parallelism, at least 2). */
  threads?: number
  /** The root the initial writes must give (a genesis state root); checked at start. */
  expectedRoot?: Uint8Array
}

/** A trie thread exited or failed, or the trie was closed. */
export class TrieThreadError extends ParevmError {
  constructor(message: string, options: ParevmErrorOptions = {}) {
    super(message, options)
    this.name = 'TrieThreadError'
  }
}

/** The machine's available parallelism, at least 2 (the coordinator's thread waits while the root is computed, and so do the shard workers), at most 16. */
export function defaultTrieThreads(): number {
  return Math.min(TRIE_THREADS_MAX, Math.max(2, availableParallelism()))
}

/** PAREVM_TRIE_THREADS when set: 0 computes the state root on the coordinator's thread, 1..16 on that many trie threads. */
export function trieThreadsFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const configured = env['PAREVM_TRIE_THREADS']
  if (configured === undefined || configured.trim() === '') return undefined
  const n = Number(configured)
  if (!Number.isInteger(n) || n < 0 || n > TRIE_THREADS_MAX) {
    throw new ConfigError(`PAREVM_TRIE_THREADS must be an integer 0..${TRIE_THREADS_MAX} (got ${JSON.stringify(configured)})`, {
      hint: '0 computes the state root on the coordinator thread; unset it for one trie thread per core',
    })
  }
  return n
}

/**
 * The root of a trie split by first nibble into parts (each a trie holding the keys of some
 * first nibbles, none held twice), from each part's root children (`childReferences`) and
 * its own root: the empty root with no key; the root of the one part that holds keys when
 * they all start with one nibble (an extension or a leaf at the root); else the branch of
 * the 16 references, hashed.
 */
export function rootFromChildReferences(parts: readonly { refs: readonly (Uint8Array | null)[]; root: Uint8Array }[]): Uint8Array {
  const refs: (Uint8Array | null)[] = Array.from({ length: 16 }, () => null)
  let occupied = 0
  let only: Uint8Array = EMPTY_TRIE_ROOT
  for (const part of parts) {
    if (part.refs.length !== 16) throw new InvariantError(`a trie part gave ${part.refs.length} root children, not 16`)
    for (let n = 0; n < 16; n++) {
      const ref = part.refs[n] ?? null
      if (ref === null) continue
      if (refs[n] !== null) throw new InvariantError(`two trie parts hold keys of first nibble ${n}`)
      refs[n] = ref
      occupied++
      only = part.root
    }
  }
  if (occupied === 0) return EMPTY_TRIE_ROOT
  if (occupied === 1) return only
  const items = refs.map((ref) => ref ?? EMPTY_STRING)
  items.push(EMPTY_STRING)
  // A root node is hashed whatever its length (MerkleTrie.root).
  return keccak256(encodeList(items))
}

type Reply = Extract<TrieThreadReply, { ok: true }>

interface Call {
  thread: number
  resolve(reply: Reply): void
  reject(error: Error): void
}

export class ParallelWorldStateTrie implements StateRootTrie {
  private readonly workers: Worker[] = []
  /** First nibble of keccak(address), per address seen. */
  private readonly nibbles = new Map<AddressHex, number>()
  /** Each thread's last answer: a thread without writes in a block is not asked again. */
  private readonly last: (Reply | undefined)[]
  private readonly calls = new Map<number, Call>()
  private nextId = 1
  private failure: TrieThreadError | undefined
  /** The block being applied (the next waits for it). */
  private queue: Promise<void> = Promise.resolve()
  /** Threads holding staged writes of the next block (each is asked at its apply, or discard). */
  private readonly staged = new Set<number>()
  readonly canStage = true

  private constructor(private readonly options: ParallelTrieOptions & { threads: number }) {
    this.last = Array.from({ length: options.threads }, () => undefined)
    for (let i = 0; i < options.threads; i++) this.startWorker(i)
  }

  /**
   * Start the threads and apply `writes` (a genesis's flat entries: accounts and storage
   * slots) as the first block. With `expectedRoot`, a different root is an InvariantError.
   */
  static async start(writes: Iterable<readonly [StateKey, StateValue]>, options: ParallelTrieOptions): Promise<ParallelWorldStateTrie> {
    const threads = options.threads ?? defaultTrieThreads()
    if (!Number.isInteger(threads) || threads < 1 || threads > TRIE_THREADS_MAX) {
      throw new ConfigError(`trie threads must be 1..${TRIE_THREADS_MAX} (got ${threads})`)
    }
    const trie = new ParallelWorldStateTrie({ ...options, threads })
    try {
      const { root } = await trie.applyBlock(EMPTY_TRIE_ROOT, [...writes])
      if (options.expectedRoot !== undefined && !bytesEqual(root, options.expectedRoot)) {
        throw new InvariantError(`the parallel state trie starts at root 0x${toHex(root)}, not 0x${toHex(options.expectedRoot)}`)
      }
      return trie
    } catch (error) {
      await trie.close()
      throw error
    }
  }

  get threads(): number {
    return this.options.threads
  }

  private startWorker(i: number): void {
    const { entry } = this.options
    const worker = new Worker(entry.url, { workerData: { ...entry.data } })
    worker.on('message', (reply: TrieThreadReply) => this.onReply(i, reply))
    worker.on('error', (error) => this.fail(new TrieThreadError(`state-root thread ${i} failed: ${error.message}`, { cause: error })))
    worker.on('messageerror', (error) => this.fail(new TrieThreadError(`state-root thread ${i} sent a message that could not be read: ${error.message}`, { cause: error })))
    worker.on('exit', (code) =>
      this.fail(
        new TrieThreadError(`state-root thread ${i} exited (code ${code})`, {
          hint: 'its part of the state trie is gone: restart the cluster (PAREVM_TRIE_THREADS=0 computes the root on the coordinator thread)',
        }),
      ),
    )
    this.workers.push(worker)
  }

  private onReply(thread: number, reply: TrieThreadReply): void {
    const call = this.calls.get(reply.id)
    if (call === undefined || call.thread !== thread) {
      this.fail(new TrieThreadError(`state-root thread ${thread} answered request ${reply.id}, which it was not asked`))
      return
    }
    this.calls.delete(reply.id)
    if (reply.ok) call.resolve(reply)
    else call.reject(new ParevmError(`state-root thread ${thread} failed to apply the block: ${reply.error.name}: ${reply.error.message}`))
  }

  /** The first failure ends the trie: calls in flight and later ones fail with it; the other threads end. */
  private fail(error: TrieThreadError): void {
    if (this.failure !== undefined) return
    this.failure = error
    for (const call of this.calls.values()) call.reject(error)
    this.calls.clear()
    for (const worker of this.workers) void worker.terminate()
  }

  private call(thread: number, op: TrieThreadOp, writes: PackedWrites): Promise<Reply> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    const id = this.nextId++
    return new Promise<Reply>((resolve, reject) => {
      this.calls.set(id, { thread, resolve, reject })
      const request: TrieThreadRequest = { id, op, writes }
      this.workers[thread]!.postMessage(request, [writes.lengths.buffer as ArrayBuffer, writes.data.buffer as ArrayBuffer])
    })
  }

  private nibbleOf(address: AddressHex): number {
    let nibble = this.nibbles.get(address)
    if (nibble === undefined) {
      nibble = keccak256(fromHex(address))[0]! >> 4
      this.nibbles.set(address, nibble)
    }
    return nibble
  }

  /**
   * See the class comment: `parentRoot` is not used (in memory), nor is the GPU context's
   * `keccak` stage (the threads hash on the CPU): the context records that decision, once its
   * backend is chosen as the single-threaded trie's gate would have, for its status line.
   * Calls are applied one after another, in call order.
   */
  applyBlock(
    _parentRoot: Uint8Array,
    writes: readonly (readonly [StateKey, StateValue])[],
    options: { gpu?: GpuContext | undefined } = {},
  ): Promise<{ root: Uint8Array; stats: WorldStateStats }> {
    const gpu = options.gpu
    return this.inTurn(async () => {
      if (gpu !== undefined) {
        await gpu.backend()
        gpu.recordStage('keccak', `off (the state root is hashed on ${this.options.threads} trie threads)`)
      }
      return this.apply(writes, 'apply')
    })
  }

  /** Each thread applies its part of `writes` ahead of the block's `applyBlock` (see StateRootTrie.stage). */
  async stage(writes: readonly (readonly [StateKey, StateValue])[]): Promise<void> {
    await this.inTurn(() => this.apply(writes, 'stage'))
  }

  /** Every thread holding staged writes goes back to its parent. */
  async discardStaged(): Promise<void> {
    await this.inTurn(async () => {
      if (this.failure !== undefined) throw this.failure
      const threads = [...this.staged]
      this.staged.clear()
      const settled = await Promise.allSettled(threads.map((t) => this.call(t, 'discard', packWrites([], [])).then((reply) => (this.last[t] = reply))))
      for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason
    })
  }

  /** Calls run one after another, in call order. */
  private inTurn<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task)
    this.queue = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }

  private async apply(writes: readonly (readonly [StateKey, StateValue])[], op: 'apply' | 'stage'): Promise<{ root: Uint8Array; stats: WorldStateStats }> {
    if (this.failure !== undefined) throw this.failure
    const k = this.options.threads
    const keys: StateKey[][] = Array.from({ length: k }, () => [])
    const values: StateValue[][] = Array.from({ length: k }, () => [])
    for (const [key, value] of writes) {
      const address = key[0] === WIPE_PREFIX ? key.slice(1) : key.slice(0, ACCOUNT_KEY_LENGTH)
      const thread = this.nibbleOf(address) % k
      keys[thread]!.push(key)
      values[thread]!.push(value)
    }
    const stats: WorldStateStats = { accountsUpdated: 0, storageSlotsUpdated: 0, storageTriesRehashed: 0 }
    const asked: Promise<Reply>[] = []
    for (let t = 0; t < k; t++) {
      // A thread is asked when it has writes, has never answered, or (at the apply) holds staged writes to commit.
      if (keys[t]!.length === 0 && this.last[t] !== undefined && !(op === 'apply' && this.staged.has(t))) continue
      if (op === 'stage') this.staged.add(t)
      asked.push(
        this.call(t, op, packWrites(keys[t]!, values[t]!)).then((reply) => {
          this.last[t] = reply
          stats.accountsUpdated += reply.stats.accountsUpdated
          stats.storageSlotsUpdated += reply.stats.storageSlotsUpdated
          stats.storageTriesRehashed += reply.stats.storageTriesRehashed
          return reply
        }),
      )
    }
    // Every answer is awaited (one failure must not leave the others' rejections unhandled).
    if (op === 'apply') this.staged.clear()
    const settled = await Promise.allSettled(asked)
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason
    return { root: this.combine(), stats }
  }

  /** The whole account trie's root from the threads' last answers. */
  private combine(): Uint8Array {
    const k = this.options.threads
    const parts = this.last.map((reply, t) => {
      reply!.refs.forEach((ref, n) => {
        if (ref !== null && n % k !== t) throw new InvariantError(`state-root thread ${t} holds accounts of nibble ${n}, which thread ${n % k} owns`)
      })
      return reply!
    })
    return rootFromChildReferences(parts)
  }

  /** End the threads; later calls fail. */
  async close(): Promise<void> {
    this.fail(new TrieThreadError('the parallel state trie is closed'))
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}
