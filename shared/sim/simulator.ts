/**
 * The deterministic simulator (issue 17): the sequencer, several shard workers and the
 * coordinator as tasks in one process on simulated time, over the in-memory store and queues
 * with faults at every call, all drawn from one seed. A crashed role is restarted as a fresh
 * object over the same store and queues (a new Lambda or process): what it held in memory is
 * lost. When the faults stop, the system must account for every input within a bounded
 * simulated time; then the auditor checks the invariants (./auditor.ts).
 *
 * Build mode: the adversarial generator's lines go onto the ingress queue at simulated times,
 * one or several to a message. Time only moves when every task waits (./clock.ts), so a seed
 * replays exactly and its trace hash is stable.
 */
import { buildGenesis, parseGenesis, type GenesisState } from '../chain/genesis.ts'
import { initializeChain } from '../cluster/bootstrap.ts'
import { runWorkerLoop } from '../cluster/worker-loop.ts'
import { Coordinator } from '../coordinator/coordinator.ts'
import { createAccelerators, type Accelerators } from '../gpu/accelerators.ts'
import { gpuConfigOf } from '../gpu/config.ts'
import { MemoryKeyValueStore } from '../ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../ports/memory/memory-queue.ts'
import { TemplateRegistry } from '../predict/templates.ts'
import { Sequencer } from '../sequencer/sequencer.ts'
import { Records } from '../store/records.ts'
import { getSealJournal } from '../store/seal-journal.ts'
import { StateTable } from '../store/state-table.ts'
import { WIPE_PREFIX } from '../state/keys.ts'
import { KvTrieNodeStore, saveTrieNodes } from '../trie/node-store.ts'
import { WorldStateTrie } from '../trie/world-state.ts'
import { ShardWorker } from '../worker/shard-worker.ts'
import { generateAdversarial } from '../workload/adversarial.ts'
import { audit, envelopeAccepts, inputId, recordId, type AuditFailure, type Observations } from './auditor.ts'
import { drainMicrotasks } from './clock.ts'
import { FaultyKV, FaultyQueue, type StoreObserver } from './faulty-ports.ts'
import { RoleCtx, SimCrash, SimWorld, type CrashPoint, type FaultKind } from './world.ts'

import type { KeyValueStore, WriteOp } from '../ports/kv-store.ts'
import { QUEUE_LIMITS, type Queue } from '../ports/queue.ts'

export interface SimOptions {
  seed: number
  /** Transaction lines of the workload (default: drawn, 30..89). */
  lines?: number
  /** Shard workers (default: drawn, 1..3). */
  workers?: number
  /** Most transactions per block (default: drawn, 8..39). */
  blockSize?: number
  /** Faults are injected for this long (simulated ms, default 20,000). */
  faultsUntilMs?: number
  /** After the faults stop, every input must be accounted for within this (simulated ms, default 120,000). */
  livenessBoundMs?: number
  /** No faults at all (a baseline). */
  noFaults?: boolean
  /** Test hook: the store silently drops one state write of the first multi-item apply. */
  dropApplyWrite?: boolean
}

export interface SimResult {
  seed: number
  ok: boolean
  failures: (AuditFailure & { eventText: string })[]
  traceHash: string
  events: number
  faults: Record<FaultKind, number>
  crashPoints: Record<CrashPoint, number>
  blocks: number
  inputs: number
  simMs: number
  wallMs: number
  config: { lines: number; workers: number; blockSize: number; trie: 'warm' | 'lazy'; beaconRoots: boolean }
  /** The last error each role met (for a liveness failure's message). */
  lastErrors: Record<string, string>
  /** The whole event log, when PAREVM_SIM_EVENTS is set (for diagnosing a seed). */
  eventLog?: string[]
}

const VT = { ingress: 5_000, shards: 2_000, done: 2_000 }
/**
 * The GPU path in a simulated run: its own instances per role incarnation (a restart loses
 * caches like a new process), never the thread's defaults, and no backend (nothing the
 * environment or the machine says reaches a seed's run; every stage on its CPU implementation).
 */
