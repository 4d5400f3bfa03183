/**
 * What every simulated run shares, whatever its workload (build mode's generated lines, replay
 * mode's fixture block): the queues on simulated time with their dead-letter queues, the
 * fault-injecting ports one role incarnation sees, the supervisor that restarts a crashed role
 * as a fresh object, the coordinator and worker roles, the operator's redrive, the observer of
 * committed writes the auditor reads, and the scheduler loop that advances simulated time only
 * when every task waits.
 */
import { runWorkerLoop } from '../cluster/worker-loop.ts'
import { Coordinator } from '../coordinator/coordinator.ts'
import { createAccelerators, type Accelerators } from '../gpu/accelerators.ts'
import { gpuConfigOf } from '../gpu/config.ts'
import { MemoryQueue } from '../ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../predict/templates.ts'
import { getSealJournal } from '../store/seal-journal.ts'
import { StateTable } from '../store/state-table.ts'
import { WIPE_PREFIX } from '../state/keys.ts'
import { ShardWorker } from '../worker/shard-worker.ts'
import { drainMicrotasks } from './clock.ts'
import { FaultyKV, FaultyQueue, type StoreObserver } from './faulty-ports.ts'
import { RoleCtx, SimCrash, type SimWorld } from './world.ts'

import type { KeyValueStore, WriteOp } from '../ports/kv-store.ts'
import type { Queue } from '../ports/queue.ts'
import type { WorldStateTrie } from '../trie/world-state.ts'
import type { Observations } from './auditor.ts'

/** Visibility timeouts and receive counts before dead-lettering, per queue. */
export const VT = { ingress: 5_000, shards: 2_000, done: 2_000 }
const MAX_RECEIVES = { ingress: 3, shards: 5, done: 5 }

/**
 * The GPU path in a simulated run: its own instances per role incarnation (a restart loses
 * caches like a new process), never the thread's defaults, and no backend (nothing the
 * environment or the machine says reaches a seed's run; every stage on its CPU implementation).
 */
export const simAccelerators = (): Accelerators => createAccelerators({ gpu: gpuConfigOf({ backend: 'off' }), split: 'auto' })

export interface RolePorts {
  kv: KeyValueStore
  ingress: Queue
  shards: Queue
  done: Queue
}

type QueueName = 'ingress' | 'shards' | 'done'

export class SimHarness {
  readonly queues: Record<QueueName, MemoryQueue>
  readonly dlqs: Record<QueueName, MemoryQueue>
  readonly observed: Observations = { journals: new Map(), seals: new Map(), stateAtSeal: [], lastStateWrite: new Map(), dropped: new Map() }
  /** Learned templates, shared by the roles (as one deployment's registry). */
  readonly templates = new TemplateRegistry()
  /** The last error each role met (for a liveness failure's message). */
  readonly lastErrors: Record<string, string> = {}
  private readonly observer: StoreObserver
  /** For roles that poll a stop signal (the worker loop). */
  readonly signal: { readonly stopped: boolean }

  constructor(
    readonly world: SimWorld,
    /** The store itself (no faults): what the auditor reads. */
    readonly inner: KeyValueStore,
    options: { dropApplyWrite?: boolean } = {},
  ) {
    const clock = world.clock
    const dlq = (name: string): MemoryQueue => new MemoryQueue({ name: `${name}-dlq`, clock })
    this.dlqs = { ingress: dlq('ingress'), shards: dlq('shards'), done: dlq('done') }
    this.queues = {
      ingress: new MemoryQueue({ name: 'ingress', visibilityTimeoutMs: VT.ingress, maxReceiveCount: MAX_RECEIVES.ingress, deadLetter: this.dlqs.ingress, clock }),
      shards: new MemoryQueue({ name: 'shards', visibilityTimeoutMs: VT.shards, maxReceiveCount: MAX_RECEIVES.shards, deadLetter: this.dlqs.shards, clock }),
      done: new MemoryQueue({ name: 'done', visibilityTimeoutMs: VT.done, maxReceiveCount: MAX_RECEIVES.done, deadLetter: this.dlqs.done, clock }),
    }
    this.observer = makeObserver(inner, world, this.observed, options.dropApplyWrite === true)
    this.signal = {
      get stopped(): boolean {
        return world.stopped
      },
    }
  }

  /** The ports as one role incarnation sees them: every call may meet a fault. */
  ports(ctx: RoleCtx): RolePorts {
    return {
      kv: new FaultyKV(this.inner, ctx, this.world, this.observer),
      ingress: new FaultyQueue(this.queues.ingress, ctx, this.world),
      shards: new FaultyQueue(this.queues.shards, ctx, this.world),
      done: new FaultyQueue(this.queues.done, ctx, this.world),
    }
  }

