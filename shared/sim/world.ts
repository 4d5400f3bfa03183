/**
 * The simulator's world: one seeded PRNG that decides every fault, latency and clock jump; the
 * event log whose hash is the trace hash; fault counts per kind; and role incarnations (a
 * crashed incarnation is dead: every later call it makes throws `SimCrash`, as a dead process
 * can do nothing more).
 */
import { createHash } from 'node:crypto'

import { createRng } from '../workload/generator.ts'
import { SimClock } from './clock.ts'

/** A simulated crash of the calling role's process. */
export class SimCrash extends Error {
  constructor(readonly role: string, readonly point: string) {
    super(`simulated crash of ${role} at ${point}`)
    this.name = 'SimCrash'
  }
}

export const FAULT_KINDS = [
  'kv-throttle',
  'kv-conflict',
  'kv-partial-write',
  'kv-ambiguous-write',
  'kv-condition-failed',
  'queue-throttle',
  'msg-dropped',
  'msg-duplicated',
  'msg-delayed',
  'msg-reordered',
  'heartbeat-lost',
  'visibility-expired',
  'dead-lettered',
  'latency-spike',
  'clock-jump',
  'crash',
] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/** Named crash points of the issue, by where a crash happened (role, call, before/after). */
export const CRASH_POINTS = [
  'coordinator: between journal and apply',
  'coordinator: mid-apply',
  'coordinator: between apply and seal',
  'sequencer: between storing a plan and dispatching it',
  'worker: after staging, before acknowledging',
] as const
export type CrashPoint = (typeof CRASH_POINTS)[number]

export interface FaultRates {
  /** Per store call. */
  kvThrottle: number
  kvConflict: number
  kvPartialWrite: number
  kvAmbiguousWrite: number
  /** Per queue call. */
  queueThrottle: number
  /** Per received message. */
  drop: number
  reorder: number
  /** Per sent message. */
  duplicate: number
  delay: number
  delayMsMax: number
  heartbeatLoss: number
  /** Per call of a role that may crash. */
  crash: number
  crashesMax: number
  latencySpike: number
  latencySpikeMsMax: number
  /** Per scheduler step. */
  clockJump: number
  clockJumpMsMax: number
}

export function drawFaultRates(rng: () => number): FaultRates {
  const pick = (max: number): number => rng() * max
  return {
    kvThrottle: pick(0.03),
    kvConflict: pick(0.02),
    kvPartialWrite: pick(0.05),
    kvAmbiguousWrite: pick(0.02),
    queueThrottle: pick(0.03),
    drop: pick(0.08),
    reorder: pick(0.3),
    duplicate: pick(0.08),
    delay: pick(0.1),
    delayMsMax: 200 + Math.floor(rng() * 3000),
    heartbeatLoss: pick(0.5),
    crash: pick(0.006),
    crashesMax: 1 + Math.floor(rng() * 4),
    latencySpike: pick(0.01),
    latencySpikeMsMax: 500 + Math.floor(rng() * 4000),
    clockJump: pick(0.002),
    clockJumpMsMax: 1000 + Math.floor(rng() * 20_000),
  }
}

export interface SimEvent {
  /** Simulated milliseconds since the start. */
  t: number
  role: string
  op: string
  detail: string
}

export class SimWorld {
  readonly clock = new SimClock()
  readonly rng: () => number
  readonly events: SimEvent[] = []
  readonly faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>
  readonly crashPoints = Object.fromEntries(CRASH_POINTS.map((k) => [k, 0])) as Record<CrashPoint, number>
  private readonly hash = createHash('sha256')
  private readonly startMs: number
  crashes = 0
  /** The crash point this seed aims at (crashes at its first occurrence), if any. */
  targetCrash: CrashPoint | undefined
  /**
   * Keep one crash of the budget for the aimed point until it is hit (replay mode: a block's
   * many store calls would spend the budget on random crashes first). Off in build mode, whose
   * seeds keep the draws they always had.
   */
  reserveAimedCrash = false
  /** Faults are injected until this simulated time (ms since start); then the system must settle. */
  faultsUntilMs: number
  stopped = false

  constructor(
    readonly seed: number,
    readonly rates: FaultRates,
    options: { faultsUntilMs: number; rng: () => number },
  ) {
    this.rng = options.rng
    this.faultsUntilMs = options.faultsUntilMs
    this.startMs = this.clock.now()
  }

  static create(seed: number, options: { faultsUntilMs?: number; noFaults?: boolean } = {}): SimWorld {
    const rng = createRng(seed * 2654435761 + 17)
    const rates = drawFaultRates(rng)
    const world = new SimWorld(seed, rates, { faultsUntilMs: options.noFaults === true ? 0 : (options.faultsUntilMs ?? 20_000), rng })
    const target = Math.floor(rng() * (CRASH_POINTS.length + 2))
    world.targetCrash = options.noFaults === true ? undefined : CRASH_POINTS[target]
    return world
  }

  now(): number {
    return this.clock.now() - this.startMs
  }

  /** Faults on again for `ms` from now (replay mode's next block); 0 leaves them off. */
  restartFaults(ms: number): void {
    this.faultsUntilMs = ms > 0 ? this.now() + ms : Math.min(this.faultsUntilMs, this.now())
  }

  get faultsActive(): boolean {
    return this.now() < this.faultsUntilMs
  }

  /** True with probability p while faults are active (draws nothing otherwise). */
  chance(p: number): boolean {
    if (!this.faultsActive || p <= 0) return false
    return this.rng() < p
  }

  /** Random crashes left before the budget (less the aimed point's reserve) is spent. */
  get randomCrashesLeft(): boolean {
    const reserve = this.reserveAimedCrash && this.targetCrash !== undefined && this.crashPoints[this.targetCrash] === 0 ? 1 : 0
    return this.crashes + reserve < this.rates.crashesMax
  }

  int(max: number): number {
    return Math.floor(this.rng() * max)
  }

  log(role: string, op: string, detail = ''): number {
    const event = { t: this.now(), role, op, detail }
    this.events.push(event)
    this.hash.update(`${event.t}|${role}|${op}|${detail}\n`)
    return this.events.length - 1
  }

  fault(kind: FaultKind, role: string, detail: string): number {
    this.faults[kind]++
    return this.log(role, `FAULT ${kind}`, detail)
  }

  traceHash(): string {
    return this.hash.copy().digest('hex')
  }

  describe(index: number | undefined): string {
    if (index === undefined || this.events[index] === undefined) return '(none)'
    const e = this.events[index]!
    return `#${index} at ${e.t} ms: ${e.role} ${e.op}${e.detail === '' ? '' : ` ${e.detail}`}`
  }
}

/**
 * One incarnation of a role (a process). Dead after a crash: every store or queue call it makes
 * from then on throws SimCrash, whoever catches the first one.
 */
export class RoleCtx {
  dead = false
  constructor(
    readonly world: SimWorld,
    readonly role: string,
    /** Whether this role may crash (the client injecting transactions does not). */
    readonly mayCrash: boolean,
  ) {}

  checkAlive(point: string): void {
    if (this.dead) throw new SimCrash(this.role, point)
  }

  crash(point: string, named: CrashPoint | undefined): never {
    this.dead = true
    this.world.crashes++
    if (named !== undefined) this.world.crashPoints[named]++
    this.world.fault('crash', this.role, `${point}${named !== undefined ? ` [${named}]` : ''}`)
    throw new SimCrash(this.role, point)
  }
}
