/**
 * The ingress path: message bodies through the sequencer of an inline embedded cluster (memory
 * queue, verification on). Bad JSON, JSON of every wrong shape, well-formed envelopes of junk
 * raw transactions, valid transactions (some sent twice), oversize bodies (the queue refuses
 * them) and oversize transactions through `submit` (one `oversize` rejection each).
 *
 * The model is written from the envelope's documentation, not from its zod schema: a body is an
 * envelope when it is a JSON object with exactly `raw` (hex) or `txs` (1..1000 hex strings), and
 * optionally a finite number `sentAtMs`. Each other (distinct) body is one `malformed-envelope`
 * rejection, its copies dropped duplicates; each raw transaction in an envelope is one outcome;
 * every valid transaction is included.
 */
import { EmbeddedCluster } from '../../shared/cluster/embedded.ts'
import { ingressMessageSchema } from '../../shared/pipeline/messages.ts'
import { QUEUE_LIMITS } from '../../shared/ports/queue.ts'
import { ParevmError } from '../../shared/errors.ts'
import { signTx, testGenesis } from '../helpers/chain.ts'
import { RawTxGenerator, validPool } from './raw-tx.ts'
import { Rng } from './rng.ts'
import { count, failure, newStats, type FuzzFailure, type TargetOptions, type TargetRun } from './types.ts'

import type { GenesisState } from '../../shared/chain/genesis.ts'

const RAW = /^(0x)?[0-9a-fA-F]+$/

/**
 * A raw transaction string an envelope carries: hex. Whether a string that is not hex makes the
 * whole envelope malformed or is one `malformed-hex` rejection of its own is the schema's
 * choice (test/sim/findings.test.ts asks for the latter in batches), so that one case asks it.
 */
function rawOk(field: 'raw' | 'txs', raw: string): boolean {
  if (RAW.test(raw)) return true
  return ingressMessageSchema.safeParse(field === 'raw' ? { raw } : { txs: [raw] }).success
}

/** The documented envelope, independently of shared/pipeline/messages.ts (but see rawOk). */
export function envelopeRaws(body: string): string[] | undefined {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return undefined
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  const o = value as Record<string, unknown>
  const keys = Object.keys(o)
  if ('sentAtMs' in o && (typeof o.sentAtMs !== 'number' || !Number.isFinite(o.sentAtMs))) return undefined
  const rest = keys.filter((k) => k !== 'sentAtMs')
  if (rest.length !== 1) return undefined
  if (rest[0] === 'raw') return typeof o.raw === 'string' && rawOk('raw', o.raw) ? [o.raw] : undefined
  if (rest[0] === 'txs') {
    const txs = o.txs
    if (!Array.isArray(txs) || txs.length < 1 || txs.length > 1000) return undefined
    return txs.every((t) => typeof t === 'string' && rawOk('txs', t)) ? (txs as string[]) : undefined
  }
  return undefined
}

interface Body {
  kind: string
  body: string
}

const JSON_JUNK = ['', ' ', 'null', 'true', '0', '-1', '1e999', '"0x02"', '[]', '{}', '[{}]', '{"raw"}', '{"raw":}', '{"raw":"0x', '{raw:"0x00"}', "{'raw':'0x00'}", '{"raw":"0x00",}', '\u0000', '\ufeff{"raw":"0x00"}', 'NaN', '{"raw":"0x00"}{"raw":"0x00"}', '{"txs":[,]}']

function randomJson(rng: Rng, depth = 0): unknown {
  const r = rng.int(depth > 3 ? 5 : 8)
  if (r === 0) return null
  if (r === 1) return rng.chance(0.5)
  if (r === 2) return rng.pick([0, -1, 1.5, 2 ** 53 + 2, 1e308, -0])
  if (r === 3) return rng.pick(['', '0x', '0x00', 'raw', 'txs', '\u0000', '😀'.repeat(rng.int(5))])
  if (r === 4) return Buffer.from(rng.bytes(rng.int(40))).toString('hex')
  if (r === 5) return Array.from({ length: rng.length(6) }, () => randomJson(rng, depth + 1))
  const o: Record<string, unknown> = {}
  for (let i = rng.length(4); i >= 0; i--) o[rng.pick(['raw', 'txs', 'sentAtMs', 'RAW', 'tx', '', '__proto__', 'constructor', 'a'])] = randomJson(rng, depth + 1)
  return o
}

export class EnvelopeGenerator {
  private readonly raws: RawTxGenerator

  constructor(
    private readonly rng: Rng,
    /** Valid transactions of this run, each to be included. */
    private readonly valid: string[],
  ) {
    this.raws = new RawTxGenerator(rng, validPool(rng, 16))
  }

