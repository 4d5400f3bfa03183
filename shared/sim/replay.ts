/**
 * Replay mode of the simulator: a seed picks one or two mainnet fixture blocks
 * (test/fixtures/mainnet-blocks) and runs each through the same simulated roles as build mode,
 * under the seed's faults: the sequencer role plans the block in its own order
 * (`planOrderedBlock`, as `parevm replay` does: prediction, partition, plan, one message per
 * shard; after a crash or a lost message it sends the stored plan's messages again), the shard
 * workers execute, the coordinator validates, re-executes and seals, crashing and restarting at
 * any await point. Each block runs on its own `ReplayStore` (shared/replay/store.ts: the
 * fixture's pre-state, a synthetic parent head, and a refusal of any slot the fixture does not
 * supply), with its own queues; the blocks of one seed share the world (one PRNG, one clock,
 * one trace), and the faults start again for each.
 *
 * The auditor (./auditor.ts `auditReplay`) checks the sealed block against sequential
 * @ethereumjs/vm on the same pre-state (every receipt, the state root), against the fixture's
 * header (receipts root, gas used, logs bloom, transactions and withdrawals roots, every other
 * field and the hash, the state root being the reference's), and the usual invariants.
 *
 * A run ends as soon as the block is sealed and every queue is empty (faults may still be on:
 * nothing is left to do), or when the liveness bound passes.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

import { ConfigError } from '../errors.ts'
import { MAINNET, isFixtureDir, loadFixture, type ReplayFixture } from '../replay/fixture.ts'
import { mainnetFixturesDir } from '../replay/fixtures-dir.ts'
import { runReference, type ReferenceResult } from '../replay/reference.ts'
import { ReplayStore, seedReplayStore } from '../replay/store.ts'
import { dispatchPlan, planOrderedBlock } from '../sequencer/sequencer.ts'
import { Records } from '../store/records.ts'
import { KvTrieNodeStore, saveTrieNodes } from '../trie/node-store.ts'
import { WorldStateTrie } from '../trie/world-state.ts'
import { auditReplay, type AuditFailure } from './auditor.ts'
import { SimHarness, simAccelerators } from './harness.ts'
import { createWorld, runStart, simResult, type ReplayConfig, type ReplayFixtureSet, type SimOptions, type SimResult } from './result.ts'

import type { KeyValueStore } from '../ports/kv-store.ts'
import type { RoleCtx, SimWorld } from './world.ts'

/**
 * The blocks a replay seed draws from by default: the fixtures that replay fastest (1 to 60
 * transactions, each fork from Petersburg to Cancun, a blob transaction and the KZG-free Cancun
 * blocks), so a seed takes about a second. `--fixtures all` draws from all 47.
 */
export const SMALL_FIXTURES = ['15537393', '9068998', '19923400', '19426587', '19933122', '19934116', '6137495', '9069000'] as const

/** The fixture folders of a set, by block number. */
export function fixtureNames(set: ReplayFixtureSet): string[] {
  if (set === 'small') return [...SMALL_FIXTURES]
  return readdirSync(fixturesDir())
    .filter((d) => isFixtureDir(join(fixturesDir(), d)))
    .sort((a, b) => Number(a) - Number(b))
}

function fixturesDir(): string {
  const dir = mainnetFixturesDir()
  if (dir === undefined) throw new ConfigError('replay mode needs the mainnet block fixtures (test/fixtures/mainnet-blocks), and this copy has none')
  return dir
}

/**
 * Fixtures and their sequential references, loaded once per process (neither depends on the
 * seed), the most recently used kept: all of the small pool, a bounded part of all 47.
 */
const CACHED_FIXTURES_MAX = 12
const fixtures = new Map<string, Promise<ReplayFixture>>()
const references = new Map<string, Promise<ReferenceResult>>()

