/**
 * The store and queue ports as one role incarnation sees them in the simulator: every call
 * takes simulated latency, is logged, and may meet a fault drawn from the world's PRNG.
 *
 * Store faults are the ones the port allows (shared/ports/kv-store.ts; the DynamoDB adapter's
 * bounded retries end in the same errors): throttling (ThrottledError, nothing done), a
 * TransactionConflict that outlived the adapter's retries (ThrottledError, nothing done), an
 * unconditional batch write cut short with items unprocessed (a prefix written, then
 * ThrottledError), an ambiguous write (done, but the caller gets ThrottledError: a timeout after
 * the commit), and a crash of the calling process before or after the call. Conditional-check
 * failures are never invented: they happen for real when retries and crashes race the
 * conditions, and are counted. Queue faults: messages dropped on receive (they come back after
 * the visibility timeout: redrive), duplicated, delayed and reordered on send, reordered on
 * receive, heartbeats lost (a visibility timeout expires mid-shard), throttled calls.
 */
import { createHash } from 'node:crypto'

import { ConditionFailedError, ThrottledError } from '../errors.ts'
import { keyString, type Item, type ItemKey, type KeyValueStore, type QueryOptions, type QueryPage, type TableName, type UnconditionalOp, type WriteOp } from '../ports/kv-store.ts'

import type { Queue, QueueDepth, QueueMessage, ReceiveOptions, SendEntry } from '../ports/queue.ts'
import type { CrashPoint, RoleCtx, SimWorld } from './world.ts'

/** Hooks of the simulator on successful store writes (under the faults: what really happened). */
export interface StoreObserver {
  afterTransact(ops: readonly WriteOp[], role: string, event: number): Promise<void>
  /** Test hook: drop one operation of this transaction silently (returns the ops to apply). */
  tamper?(ops: readonly WriteOp[], role: string): { ops: readonly WriteOp[]; dropped?: string } | undefined
}

