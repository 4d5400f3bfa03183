import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'

import { createChainCommon } from '../../shared/chain/common.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { sharedTxCommon } from '../../shared/exec/common-for.ts'
import { toHex } from '../../shared/hex.ts'
import { decodeRawTx } from '../../shared/intake/decode.ts'
import { txFieldsFromRaw } from '../../shared/intake/tx-fields.ts'
import {
  chunkBySize,
  decodePlannedTxs,
  decodeStagedTxs,
  encodePlannedTxs,
  encodeStagedTxs,
  PartsBySize,
  plannedTxOf,
  type PlannableTx,
  type PlannedTx,
  type PlannedTxFields,
  type StagedTx,
} from '../../shared/pipeline/codec.ts'
import { decodeBlockTransactions, rpcBlockSchema } from '../../shared/replay/fixture.ts'
import { addressOf, CHAIN_ID, signTx, type TxSpec } from '../helpers/chain.ts'

const FIXTURES = join(import.meta.dirname, '../fixtures/mainnet-blocks')

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

const plannedFields: fc.Arbitrary<PlannedTxFields> = fc.oneof(
  fc.record({ type: fc.constantFrom(0, 1), nonce: big, to: fc.option(fc.uint8Array({ minLength: 20, maxLength: 20 }), { nil: undefined }), gasPrice: big }),
  fc.record({ type: fc.constantFrom(2, 3, 4), nonce: big, to: fc.option(fc.uint8Array({ minLength: 20, maxLength: 20 }), { nil: undefined }), maxFeePerGas: big, maxPriorityFeePerGas: big }),
)

const plannedTx: fc.Arbitrary<PlannedTx> = fc.record({
  index: fc.nat({ max: 1_000_000 }),
  raw: fc.uint8Array({ minLength: 1, maxLength: 300 }),
  hash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  sender: fc.uint8Array({ minLength: 20, maxLength: 20 }),
  senderPubKey: fc.uint8Array({ minLength: 64, maxLength: 64 }),
  fields: plannedFields,
  reads: fc.array(key, { maxLength: 10 }),
  writes: fc.array(key, { maxLength: 6 }),
})

// Compare through plain arrays: decoded values are views, encoded ones may be copies.
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `n${v}` : v instanceof Map ? [...v] : v instanceof Uint8Array ? Array.from(v) : v)))

describe('parts by size', () => {
  it('made one item at a time are the parts chunkBySize makes of the whole list', () => {
    const encode = (chunk: number[]): Uint8Array => Uint8Array.from(chunk.map((n) => n % 256))
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 120 }), { maxLength: 60 }), fc.integer({ min: 1, max: 300 }), (sizes, maxBytes) => {
        const parts = new PartsBySize<number>((n) => n, maxBytes, encode)
        for (const n of sizes) parts.add(n)
        expect(parts.finish()).toEqual(chunkBySize(sizes, (n) => n, maxBytes).map(encode))
        // Finished once: the same parts again, and nothing more may be added.
        expect(parts.finish()).toHaveLength(Math.max(1, chunkBySize(sizes, (n) => n, maxBytes).length))
        expect(() => parts.add(1)).toThrow(/finished/)
      }),
      { numRuns: 500 },
    )
  })
})

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
  it('hex of any bytes, through any view, is the bytes in lowercase hex', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 300 }), fc.nat({ max: 300 }), (bytes, a, b) => {
      const view = bytes.subarray(Math.min(a, b), Math.max(a, b))
      expect(toHex(view)).toBe(Buffer.from(view).toString('hex'))
    }), { numRuns: 500 })
  })
  it('rejects truncated and foreign records', () => {
    const bytes = encodeStagedTxs([])
    expect(() => decodePlannedTxs(bytes)).toThrow(/malformed plan record/)
    const one = encodePlannedTxs([
      { index: 1, raw: Uint8Array.of(1, 2, 3), hash: new Uint8Array(32), sender: new Uint8Array(20), senderPubKey: new Uint8Array(64), fields: { type: 0, nonce: 0n, to: undefined, gasPrice: 1n }, reads: [], writes: [] },
    ])
    expect(() => decodePlannedTxs(one.subarray(0, one.length - 3))).toThrow(/truncated/)
    expect(() => decodePlannedTxs(Uint8Array.of(...one, 0))).toThrow(/trailing bytes/)
  })

  // The coordinator builds receipts and rejections from the fields a plan carries, never from
  // the RLP: they must be what the RLP says, for every transaction type.
  it('a plan carries the hash, the sender and the fields that the raw transaction has', async () => {
    const decoded: PlannableTx[] = []
    for (const block of ['18085863', '19923400']) {
      const json = JSON.parse(gunzipSync(readFileSync(join(FIXTURES, block, 'block.json.gz'))).toString('utf8')) as unknown
      decoded.push(...(await decodeBlockTransactions(rpcBlockSchema.parse(json))))
    }
    const common = sharedTxCommon(createChainCommon(CHAIN_ID, 'cancun'))
    const specs: TxSpec[] = [0, 1, 2].map((type) => ({ from: 0, nonce: 7, to: addressOf(1), data: '0xa9059cbb00', gasLimit: 100_000n, type: type as 0 | 1 | 2 }))
    specs.push({ from: 0, nonce: 7, data: '0x6000', gasLimit: 100_000n }) // a creation: no recipient
    for (const spec of specs) {
      const d = decodeRawTx(signTx(spec), { common, blockGasLimit: 30_000_000n })
      if (!d.ok) throw new Error(d.rejection.reason)
      decoded.push(d.tx)
    }
    const types = new Set<number>()
    decoded.forEach((d, index) => {
      const [planned] = decodePlannedTxs(encodePlannedTxs([plannedTxOf(index, d, { reads: [], writes: [] })]))
      const fromRaw = txFieldsFromRaw(d.raw)
      types.add(fromRaw.type)
      expect(toHex(planned!.hash)).toBe(toHex(keccak256(d.raw)))
      expect(toHex(planned!.sender)).toBe(toHex(d.sender))
      expect(plain(planned!.fields)).toEqual(
        plain({
          type: fromRaw.type,
          nonce: fromRaw.nonce,
          to: fromRaw.to,
          ...(fromRaw.gasPrice !== undefined ? { gasPrice: fromRaw.gasPrice } : { maxFeePerGas: fromRaw.maxFeePerGas, maxPriorityFeePerGas: fromRaw.maxPriorityFeePerGas }),
        }),
      )
    })
    expect([...types].sort()).toEqual([0, 1, 2, 3])
  })
})