function cached<T>(cache: Map<string, Promise<T>>, name: string, load: () => Promise<T>): Promise<T> {
  let value = cache.get(name)
  if (value === undefined) value = load()
  cache.delete(name)
  cache.set(name, value)
  if (cache.size > CACHED_FIXTURES_MAX) cache.delete(cache.keys().next().value!)
  return value
}

export function fixtureOf(name: string): Promise<ReplayFixture> {
  return cached(fixtures, name, () => {
    const dir = join(fixturesDir(), name)
    if (!isFixtureDir(dir)) throw new ConfigError(`no fixture block ${name} in ${fixturesDir()}`, { hint: `one of: ${fixtureNames('all').join(', ')}` })
    return loadFixture(dir)
  })
}

export function referenceOf(name: string): Promise<ReferenceResult> {
  return cached(references, name, () => fixtureOf(name).then(runReference))
}

/** The replay configuration a seed draws (after its fault rates): blocks, workers, shards, trie. */
export function drawReplayConfig(world: SimWorld, options: SimOptions): ReplayConfig {
  const rng = world.rng
  const pool = fixtureNames(options.fixtures ?? 'small')
  const count = rng() < 0.75 ? 1 : 2
  // Drawn even when --block overrides them, so the rest of the seed's run stays the same.
  const blocks = Array.from({ length: count }, () => pool[Math.floor(rng() * pool.length)]!)
  const workers = 1 + Math.floor(rng() * 3)
  const shards = 1 + Math.floor(rng() * 4)
  const trie = rng() < 0.5 ? 'warm' : 'lazy'
  return {
    mode: 'replay',
    blocks: options.block !== undefined ? [options.block] : blocks,
    workers: options.workers ?? workers,
    shards,
    trie,
  }
}

export async function runReplaySeed(options: SimOptions): Promise<SimResult> {
  const start = runStart()
  const world = createWorld(options)
  world.reserveAimedCrash = true
  const config = drawReplayConfig(world, options)
  const loaded = await Promise.all(config.blocks.map(async (name) => ({ name, fixture: await fixtureOf(name), reference: await referenceOf(name) })))
  world.log('sim', 'start', `seed=${options.seed} replay blocks=${config.blocks.join(',')} workers=${config.workers} shards=${config.shards} trie=${config.trie}`)
  const failures: AuditFailure[] = []
  const lastErrors: Record<string, string> = {}
  let sealed = 0
  let inputs = 0
  for (const [i, { name, fixture, reference }] of loaded.entries()) {
    if (i > 0) world.restartFaults(options.noFaults === true ? 0 : (options.faultsUntilMs ?? 20_000))
    const episode = await replayBlock(world, options, config, fixture, reference)
    for (const f of episode.failures) failures.push({ ...f, message: `fixture ${name}: ${f.message}` })
    Object.assign(lastErrors, episode.lastErrors)
    if (episode.sealed) sealed++
    inputs += fixture.txs.length
  }
  world.log('sim', 'audited', failures.map((f) => f.invariant).join(',') || 'ok')
  return simResult(world, start, { mode: 'replay', config, blocks: sealed, inputs, lastErrors, failures })
}