  /** A junk raw transaction that is hex (so the envelope is well formed) and not too big. */
  junkHex(): string {
    for (;;) {
      const r = this.raws.next()
      if (r.input.length > 20_000 || !RAW.test(r.input)) continue
      return r.input
    }
  }

  private validOrJunk(): string {
    return this.valid.length > 0 && this.rng.chance(0.2) ? this.rng.pick(this.valid) : this.junkHex()
  }

  next(): Body {
    const rng = this.rng
    const r = rng.int(100)
    const sent = rng.chance(0.3) ? `,"sentAtMs":${rng.pick(['1', '1.5', '-3', '1e999', '"1"', 'null', '[]', '0'])}` : ''
    if (r < 15) {
      const text = rng.chance(0.5) ? rng.pick(JSON_JUNK) : Buffer.from(rng.bytes(rng.length(200))).toString(rng.pick(['latin1', 'utf8', 'base64'] as const))
      return { kind: 'bad-json', body: text }
    }
    if (r < 25) {
      // A well-formed envelope cut short, or with a character changed.
      const good = JSON.stringify({ raw: this.junkHex() })
      const cut = rng.chance(0.5) ? good.slice(0, rng.int(good.length)) : good.replace(/./g, (c) => (rng.chance(0.02) ? rng.pick(['"', '{', '}', ',', ':', '\\', 'x']) : c))
      return { kind: 'bad-json', body: cut }
    }
    if (r < 45) return { kind: 'wrong-shape', body: JSON.stringify(randomJson(rng)) ?? 'null' }
    if (r < 60) {
      const shapes = [
        () => `{"raw":${rng.pick(['5', 'null', 'true', '[]', '{}', '""', '"0x"', '"zz"', '"0X02"', '" 0x02"', `["${this.junkHex()}"]`])}${sent}}`,
        () => `{"txs":${rng.pick(['"x"', '5', 'null', '{}', '[]', '[5]', '[null]', '[[]]', `["${this.junkHex()}",5]`, `["${this.junkHex()}","g"]`])}${sent}}`,
        () => `{"raw":"${this.junkHex()}","txs":["${this.junkHex()}"]}`,
        () => `{"raw":"${this.junkHex()}","extra":1}`,
        () => `{"raw":"${this.junkHex()}","__proto__":{}}`,
        () => `[{"raw":"${this.junkHex()}"}]`,
        () => `{"envelope":{"raw":"${this.junkHex()}"}}`,
        () => `{"txs":${JSON.stringify(Array.from({ length: 1001 }, () => '0x00'))}}`,
        () => `{"raw":"${this.junkHex()}"${sent}}`,
      ]
      return { kind: 'wrong-shape', body: rng.pick(shapes)() }
    }
    if (r < 85) return { kind: 'raw-envelope', body: `{"raw":"${this.validOrJunk()}"${sent}}` }
    const n = rng.chance(0.1) ? rng.range(100, 1000) : rng.range(1, 12)
    const txs = Array.from({ length: n }, () => (rng.chance(0.05) ? '0x00' : this.validOrJunk()))
    // Keep the body within the queue's limit (oversize bodies are their own input).
    while (txs.length > 1 && JSON.stringify(txs).length > QUEUE_LIMITS.messageBytes - 100) txs.pop()
    return { kind: 'txs-envelope', body: `{"txs":${JSON.stringify(txs)}${sent}}` }
  }
}

const ACCOUNTS = 64

let genesisCache: GenesisState | undefined

/** One genesis for every cluster run (each cluster gets a trie of its own: test/fuzz/found-bugs.test.ts). */
function fuzzGenesis(): GenesisState {
  genesisCache ??= testGenesis({ accounts: ACCOUNTS })
  return genesisCache
}

