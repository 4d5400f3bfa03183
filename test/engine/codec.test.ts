import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { decodePlannedTxs, decodeStagedTxs, encodePlannedTxs, encodeStagedTxs, type PlannedTx, type StagedTx } from '../../shared/pipeline/codec.ts'
import { toHex } from '../../shared/hex.ts'

const hexKey = (bytes: Uint8Array): string => toHex(bytes)
const key = fc.oneof(
  fc.uint8Array({ minLength: 20, maxLength: 20 }).map(hexKey),
  fc.uint8Array({ minLength: 52, maxLength: 52 }).map(hexKey),
  fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => `w${hexKey(b)}`),
)
const value = fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { nil: null })
const big = fc.bigInt({ min: 0n, max: (1n << 256n) - 1n })

const stagedTx: fc.Arbitrary<StagedTx> = fc.record({
  index: fc.nat({ max: 1_000_000 }),
  valid: fc.boolean(),
  status: fc.constantFrom(0 as const, 1 as const),
  gasUsed: big,
  blockGasUsed: big,
  blobGasUsed: big,
  logs: fc.array(fc.tuple(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 4 }), fc.uint8Array({ maxLength: 100 })), { maxLength: 3 }),
  bloom: fc.uint8Array({ minLength: 256, maxLength: 256 }),
  created: fc.option(fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => `0x${hexKey(b)}`), { nil: undefined }),
  invalid: fc.option(fc.tuple(fc.constantFrom('nonce-gap' as const, 'insufficient-balance' as const), fc.string()), { nil: undefined }),
  reads: fc.array(fc.tuple(key, value, fc.nat({ max: 2 ** 52 })), { maxLength: 12 }),
  writes: fc.array(fc.tuple(key, value), { maxLength: 8 }),
  codes: fc.array(fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hexKey), fc.uint8Array({ minLength: 1, maxLength: 200 })), { maxLength: 2 }),
  feeDelta: big,
}).map((t) => {
  const exec: StagedTx['exec'] = {
    valid: t.valid,
    status: t.status,
    gasUsed: t.gasUsed,
    blockGasUsed: t.blockGasUsed,
    blobGasUsed: t.blobGasUsed,
    logs: t.logs,
    bloom: t.logs.length > 0 ? t.bloom : new Uint8Array(256),
    access: {
      reads: new Map(t.reads.map(([k, v, version]) => [k, { value: v, version }])),
      writes: new Map(t.writes),
      codes: new Map(t.codes),
      feeDelta: t.feeDelta,
    },
  }
  if (t.created !== undefined) exec.createdAddress = t.created
  if (t.invalid !== undefined) {
    exec.invalidCode = t.invalid[0]
    if (t.invalid[1] !== '') exec.invalidReason = t.invalid[1]
  }
  return { index: t.index, exec }
})

const plannedTx: fc.Arbitrary<PlannedTx> = fc.record({
  index: fc.nat({ max: 1_000_000 }),
  raw: fc.uint8Array({ minLength: 1, maxLength: 300 }),
  senderPubKey: fc.uint8Array({ minLength: 64, maxLength: 64 }),
  reads: fc.array(key, { maxLength: 10 }),
  writes: fc.array(key, { maxLength: 6 }),
})

// Compare through plain arrays: decoded values are views, encoded ones may be copies.
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `n${v}` : v instanceof Map ? [...v] : v instanceof Uint8Array ? Array.from(v) : v)))

describe('pipeline codecs', () => {
  it('staged results round-trip exactly', () => {
    fc.assert(fc.property(fc.array(stagedTx, { maxLength: 8 }), (txs) => {
      expect(plain(decodeStagedTxs(encodeStagedTxs(txs)))).toEqual(plain(txs))
    }), { numRuns: 200 })
  })
  it('shard plans round-trip exactly', () => {
    fc.assert(fc.property(fc.array(plannedTx, { maxLength: 8 }), (txs) => {
      expect(plain(decodePlannedTxs(encodePlannedTxs(txs)))).toEqual(plain(txs))
    }), { numRuns: 200 })
  })
  it('rejects truncated and foreign records', () => {
    const bytes = encodeStagedTxs([])
    expect(() => decodePlannedTxs(bytes)).toThrow(/malformed plan record/)
    const one = encodePlannedTxs([{ index: 1, raw: Uint8Array.of(1, 2, 3), senderPubKey: new Uint8Array(64), reads: [], writes: [] }])
    expect(() => decodePlannedTxs(one.subarray(0, one.length - 3))).toThrow(/truncated/)
  })
})
