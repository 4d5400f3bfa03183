/**
 * The coordinator's load step: a block's shards decoded into arrays by position
 * (shared/coordinator/load.ts). Decoding pauses for a turn of the event loop every few dozen
 * transactions (the embedded workers' store calls are served on the same thread), so a shard
 * is marked as taken before its first pause: taking it again meanwhile is refused.
 */
import { describe, expect, it } from 'vitest'

import { InvariantError, NotReadyError } from '../../shared/errors.ts'
import { BlockInputs, type FetchedShard } from '../../shared/coordinator/load.ts'
import { encodePlannedTxs, encodeStagedTxs, type PlannedTx, type StagedTx } from '../../shared/pipeline/codec.ts'

import type { PlanMeta } from '../../shared/store/records.ts'

const planned = (index: number): PlannedTx => ({
  index,
  raw: Uint8Array.of(0xc0, index & 255),
  hash: new Uint8Array(32).fill(index & 255),
  sender: new Uint8Array(20).fill(1),
  senderPubKey: new Uint8Array(64).fill(2),
  fields: { type: 0, nonce: BigInt(index), to: new Uint8Array(20).fill(3), gasPrice: 7n },
  reads: [`${'aa'.repeat(19)}${(index & 255).toString(16).padStart(2, '0')}`],
  writes: [],
})

const staged = (index: number): StagedTx => ({
  index,
  exec: {
    valid: true,
    status: 1,
    gasUsed: 21_000n,
    blockGasUsed: 21_000n,
    blobGasUsed: 0n,
    logs: [],
    bloom: new Uint8Array(256),
    access: { reads: new Map(), writes: new Map([[`${'bb'.repeat(19)}01`, Uint8Array.of(index & 255)]]), codes: new Map(), feeDelta: BigInt(index) },
  },
})

/** Shard s of `shards` holds the positions p with p % shards === s (interleaved, as small blocks are packed). */
function shardOf(txCount: number, shards: number, s: number, parts = 2): FetchedShard {
  const positions = Array.from({ length: txCount }, (_, p) => p).filter((p) => p % shards === s)
  const half = Math.ceil(positions.length / parts)
  const chunks = Array.from({ length: parts }, (_, k) => positions.slice(k * half, (k + 1) * half))
  return {
    shard: s,
    stagedParts: parts,
    plan: chunks.map((c) => encodePlannedTxs(c.map(planned))),
    staged: chunks.map((c) => encodeStagedTxs(c.map(staged))),
  }
}

const meta = (txCount: number, shards: number): PlanMeta => ({ block: '5', txCount, shardParts: Array(shards).fill(2) }) as unknown as PlanMeta

describe('BlockInputs (load)', () => {
  it('two shards of 300 interleaved positions: every position planned and staged in its place, the block complete', async () => {
    const inputs = new BlockInputs(meta(300, 2))
    await inputs.take(shardOf(300, 2, 1))
    expect(inputs.has(1, 2)).toBe(true)
    expect(inputs.has(0, 2)).toBe(false)
    expect(() => inputs.assertComplete()).toThrow(NotReadyError)
    await inputs.take(shardOf(300, 2, 0))
    inputs.assertComplete()
    for (let p = 0; p < 300; p++) {
      expect(inputs.planned[p]!.index).toBe(p)
      expect(inputs.planned[p]!.fields.nonce).toBe(BigInt(p))
      expect(inputs.staged[p]!.index).toBe(p)
      expect(inputs.staged[p]!.exec.access.feeDelta).toBe(BigInt(p))
    }
  })

  it('a shard taken again while its decoding pauses, or after, is refused; so is a position in two shards', async () => {
    const inputs = new BlockInputs(meta(300, 2))
    const first = inputs.take(shardOf(300, 2, 0))
    // The first take is paused at a turn of the event loop (300 positions: several pauses).
    await expect(inputs.take(shardOf(300, 2, 0))).rejects.toThrow(InvariantError)
    await first
    expect(inputs.has(0, 2)).toBe(true)
    await expect(inputs.take(shardOf(300, 2, 0))).rejects.toThrow(/taken in twice/)

    const overlapping = new BlockInputs(meta(300, 2))
    await overlapping.take(shardOf(300, 2, 0))
    // Shard 1 claiming shard 0's positions (a broken plan).
    await expect(overlapping.take({ ...shardOf(300, 2, 0), shard: 1 })).rejects.toThrow(/planned twice/)
  })

  it('a position beyond the plan is refused', async () => {
    const inputs = new BlockInputs(meta(100, 2))
    await expect(inputs.take(shardOf(300, 2, 1))).rejects.toThrow(/beyond the plan/)
  })
})