  noteError(ctx: RoleCtx, what: string, error: unknown): void {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    this.lastErrors[ctx.role] = text
    this.world.log(ctx.role, `error in ${what}`, text.slice(0, 200))
  }

  /** After any error: a dead incarnation must stop, whatever caught its SimCrash first. */
  rethrowIfDead(ctx: RoleCtx, error: unknown): void {
    if (ctx.dead || error instanceof SimCrash) {
      ctx.dead = true
      throw error instanceof SimCrash ? error : new SimCrash(ctx.role, 'after a swallowed crash')
    }
  }

  /** Run a role, restarting it as a fresh incarnation after it crashes or its loop throws. */
  async supervise(role: string, mayCrash: boolean, body: (ctx: RoleCtx) => Promise<void>): Promise<void> {
    const { world } = this
    for (let incarnation = 0; !world.stopped; incarnation++) {
      const ctx = new RoleCtx(world, role, mayCrash)
      world.log(role, 'start', `incarnation ${incarnation}`)
      try {
        // A role's loop returns only when the run stops; the client's when it has sent everything.
        await body(ctx)
        return
      } catch (error) {
        if (error instanceof SimCrash || ctx.dead) world.log(role, 'crashed')
        else this.noteError(ctx, 'its loop (the process exits)', error)
      }
      ctx.dead = true
      // The platform starts a fresh process after a while (a new Lambda, a restarted container).
      await world.clock.sleep(50 + world.int(1000))
    }
  }

  /**
   * The coordinator role: done messages in, blocks sealed. `trieFor` gives each incarnation its
   * state trie (kept in memory across restarts, or a fresh lazy trie over the stored nodes).
   */
  coordinatorBody(trieFor: (kv: KeyValueStore) => WorldStateTrie): (ctx: RoleCtx) => Promise<void> {
    const { world } = this
    const clock = world.clock
    return async (ctx) => {
      const p = this.ports(ctx)
      const accelerators = simAccelerators()
      const coordinator = new Coordinator({ kv: p.kv, templates: this.templates, trie: trieFor(p.kv), clock, gpu: accelerators.gpu, inference: accelerators.inference })
      while (!world.stopped) {
        let messages
        try {
          messages = await p.done.receive({ maxMessages: 10, waitMs: 200 })
        } catch (error) {
          this.rethrowIfDead(ctx, error)
          this.noteError(ctx, 'receive', error)
          await clock.sleep(50)
          continue
        }
        for (const message of messages) {
          try {
            const outcome = await coordinator.handleDone(message)
            world.log(ctx.role, 'handleDone', outcome.kind === 'sealed' ? `sealed ${outcome.sealed.record.number} ${outcome.sealed.record.hash}` : outcome.kind === 'waiting' ? `waiting ${outcome.block} ${outcome.done}/${outcome.of}` : `already-sealed ${outcome.block}`)
            await p.done.delete([message.receiptHandle])
          } catch (error) {
            this.rethrowIfDead(ctx, error)
            this.noteError(ctx, 'handleDone', error)
            await p.done.extendVisibility(message.receiptHandle, 50).catch((e: unknown) => this.rethrowIfDead(ctx, e))
          }
        }
      }
    }
  }

  /** Shard worker `i`: the same loop as worker threads and the ECS worker, on simulated time. */
  workerBody(i: number): (ctx: RoleCtx) => Promise<void> {
    const { world } = this
    return async (ctx) => {
      const p = this.ports(ctx)
      const worker = new ShardWorker({ kv: p.kv, shardQueue: p.shards, doneQueue: p.done, inference: simAccelerators().inference })
      await runWorkerLoop(worker, p.shards, this.signal, {
        visibilityTimeoutMs: VT.shards,
        waitMs: 200,
        notReadyRetryMs: 100,
        clock: world.clock,
        isFatal: (error) => ctx.dead || error instanceof SimCrash,
        onOutcome: (o) => world.log(`worker${i}`, 'shard', `${o.kind} ${o.block}/${o.shard}`),
      })
    }
  }

  /** The operator's redrive: dead-lettered messages go back to their queue. */
  async redriveBody(): Promise<void> {
    const { world } = this
    while (!world.stopped) {
      await world.clock.sleep(2_000)
      for (const name of ['ingress', 'shards', 'done'] as const) {
        for (;;) {
          const got = await this.dlqs[name].receive({ maxMessages: 10, waitMs: 0 })
          if (got.length === 0) break
          await this.queues[name].send(got.map((m) => ({ body: m.body })))
          await this.dlqs[name].delete(got.map((m) => m.receiptHandle))
          for (const m of got) world.fault('dead-lettered', 'redrive', `${name} ${describe(m.body)}`)
        }
      }
    }
  }

