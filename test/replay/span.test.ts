/**
 * Records larger than one store item (DynamoDB: 400 KB). Mainnet block 15537394 has a
 * transaction with 10,001 logs: its staged result is 1.5 MB and so is its receipt. Such values
 * span items; staging stays put-if-absent and complete-or-absent, and cleanup removes every item.
 */
import { RLP } from '@ethereumjs/rlp'
import { describe, expect, it } from 'vitest'

import { bytesEqual } from '../../shared/hex.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { ITEM_VALUE_MAX, Records, spanItems, type PlanMeta, type ReceiptRecord } from '../../shared/store/records.ts'

function bigPart(bytes: number, seed: number): Uint8Array {
  const filler = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i++) filler[i] = (i * 31 + seed) & 0xff
  return RLP.encode([[Uint8Array.of(seed), filler]])
}

function receipt(logs: number): ReceiptRecord {
  return {
    kind: 'receipt',
    txHash: `0x${'ab'.repeat(32)}`,
    block: '15537394',
    blockHash: `0x${'cd'.repeat(32)}`,
    index: 25,
    from: `0x${'01'.repeat(20)}`,
    to: `0x${'02'.repeat(20)}`,
    contractAddress: null,
    status: 1,
    cumulativeGasUsed: '0x1',
    gasUsed: '0x1',
    effectiveGasPrice: '0x1',
    logsBloom: `0x${'00'.repeat(256)}`,
    logs: Array.from({ length: logs }, (_, i) => ({ address: `0x${'03'.repeat(20)}`, topics: [`0x${i.toString(16).padStart(64, '0')}`], data: `0x${'ff'.repeat(64)}` })),
    type: 2,
    includedAtMs: 1,
  }
}

describe('values larger than a store item', () => {
  it('split into items under the item limit and join back', () => {
    const value = bigPart(3 * ITEM_VALUE_MAX, 1)
    const items = spanItems({ table: 'staged', pk: '1', sk: 'shard#0#0' }, value, 0)
    expect(items.length).toBe(4)
    expect(items.map((i) => i.sk)).toEqual(['shard#0#0', 'shard#0#0~1', 'shard#0#0~2', 'shard#0#0~3'])
    for (const item of items) expect(item.value.length).toBeLessThanOrEqual(ITEM_VALUE_MAX)
    expect(spanItems({ table: 'staged', pk: '1', sk: 's' }, bigPart(1000, 2), 0)).toHaveLength(1)
  })

  it('are staged once, read back whole, and dropped with the block', async () => {
    const kv = new MemoryKeyValueStore()
    const records = new Records(kv)
    const parts = [bigPart(1_600_000, 1), bigPart(10, 2), bigPart(500_000, 3)]
    expect(await records.stage(7n, 0, parts)).toBe(true)
    expect(await records.isStaged(7n, 0)).toBe(true)
    const back = await records.getStaged(7n, 0, 3)
    expect(back.map((b, i) => bytesEqual(b, parts[i]))).toEqual([true, true, true])
    // A redelivered shard stages nothing new.
    expect(await records.stage(7n, 0, parts)).toBe(false)
    expect(kv.count('staged')).toBe(5 + 1 + 2)
    const meta = { block: '7', shardParts: [1] } as unknown as PlanMeta
    await records.dropBlockWork(7n, meta)
    expect(kv.count('staged')).toBe(0)
  })

  it('a receipt of over a megabyte is stored and read back, and a late rejection cannot replace it', async () => {
    const records = new Records(new MemoryKeyValueStore())
    const big = receipt(4_000)
    expect(new TextEncoder().encode(JSON.stringify(big)).length).toBeGreaterThan(ITEM_VALUE_MAX)
    await records.putReceipts([big])
    const [back] = await records.getReceipts([big.txHash])
    expect(JSON.stringify(back)).toBe(JSON.stringify(big))
    expect(await records.putRejection({ id: big.txHash, code: 'nonce-too-low', reason: 'duplicate', atMs: 2 })).toBe(false)
    expect(JSON.stringify((await records.getReceipts([big.txHash]))[0])).toBe(JSON.stringify(big))
  })
})