/** A key for the trace: random plan and journal attempt ids are left out (they are not drawn from the seed). */
export function traceKey(key: ItemKey): string {
  const sk = key.table === 'plans' ? key.sk.replace(/^(plan|journal)#[^#]+#/, '$1#*#') : key.sk
  return `${key.table}/${key.pk}/${sk}`
}

function summarizeKeys(keys: readonly ItemKey[]): string {
  if (keys.length <= 3) return keys.map(traceKey).join(',')
  const tables = new Map<string, number>()
  for (const k of keys) tables.set(k.table, (tables.get(k.table) ?? 0) + 1)
  return `${[...tables].map(([t, n]) => `${t}x${n}`).join(',')} first=${traceKey(keys[0]!)}`
}

function opKey(op: WriteOp | UnconditionalOp): ItemKey {
  return op.op === 'put' ? op.item : op.key
}

/** Which named crash point a call is, for a crash before or after it. */
function crashPointOf(role: string, call: string, keys: readonly ItemKey[], phase: 'before' | 'after'): CrashPoint | undefined {
  if (role === 'coordinator') {
    if (call === 'transact' && phase === 'after' && keys.some((k) => k.table === 'plans' && k.sk === 'journal')) return 'coordinator: between journal and apply'
    if (call === 'transact' && keys.length > 0 && keys.every((k) => k.table === 'state')) return 'coordinator: mid-apply'
    if (call === 'write' && phase === 'before' && keys.some((k) => k.table === 'receipts')) return 'coordinator: between apply and seal'
  }
  if (role === 'sequencer' && call === 'transact' && phase === 'after' && keys.some((k) => k.table === 'plans' && k.sk === 'meta')) {
    return 'sequencer: between storing a plan and dispatching it'
  }
  if (role.startsWith('worker') && phase === 'after' && keys.some((k) => k.table === 'staged')) return 'worker: after staging, before acknowledging'
  return undefined
}

abstract class FaultyPort {
  constructor(
    protected readonly ctx: RoleCtx,
    protected readonly world: SimWorld,
  ) {}

  protected async latency(): Promise<void> {
    const { world } = this
    let ms = 1 + world.int(3)
    if (world.chance(world.rates.latencySpike)) {
      ms = world.int(world.rates.latencySpikeMsMax)
      world.fault('latency-spike', this.ctx.role, `${ms} ms`)
    }
    await world.clock.sleep(ms)
  }

  protected maybeCrash(call: string, keys: readonly ItemKey[], phase: 'before' | 'after', detail: string): void {
    const { ctx, world } = this
    ctx.checkAlive(`${call} ${detail}`)
    if (!ctx.mayCrash || !world.faultsActive || world.crashes >= world.rates.crashesMax) return
    const named = crashPointOf(ctx.role, call, keys, phase)
    const aimed = named !== undefined && named === world.targetCrash && world.crashPoints[named] === 0
    if (aimed || (world.randomCrashesLeft && world.chance(world.rates.crash))) ctx.crash(`${phase} ${call} ${detail}`, named)
  }
}

export class FaultyKV extends FaultyPort implements KeyValueStore {
  constructor(
    private readonly inner: KeyValueStore,
    ctx: RoleCtx,
    world: SimWorld,
    private readonly observer: StoreObserver,
  ) {
    super(ctx, world)
  }

  private async enter(call: string, keys: readonly ItemKey[]): Promise<string> {
    const detail = summarizeKeys(keys)
    this.ctx.checkAlive(`${call} ${detail}`)
    await this.latency()
    this.maybeCrash(call, keys, 'before', detail)
    const { world, ctx } = this
    if (world.chance(world.rates.kvThrottle)) {
      world.fault('kv-throttle', ctx.role, `${call} ${detail}`)
      throw new ThrottledError(`simulated throttling of ${call}`)
    }
    return detail
  }

  async get(keys: readonly ItemKey[]): Promise<(Item | undefined)[]> {
    await this.enter('get', keys)
    const out = await this.inner.get(keys)
    this.maybeCrash('get', keys, 'after', '')
    return out
  }

  async query(table: TableName, pk: string, options?: QueryOptions): Promise<QueryPage> {
    const keys = [{ table, pk, sk: options?.skPrefix ?? '' }]
    await this.enter('query', keys)
    const out = await this.inner.query(table, pk, options)
    this.maybeCrash('query', keys, 'after', '')
    return out
  }

  async transact(ops: readonly WriteOp[]): Promise<void> {
    const keys = ops.map(opKey)
    const detail = await this.enter('transact', keys)
    const { world, ctx } = this
    if (world.chance(world.rates.kvConflict)) {
      world.fault('kv-conflict', ctx.role, detail)
      throw new ThrottledError('simulated TransactionConflict (the adapter gave up retrying)')
    }
    let apply = ops
    const tampered = this.observer.tamper?.(ops, ctx.role)
    if (tampered !== undefined) {
      apply = tampered.ops
      world.log(ctx.role, 'SILENT-DROP (test hook)', tampered.dropped ?? '')
    }
    try {
      await this.inner.transact(apply)
    } catch (error) {
      if (error instanceof ConditionFailedError) world.fault('kv-condition-failed', ctx.role, `${detail} failed=${error.keys.length}`)
      throw error
    }
    const event = world.log(ctx.role, 'transact', detail)
    await this.observer.afterTransact(apply, ctx.role, event)
    if (world.chance(world.rates.kvAmbiguousWrite)) {
      world.fault('kv-ambiguous-write', ctx.role, `transact ${detail}`)
      throw new ThrottledError('simulated timeout after the transaction committed')
    }
    this.maybeCrash('transact', keys, 'after', detail)
  }

  async write(ops: readonly UnconditionalOp[]): Promise<void> {
    const keys = ops.map(opKey)
    const detail = await this.enter('write', keys)
    const { world, ctx } = this
    if (ops.length > 1 && world.chance(world.rates.kvPartialWrite)) {
      const done = 1 + world.int(ops.length - 1)
      await this.inner.write(ops.slice(0, done))
      world.fault('kv-partial-write', ctx.role, `${detail} written=${done}/${ops.length}`)
      throw new ThrottledError(`simulated unprocessed items: ${ops.length - done} of ${ops.length} not written`)
    }
    await this.inner.write(ops)
    world.log(ctx.role, 'write', detail)
    if (world.chance(world.rates.kvAmbiguousWrite)) {
      world.fault('kv-ambiguous-write', ctx.role, `write ${detail}`)
      throw new ThrottledError('simulated timeout after the batch was written')
    }
    this.maybeCrash('write', keys, 'after', detail)
  }
}

/** A short, seed-stable description of a message body for the trace. */
export function describeBody(body: string): string {
  try {
    const m = JSON.parse(body) as Record<string, unknown>
    if (m.kind === 'shard') return `shard:${String(m.block)}/${String(m.shard)}`
    if (m.kind === 'done') return `done:${String(m.block)}/${String(m.shard)}/${String(m.parts)}`
  } catch {
    // not JSON: hashed below
  }
  return `msg:${createHash('sha256').update(body).digest('hex').slice(0, 10)}`
}

export class FaultyQueue extends FaultyPort implements Queue {
  readonly name: string

  constructor(
    private readonly inner: Queue,
    ctx: RoleCtx,
    world: SimWorld,
  ) {
    super(ctx, world)
    this.name = inner.name
  }

  private async enter(call: string, detail: string): Promise<void> {
    this.ctx.checkAlive(`${this.name}.${call}`)
    await this.latency()
    this.maybeCrash(`${this.name}.${call}`, [], 'before', detail)
    if (this.world.chance(this.world.rates.queueThrottle)) {
      this.world.fault('queue-throttle', this.ctx.role, `${this.name}.${call} ${detail}`)
      throw new ThrottledError(`simulated throttling of ${this.name}.${call}`)
    }
  }

  private shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.world.int(i + 1)
      ;[items[i], items[j]] = [items[j]!, items[i]!]
    }
    return items
  }

  async send(entries: readonly SendEntry[]): Promise<void> {
    const detail = entries.map((e) => describeBody(e.body)).join(',')
    await this.enter('send', detail)
    const { world, ctx } = this
    const { rates } = world
    const out: SendEntry[] = []
    for (const entry of entries) {
      let e = entry
      if (world.chance(rates.delay)) {
        e = { ...entry, delayMs: world.int(rates.delayMsMax) }
        world.fault('msg-delayed', ctx.role, `${this.name} ${describeBody(entry.body)} +${e.delayMs} ms`)
      }
      out.push(e)
      if (world.chance(rates.duplicate)) {
        const { dedupId: _drop, ...copy } = e
        const delayMs = world.int(rates.delayMsMax + 1)
        out.push({ ...copy, delayMs })
        world.fault('msg-duplicated', ctx.role, `${this.name} ${describeBody(entry.body)} +${delayMs} ms`)
      }
    }
    if (out.length > 1 && world.chance(rates.reorder)) {
      this.shuffle(out)
      world.fault('msg-reordered', ctx.role, `${this.name} send of ${out.length}`)
    }
    await this.inner.send(out)
    world.log(ctx.role, `${this.name}.send`, detail)
    this.maybeCrash(`${this.name}.send`, [], 'after', detail)
  }

  async receive(options: ReceiveOptions): Promise<QueueMessage[]> {
    await this.enter('receive', '')
    const { world, ctx } = this
    let got = await this.inner.receive(options)
    this.ctx.checkAlive(`${this.name}.receive`)
    const kept: QueueMessage[] = []
    for (const m of got) {
      if (world.chance(world.rates.drop)) {
        world.fault('msg-dropped', ctx.role, `${this.name} ${describeBody(m.body)} receive#${m.receiveCount}`)
        continue
      }
      kept.push(m)
    }
    got = kept
    if (got.length > 1 && world.chance(world.rates.reorder)) {
      this.shuffle(got)
      world.fault('msg-reordered', ctx.role, `${this.name} receive of ${got.length}`)
    }
    if (got.length > 0) world.log(ctx.role, `${this.name}.receive`, got.map((m) => `${describeBody(m.body)}#${m.receiveCount}`).join(','))
    this.maybeCrash(`${this.name}.receive`, [], 'after', '')
    return got
  }

  async delete(receiptHandles: readonly string[]): Promise<void> {
    await this.enter('delete', `${receiptHandles.length}`)
    await this.inner.delete(receiptHandles)
    this.world.log(this.ctx.role, `${this.name}.delete`, `${receiptHandles.length}`)
    this.maybeCrash(`${this.name}.delete`, [], 'after', '')
  }

  async extendVisibility(receiptHandle: string, timeoutMs: number): Promise<void> {
    await this.enter('extendVisibility', `${timeoutMs}`)
    if (this.world.chance(this.world.rates.heartbeatLoss)) {
      this.world.fault('heartbeat-lost', this.ctx.role, `${this.name} +${timeoutMs} ms`)
      throw new ThrottledError('simulated lost visibility extension')
    }
    try {
      await this.inner.extendVisibility(receiptHandle, timeoutMs)
    } catch (error) {
      // The message became visible again and was received by someone else (or deleted).
      this.world.fault('visibility-expired', this.ctx.role, `${this.name} handle no longer valid`)
      throw error
    }
  }

  depth(): Promise<QueueDepth> {
    return this.inner.depth()
  }
}

export { keyString }