  /** Messages still on any queue or dead-letter queue (visible, in flight or delayed). */
  async queued(): Promise<number> {
    let queued = 0
    for (const q of [...Object.values(this.queues), ...Object.values(this.dlqs)]) {
      const d = await q.depth()
      queued += d.visible + d.inFlight + d.delayed
    }
    return queued
  }

  /**
   * Run the tasks to the end on simulated time: drain the microtasks, then wake the next
   * sleepers (a clock jump drawn from the seed first, while faults are on). Returns the steps.
   */
  async drive(tasks: readonly Promise<void>[], seed: number): Promise<number> {
    const { world } = this
    const clock = world.clock
    let settled = false
    let taskError: unknown
    void Promise.all(tasks).then(
      () => (settled = true),
      (error: unknown) => {
        taskError = error
        settled = true
      },
    )
    let idle = 0
    let steps = 0
    while (!settled) {
      await drainMicrotasks()
      if (settled) break
      if (clock.pending === 0) {
        // Real asynchronous work in flight (only before warm-up): wait for it.
        if (++idle > 100) await new Promise((r) => setTimeout(r, 1))
        if (idle > 20_000) throw new Error(`seed ${seed}: the simulation stalled (no task sleeping, none finished)`)
        continue
      }
      idle = 0
      steps++
      if (world.chance(world.rates.clockJump)) {
        const ms = 1 + world.int(world.rates.clockJumpMsMax)
        clock.jump(ms)
        world.fault('clock-jump', 'sim', `+${ms} ms`)
      }
      clock.advance()
    }
    if (taskError !== undefined) throw taskError
    return steps
  }
}

function describe(body: string): string {
  return body.length > 40 ? `${body.slice(0, 40)}…` : body
}

/** The simulator's view of committed writes: seals (with their journals), state writes, the test hook. */
function makeObserver(inner: KeyValueStore, world: SimWorld, observed: Observations, dropApplyWrite: boolean): StoreObserver {
  let dropPending = dropApplyWrite
  const isApply = (ops: readonly WriteOp[]): boolean => ops.length > 0 && ops.every((op) => (op.op === 'put' ? op.item.table : op.key.table) === 'state')
  return {
    tamper(ops, role) {
      if (!dropPending || role !== 'coordinator' || !isApply(ops) || ops.length < 2) return undefined
      const index = ops.findIndex((op) => op.op === 'put')
      if (index < 0) return undefined
      dropPending = false
      const dropped = ops[index]!
      const key = dropped.op === 'put' ? dropped.item.pk : ''
      observed.dropped.set(key, world.events.length)
      return { ops: ops.filter((_, i) => i !== index), dropped: `state/${key}` }
    },
    async afterTransact(ops, _role, event) {
      if (isApply(ops)) {
        for (const op of ops) observed.lastStateWrite.set(op.op === 'put' ? op.item.pk : op.key.pk, event)
        return
      }
      const header = ops.find((op) => op.op === 'put' && op.item.table === 'blocks' && op.item.sk === 'header')
      if (header === undefined || header.op !== 'put') return
      const n = header.item.pk
      const journal = await getSealJournal(inner, n)
      const hash = journal?.record.hash ?? '(no journal)'
      const seal = observed.seals.get(n)
      if (seal === undefined) observed.seals.set(n, { count: 1, hashes: [hash], event })
      else {
        seal.count++
        seal.hashes.push(hash)
      }
      world.log('sim', 'sealed', `${n} ${hash}`)
      if (journal === undefined) return
      if (!observed.journals.has(n)) observed.journals.set(n, journal)
      // The state table must hold every write of the block now that it is sealed.
      const writes = journal.writes.filter((w) => w.key[0] !== WIPE_PREFIX)
      const loaded = await new StateTable(inner).load(writes.map((w) => w.key))
      writes.forEach((w, i) => {
        const got = loaded[i]!
        const same = w.value === null ? got.value === null : got.value !== null && Buffer.from(got.value).equals(Buffer.from(w.value))
        if (!same) {
          observed.stateAtSeal.push({
            invariant: 'state-table',
            message: `block ${n} is sealed, but the state table does not hold its write of ${w.key} (version ${w.version}; the table has version ${got.version}, ${got.value === null ? 'absent' : 'another value'})`,
            event: observed.dropped.get(w.key) ?? observed.lastStateWrite.get(w.key) ?? event,
          })
        }
      })
    },
  }
}