/** One fixture block through the simulated roles on its own store and queues, then its audit. */
async function replayBlock(world: SimWorld, options: SimOptions, config: ReplayConfig, fixture: ReplayFixture, reference: ReferenceResult): Promise<{ failures: AuditFailure[]; sealed: boolean; lastErrors: Record<string, string> }> {
  const tStart = performance.now()
  const store = new ReplayStore()
  store.reset(fixture.preState)
  const { head: base, trie } = await seedReplayStore(store, fixture)
  if (config.trie === 'lazy') await saveTrieNodes(store, trie)
  const number = fixture.number
  world.log('sim', 'replay', `block ${number} txs=${fixture.txs.length} (${fixture.hardfork})`)

  const h = new SimHarness(world, store, { dropApplyWrite: options.dropApplyWrite === true })
  const clock = world.clock

  /**
   * The sequencer in replay: plan the block in its own order once, and while it is not sealed,
   * send the stored plan's shard messages again every few seconds (as `Sequencer.planNext`
   * does for a plan that exists: a crash between storing and dispatching, a lost message).
   */
  const sequencerBody = async (ctx: RoleCtx): Promise<void> => {
    const p = h.ports(ctx)
    const records = new Records(p.kv)
    let sentAtMs: number | undefined
    while (!world.stopped) {
      try {
        const head = await records.getHead()
        if (head === undefined) throw new ConfigError('the replay store has no head')
        if (BigInt(head.number) >= number || (sentAtMs !== undefined && clock.now() - sentAtMs < 3_000)) {
          await clock.sleep(BigInt(head.number) >= number ? 200 : 50)
          continue
        }
        const existing = await records.getPlanMeta(number)
        if (existing !== undefined) {
          await dispatchPlan(p.shards, existing)
          world.log(ctx.role, 'dispatch', `block ${number} again (${existing.shardParts.length} shards)`)
        } else {
          const { meta } = await planOrderedBlock(
            { records, shardQueue: p.shards, clock, templates: h.templates, planner: simAccelerators().planner },
            { chain: MAINNET, env: fixture.env, txs: fixture.txs, head, shardCount: config.shards },
          )
          world.log(ctx.role, 'planOrderedBlock', `block ${number} txs=${meta.txCount} shards=${meta.shardParts.length}`)
        }
        sentAtMs = clock.now()
      } catch (error) {
        h.rethrowIfDead(ctx, error)
        h.noteError(ctx, 'plan', error)
        await clock.sleep(100)
      }
    }
  }

  // Warm: the pre-state trie kept in memory across restarts (parevm replay). Lazy: a fresh
  // trie over the stored nodes per incarnation (the AWS coordinator runtime).
  const trieFor = (kv: KeyValueStore): WorldStateTrie => (config.trie === 'warm' ? trie : WorldStateTrie.lazy(new KvTrieNodeStore(kv)))

  const records = new Records(store)
  const livenessBoundMs = options.livenessBoundMs ?? 120_000
  const monitorBody = async (): Promise<void> => {
    while (!world.stopped) {
      await clock.sleep(250)
      const head = (await records.getHead())!
      const queued = await h.queued()
      if (BigInt(head.number) >= number && queued === 0) {
        world.log('monitor', 'settled', `block ${number} sealed`)
        world.stopped = true
        return
      }
      if (world.now() > world.faultsUntilMs + livenessBoundMs) {
        const errors = Object.entries(h.lastErrors).map(([role, e]) => `${role}: ${e}`).join('; ')
        h.observed.liveness = {
          invariant: 'liveness',
          message: `${world.now() - world.faultsUntilMs} ms after the faults stopped, block ${number} is ${BigInt(head.number) >= number ? 'sealed' : 'not sealed'} and ${queued} messages are queued${errors === '' ? '' : `; last errors: ${errors}`}`,
          event: world.events.length - 1,
        }
        world.log('monitor', 'liveness bound passed')
        world.stopped = true
        return
      }
    }
  }

  world.stopped = false
  const steps = await h.drive(
    [
      h.supervise('sequencer', true, sequencerBody),
      h.supervise('coordinator', true, h.coordinatorBody(trieFor)),
      ...Array.from({ length: config.workers }, (_, i) => h.supervise(`worker${i}`, true, h.workerBody(i))),
      h.redriveBody(),
      monitorBody(),
    ],
    options.seed,
  )
  const tAudit = performance.now()
  const failures = await auditReplay({ world, kv: store, fixture, reference, base, observed: h.observed })
  if (process.env.PAREVM_SIM_PROFILE === '1') console.log(`seed ${options.seed} block ${number}: run ${(tAudit - tStart).toFixed(0)} ms, audit ${(performance.now() - tAudit).toFixed(0)} ms, ${world.events.length} events, ${steps} steps`)
  return { failures, sealed: h.observed.journals.has(number.toString()), lastErrors: h.lastErrors }
}