const simAccelerators = (): Accelerators => createAccelerators({ gpu: gpuConfigOf({ backend: 'off' }), split: 'auto' })
const MAX_RECEIVES = { ingress: 3, shards: 5, done: 5 }

let warmed: Promise<void> | undefined

/** Load what loads lazily (WebAssembly keccak, native modules) before the traced seeds run. */
export function warmUp(): Promise<void> {
  warmed ??= runSeed({ seed: 0, lines: 6, noFaults: true, workers: 1, blockSize: 4 }, { skipWarmUp: true }).then(() => undefined)
  return warmed
}

export async function runSeed(options: SimOptions, internal: { skipWarmUp?: boolean } = {}): Promise<SimResult> {
  if (internal.skipWarmUp !== true) await warmUp()
  // Lazy initialisation elsewhere (GPU stage detection) may wait on unreferenced handles: keep
  // the process alive while a seed runs. The timer does nothing, so it cannot touch the run.
  const keepAlive = setInterval(() => {}, 1000)
  try {
    return await runSeedInner(options)
  } finally {
    clearInterval(keepAlive)
  }
}

async function runSeedInner(options: SimOptions): Promise<SimResult> {
  const t0 = performance.now()
  const world = SimWorld.create(options.seed, { ...(options.faultsUntilMs !== undefined ? { faultsUntilMs: options.faultsUntilMs } : {}), ...(options.noFaults === true ? { noFaults: true } : {}) })
  const rng = world.rng
  const config = {
    lines: options.lines ?? 30 + Math.floor(rng() * 60),
    workers: options.workers ?? 1 + Math.floor(rng() * 3),
    blockSize: options.blockSize ?? 8 + Math.floor(rng() * 32),
    trie: (rng() < 0.5 ? 'warm' : 'lazy') as 'warm' | 'lazy',
    beaconRoots: rng() < 0.7,
  }
  const workload = generateAdversarial({ seed: options.seed, lines: config.lines, beaconRoots: config.beaconRoots })
  const genesis = buildGenesis(parseGenesis(workload.genesisFile))
  const inner = new MemoryKeyValueStore()
  await initializeChain(inner, genesis)
  if (config.trie === 'lazy') await saveTrieNodes(inner, genesis.trie)
  const inputs = [...new Set(workload.lines.map((l) => l.raw))]
  world.log('sim', 'start', `seed=${options.seed} lines=${config.lines} distinct=${inputs.length} workers=${config.workers} blockSize=${config.blockSize} trie=${config.trie}`)

  // Queues on simulated time, each with its dead-letter queue.
  const clock = world.clock
  const dlq = (name: string): MemoryQueue => new MemoryQueue({ name: `${name}-dlq`, clock })
  const dlqs = { ingress: dlq('ingress'), shards: dlq('shards'), done: dlq('done') }
  const queues = {
    ingress: new MemoryQueue({ name: 'ingress', visibilityTimeoutMs: VT.ingress, maxReceiveCount: MAX_RECEIVES.ingress, deadLetter: dlqs.ingress, clock }),
    shards: new MemoryQueue({ name: 'shards', visibilityTimeoutMs: VT.shards, maxReceiveCount: MAX_RECEIVES.shards, deadLetter: dlqs.shards, clock }),
    done: new MemoryQueue({ name: 'done', visibilityTimeoutMs: VT.done, maxReceiveCount: MAX_RECEIVES.done, deadLetter: dlqs.done, clock }),
  }

  const observed: Observations = { journals: new Map(), seals: new Map(), stateAtSeal: [], lastStateWrite: new Map(), dropped: new Map() }
  const observer = makeObserver(inner, world, observed, options.dropApplyWrite === true)
  const ports = (ctx: RoleCtx): { kv: KeyValueStore; ingress: Queue; shards: Queue; done: Queue } => ({
    kv: new FaultyKV(inner, ctx, world, observer),
    ingress: new FaultyQueue(queues.ingress, ctx, world),
    shards: new FaultyQueue(queues.shards, ctx, world),
    done: new FaultyQueue(queues.done, ctx, world),
  })
  const templates = new TemplateRegistry()
  const lastErrors: Record<string, string> = {}
  const noteError = (ctx: RoleCtx, what: string, error: unknown): void => {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    lastErrors[ctx.role] = text
    world.log(ctx.role, `error in ${what}`, text.slice(0, 200))
  }
  /** After any error: a dead incarnation must stop, whatever caught its SimCrash first. */
  const rethrowIfDead = (ctx: RoleCtx, error: unknown): void => {
    if (ctx.dead || error instanceof SimCrash) {
      ctx.dead = true
      throw error instanceof SimCrash ? error : new SimCrash(ctx.role, 'after a swallowed crash')
    }
  }

  const supervise = async (role: string, mayCrash: boolean, body: (ctx: RoleCtx) => Promise<void>): Promise<void> => {
    for (let incarnation = 0; !world.stopped; incarnation++) {
      const ctx = new RoleCtx(world, role, mayCrash)
      world.log(role, 'start', `incarnation ${incarnation}`)
      try {
        // A role's loop returns only when the run stops; the client's when it has sent everything.
        await body(ctx)
        return
      } catch (error) {
        if (error instanceof SimCrash || ctx.dead) world.log(role, 'crashed')
        else noteError(ctx, 'its loop (the process exits)', error)
      }
      ctx.dead = true
      // The platform starts a fresh process after a while (a new Lambda, a restarted container).
      await clock.sleep(50 + world.int(1000))
    }
  }

  const sequencerBody = async (ctx: RoleCtx): Promise<void> => {
    const p = ports(ctx)
    const records = new Records(p.kv)
    const sequencer = new Sequencer({
      kv: p.kv,
      ingress: p.ingress,
      shardQueue: p.shards,
      templates,
      clock,
      planner: simAccelerators().planner,
      config: {
        chain: genesis.chain,
        shardCount: config.workers,
        blockSizeMax: config.blockSize,
        blockTimeSec: 12,
        coinbase: genesis.coinbase,
        intakeWaitMs: 0,
        receiveRoundsMax: Math.ceil(config.blockSize / 10) + 10,
      },
    })
    let waitingFor: { block: bigint; since: number } | undefined
    while (!world.stopped) {
      try {
        if (waitingFor !== undefined) {
          const head = await records.getHead()
          if (head !== undefined && BigInt(head.number) < waitingFor.block && clock.now() - waitingFor.since < 3_000) {
            await clock.sleep(50)
            continue
          }
          waitingFor = undefined
        }
        const plan = await sequencer.planNext()
        world.log(ctx.role, 'planNext', plan === undefined ? 'nothing' : `block ${plan.block} txs=${plan.txCount} rejected=${plan.rejected.length} duplicates=${plan.duplicates} carried=${plan.carried}`)
        if (plan !== undefined && plan.txCount > 0) waitingFor = { block: plan.block, since: clock.now() }
        else await clock.sleep(plan === undefined ? 200 : 50)
      } catch (error) {
        rethrowIfDead(ctx, error)
        noteError(ctx, 'planNext', error)
        await clock.sleep(100)
      }
    }
  }

  const coordinatorBody = async (ctx: RoleCtx): Promise<void> => {
    const p = ports(ctx)
    // Warm: the genesis trie kept in memory across restarts (the embedded cluster). Lazy: a
    // fresh trie over the stored nodes per incarnation (the AWS coordinator runtime).
    const trie = config.trie === 'warm' ? genesis.trie : WorldStateTrie.lazy(new KvTrieNodeStore(p.kv))
    const accelerators = simAccelerators()
    const coordinator = new Coordinator({ kv: p.kv, templates, trie, clock, gpu: accelerators.gpu, inference: accelerators.inference })
    while (!world.stopped) {
      let messages
      try {
        messages = await p.done.receive({ maxMessages: 10, waitMs: 200 })
      } catch (error) {
        rethrowIfDead(ctx, error)
        noteError(ctx, 'receive', error)
        await clock.sleep(50)
        continue
      }
      for (const message of messages) {
        try {
          const outcome = await coordinator.handleDone(message)
          world.log(ctx.role, 'handleDone', outcome.kind === 'sealed' ? `sealed ${outcome.sealed.record.number} ${outcome.sealed.record.hash}` : outcome.kind === 'waiting' ? `waiting ${outcome.block} ${outcome.done}/${outcome.of}` : `already-sealed ${outcome.block}`)
          await p.done.delete([message.receiptHandle])
        } catch (error) {
          rethrowIfDead(ctx, error)
          noteError(ctx, 'handleDone', error)
          await p.done.extendVisibility(message.receiptHandle, 50).catch((e: unknown) => rethrowIfDead(ctx, e))
        }
      }
    }
  }

  const signal = {
    get stopped(): boolean {
      return world.stopped
    },
  }
  const workerBody = (i: number) => async (ctx: RoleCtx): Promise<void> => {
    const p = ports(ctx)
    const worker = new ShardWorker({ kv: p.kv, shardQueue: p.shards, doneQueue: p.done, inference: simAccelerators().inference })
    await runWorkerLoop(worker, p.shards, signal, {
      visibilityTimeoutMs: VT.shards,
      waitMs: 200,
      notReadyRetryMs: 100,
      clock,
      isFatal: (error) => ctx.dead || error instanceof SimCrash,
      onOutcome: (o) => world.log(`worker${i}`, 'shard', `${o.kind} ${o.block}/${o.shard}`),
    })
  }

  /**
   * The client: lines onto the ingress queue at simulated times, one or several to a message
   * (as EmbeddedCluster.submit does: a transaction too big for a message gets its `oversize`
   * rejection instead, and a group too big together goes one by one). It retries what fails.
   */
  const clientBody = async (ctx: RoleCtx): Promise<void> => {
    const p = ports(ctx)
    const clientRecords = new Records(p.kv)
    const limit = QUEUE_LIMITS.messageBytes
    const envelope = (chunk: readonly string[]): string => JSON.stringify(chunk.length === 1 ? { raw: chunk[0] } : { txs: chunk })
    const retry = async (what: string, call: () => Promise<unknown>): Promise<void> => {
      while (!world.stopped) {
        try {
          await call()
          return
        } catch (error) {
          noteError(ctx, what, error)
          await clock.sleep(20)
        }
      }
    }
    const lines: string[] = []
    for (const { raw } of workload.lines) {
      if (Buffer.byteLength(envelope([raw])) <= limit) lines.push(raw)
      else {
        const rejection = { id: inputId(raw), code: 'oversize' as const, reason: `transaction does not fit an ingress message (${limit} bytes)`, inputPrefix: raw.slice(0, 34), atMs: clock.now() }
        await retry('putRejection', () => clientRecords.putRejection(rejection))
      }
    }
    let i = 0
    while (i < lines.length && !world.stopped) {
      const entries: { body: string }[] = []
      for (let m = 0; m < 1 + world.int(10) && i < lines.length; m++) {
        let n = Math.min(lines.length - i, world.rng() < 0.7 ? 1 : 2 + world.int(4))
        // An input the ingress schema refuses goes alone: in a batch it takes the others with it
        // (a known engine bug, see test/sim/findings.test.ts).
        for (let k = 0; k < n; k++) {
          if (!envelopeAccepts(lines[i + k]!)) {
            n = Math.max(1, k)
            break
          }
        }
        const chunk = lines.slice(i, i + n)
        i += n
        const pieces = Buffer.byteLength(envelope(chunk)) <= limit ? [chunk] : chunk.map((raw) => [raw])
        for (const piece of pieces) entries.push({ body: envelope(piece) })
      }
      for (let k = 0; k < entries.length; k += 10) await retry('send', () => p.ingress.send(entries.slice(k, k + 10)))
      await clock.sleep(world.int(300))
    }
  }

  /** The operator's redrive: dead-lettered messages go back to their queue. */
  const redriveBody = async (): Promise<void> => {
    while (!world.stopped) {
      await clock.sleep(2_000)
      for (const name of ['ingress', 'shards', 'done'] as const) {
        for (;;) {
          const got = await dlqs[name].receive({ maxMessages: 10, waitMs: 0 })
          if (got.length === 0) break
          await queues[name].send(got.map((m) => ({ body: m.body })))
          await dlqs[name].delete(got.map((m) => m.receiptHandle))
          for (const m of got) world.fault('dead-lettered', 'redrive', `${name} ${describe(m.body)}`)
        }
      }
    }
  }

  /** Stops the run when everything is accounted for, or when the liveness bound passes. */
  const ids = inputs.map(recordId)
  const kindOf = new Map(workload.lines.map((l) => [recordId(l.raw), l.kind]))
  const records = new Records(inner)
  const livenessBoundMs = options.livenessBoundMs ?? 120_000
  const monitorBody = async (): Promise<void> => {
    while (!world.stopped) {
      await clock.sleep(250)
      if (world.faultsActive) continue
      const got = await records.getReceipts(ids)
      const openIds = ids.filter((_, i) => got[i] === undefined)
      const open = openIds.length
      let queued = 0
      for (const q of [...Object.values(queues), ...Object.values(dlqs)]) {
        const d = await q.depth()
        queued += d.visible + d.inFlight + d.delayed
      }
      if (open === 0 && queued === 0) {
        world.log('monitor', 'settled', `${ids.length} inputs accounted for`)
        world.stopped = true
        return
      }
      if (world.now() > world.faultsUntilMs + livenessBoundMs) {
        const head = await records.getHead()
        const errors = Object.entries(lastErrors).map(([role, e]) => `${role}: ${e}`).join('; ')
        observed.liveness = {
          invariant: 'liveness',
          message: `${world.now() - world.faultsUntilMs} ms after the faults stopped, ${open} of ${ids.length} inputs are unaccounted for (${openIds.slice(0, 3).map((id) => `${id} (${kindOf.get(id) ?? '?'})`).join(', ')}${open > 3 ? ', …' : ''}) and ${queued} messages are queued (head ${head?.number})${errors === '' ? '' : `; last errors: ${errors}`}`,
          event: world.events.length - 1,
        }
        world.log('monitor', 'liveness bound passed')
        world.stopped = true
        return
      }
    }
  }

  const tasks: Promise<void>[] = [
    supervise('client', false, clientBody),
    supervise('sequencer', true, sequencerBody),
    supervise('coordinator', true, coordinatorBody),
    ...Array.from({ length: config.workers }, (_, i) => supervise(`worker${i}`, true, workerBody(i))),
    redriveBody(),
    monitorBody(),
  ]
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
      if (idle > 20_000) throw new Error(`seed ${options.seed}: the simulation stalled (no task sleeping, none finished)`)
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

  const tAudit = performance.now()
  const failures = await audit({ world, kv: inner, genesis, inputs, observed })
  if (process.env.PAREVM_SIM_PROFILE === '1') console.log(`seed ${options.seed}: run ${(tAudit - t0).toFixed(0)} ms, audit ${(performance.now() - tAudit).toFixed(0)} ms, ${world.events.length} events, ${steps} steps`)
  world.log('sim', 'audited', failures.map((f) => f.invariant).join(',') || 'ok')
  const head = await records.getHead()
  return {
    seed: options.seed,
    ok: failures.every((f) => f.known !== undefined),
    failures: failures.map((f) => ({ ...f, eventText: world.describe(f.event) })),
    traceHash: world.traceHash(),
    ...(process.env.PAREVM_SIM_EVENTS !== undefined ? { eventLog: world.events.map((e, i) => `#${i} ${e.t} ${e.role} ${e.op} ${e.detail}`) } : {}),
    events: world.events.length,
    faults: { ...world.faults },
    crashPoints: { ...world.crashPoints },
    blocks: Number(head?.number ?? 0),
    inputs: inputs.length,
    simMs: world.now(),
    wallMs: performance.now() - t0,
    config,
    lastErrors,
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

export type { GenesisState }