/** One cluster run of `bodies` inputs; what went wrong, if anything. */
async function runBatch(rng: Rng, seed: number, firstIndex: number, bodies: number, stats: ReturnType<typeof newStats>): Promise<FuzzFailure[]> {
  const failures: FuzzFailure[] = []
  // Valid transactions: distinct funded senders, nonce 0, each sent at least once.
  const validCount = rng.range(1, 24)
  const offset = rng.int(ACCOUNTS - validCount + 1)
  const valid = Array.from({ length: validCount }, (_, i) => signTx({ from: offset + i, nonce: 0, to: `0x${'11'.repeat(20)}`, value: BigInt(1 + rng.int(1000)), type: rng.pick([0, 1, 2] as const) }))
  const gen = new EnvelopeGenerator(rng, valid)
  const list: Body[] = valid.map((raw) => ({ kind: 'valid', body: JSON.stringify({ raw }) }))
  for (let i = 0; i < bodies - validCount; i++) list.push(gen.next())
  // Shuffle (the valid ones go anywhere).
  for (let i = list.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[list[i], list[j]] = [list[j]!, list[i]!]
  }
  // A malformed body is one input however often it is sent: its first copy is a
  // `malformed-envelope` rejection, the others are dropped duplicates (counted as outcomes).
  const malformedBodies = new Set<string>()
  let expectedOutcomes = 0
  for (const b of list) {
    count(stats.byKind, b.kind)
    const raws = envelopeRaws(b.body)
    if (raws === undefined) malformedBodies.add(b.body)
    expectedOutcomes += raws?.length ?? 1
  }
  const expectedMalformed = malformedBodies.size
  const cluster = await EmbeddedCluster.start({ genesis: fuzzGenesis(), workers: 1, threads: false, blockSize: 200, verify: true, nonceGapHoldMs: 0 })
  const describe = `${list.length} bodies (cluster run from input ${firstIndex})`
  const sample = list.map((b) => b.body.slice(0, 120)).join('\n').slice(0, 200)
  try {
    // Oversize bodies: the queue refuses them (no message, nothing to reject).
    const huge = `{"raw":"0x${'ab'.repeat(QUEUE_LIMITS.messageBytes / 2 + rng.int(1000))}"}`
    let refused = false
    try {
      await cluster.ingress.send([{ body: huge }])
    } catch (error) {
      refused = error instanceof ParevmError
    }
    stats.inputs++
    count(stats.byKind, 'oversize-body')
    if (!refused) failures.push(failure(stats.target, seed, firstIndex, 'oversize-body', huge, 'the ingress queue accepted a body over its size limit'))
    // Oversize transactions through submit: one `oversize` rejection each.
    const oversize = [`0x02${'00'.repeat(QUEUE_LIMITS.messageBytes / 2 + rng.int(1000))}`]
    const rejected = await cluster.submit(oversize)
    stats.inputs++
    count(stats.byKind, 'oversize-submit')
    if (rejected.length !== 1 || rejected[0]!.code !== 'oversize') failures.push(failure(stats.target, seed, firstIndex, 'oversize-submit', oversize[0]!, `submit gave ${JSON.stringify(rejected.map((r) => r.code))}, expected one oversize`))
    expectedOutcomes += rejected.length
    for (let i = 0; i < list.length; i += 10) await cluster.ingress.send(list.slice(i, i + 10).map((b) => ({ body: b.body })))
    stats.inputs += list.length
    const summary = await cluster.runUntilIdle()
    for (const [code, n] of Object.entries(summary.rejectedByCode)) count(stats.rejectedByCode, code, n)
    stats.accepted += summary.included
    const problems: string[] = []
    const malformed = summary.rejectedByCode['malformed-envelope'] ?? 0
    if (malformed !== expectedMalformed) problems.push(`${malformed} malformed-envelope rejections, expected ${expectedMalformed}`)
    if (summary.included !== validCount) problems.push(`${summary.included} included, expected the ${validCount} valid transactions`)
    const outcomes = summary.included + summary.rejected + summary.duplicatesDropped
    if (outcomes !== expectedOutcomes) problems.push(`${outcomes} outcomes (included ${summary.included}, rejected ${summary.rejected}, duplicates ${summary.duplicatesDropped}), expected ${expectedOutcomes}`)
    if (summary.verifiedBlocks !== summary.blocks) problems.push(`${summary.verifiedBlocks} of ${summary.blocks} blocks verified`)
    if (summary.deadLettered !== 0) problems.push(`${summary.deadLettered} messages dead-lettered`)
    for (const p of problems) failures.push(failure(stats.target, seed, firstIndex, 'batch', sample, `${describe}: ${p}`))
  } catch (error) {
    failures.push(failure(stats.target, seed, firstIndex, 'batch', sample, error))
  } finally {
    await cluster.stop()
  }
  return failures
}

export async function fuzzEnvelopes(options: TargetOptions & { perRun?: number }): Promise<TargetRun> {
  const stats = newStats('ingress envelopes')
  const failures: FuzzFailure[] = []
  const rng = Rng.derive(options.seed, 2)
  const perRun = options.perRun ?? 500
  const t0 = performance.now()
  for (let done = 0; done < options.count; ) {
    const n = Math.max(30, Math.min(perRun, options.count - done))
    const before = performance.now()
    failures.push(...(await runBatch(rng, options.seed, done, n - 2, stats)))
    stats.slowestMs = Math.max(stats.slowestMs, performance.now() - before)
    done += n
    options.onProgress?.(Math.min(done, options.count))
  }
  stats.ms = performance.now() - t0
  return { stats, failures }
}
