/**
 * Comparing a replayed block with the real one: receiptsRoot, gasUsed and logsBloom against
 * the fixture's header (the state root cannot match: the pre-state is partial, and so the block
 * hash cannot either), and, on a mismatch, the first receipt that differs from the sequential
 * reference.
 */
import { encodeReceipt } from '@ethereumjs/vm'

import { bytesEqual, fromHex } from '../hex.ts'

import type { SealedBlock } from '../coordinator/coordinator.ts'
import type { ReceiptRecord } from '../store/records.ts'
import type { ReplayFixture } from './fixture.ts'
import type { ReceiptSummary, ReferenceResult } from './reference.ts'

export interface HeaderComparison {
  ok: boolean
  receiptsRoot: { engine: string; header: string; ok: boolean }
  gasUsed: { engine: bigint; header: bigint; ok: boolean }
  logsBloom: { engine: string; header: string; ok: boolean }
  /** Also checked: the block body as the engine sealed it (transactions in order, withdrawals). */
  transactionsRoot?: { engine: string; header: string; ok: boolean }
  withdrawalsRoot?: { engine: string; header: string; ok: boolean }
}

export function compareWithHeader(sealed: SealedBlock, fixture: ReplayFixture): HeaderComparison {
  const h = sealed.record.header
  const receiptsRoot = { engine: String(h.receiptTrie).toLowerCase(), header: fixture.expected.receiptsRoot }
  const gasUsed = { engine: BigInt(h.gasUsed ?? '0x0'), header: fixture.expected.gasUsed }
  const logsBloom = { engine: String(h.logsBloom).toLowerCase(), header: fixture.expected.logsBloom }
  const same = (engine: unknown, header: unknown): { engine: string; header: string; ok: boolean } => {
    const e = String(engine).toLowerCase()
    const x = String(header).toLowerCase()
    return { engine: e, header: x, ok: e === x }
  }
  const b = fixture.block as Record<string, unknown>
  const out: HeaderComparison = {
    ok: false,
    receiptsRoot: { ...receiptsRoot, ok: receiptsRoot.engine === receiptsRoot.header },
    gasUsed: { ...gasUsed, ok: gasUsed.engine === gasUsed.header },
    logsBloom: { ...logsBloom, ok: logsBloom.engine === logsBloom.header },
  }
  if (b.transactionsRoot !== undefined) out.transactionsRoot = same(h.transactionsTrie, b.transactionsRoot)
  if (b.withdrawalsRoot !== undefined) out.withdrawalsRoot = same(h.withdrawalsRoot, b.withdrawalsRoot)
  out.ok = out.receiptsRoot.ok && out.gasUsed.ok && out.logsBloom.ok && (out.transactionsRoot?.ok ?? true) && (out.withdrawalsRoot?.ok ?? true)
  return out
}

/** A sealed receipt in the same form as the reference's. */
export function summarizeSealedReceipt(r: ReceiptRecord): ReceiptSummary {
  const receipt = {
    status: r.status,
    cumulativeBlockGasUsed: BigInt(r.cumulativeGasUsed),
    bitvector: fromHex(r.logsBloom),
    logs: r.logs.map((l) => [fromHex(l.address), l.topics.map(fromHex), fromHex(l.data)]),
  }
  return { status: r.status, cumulativeGasUsed: receipt.cumulativeBlockGasUsed, logs: r.logs.length, encoded: encodeReceipt(receipt as never, r.type as never) }
}

export interface ReceiptDifference {
  index: number
  txHash: string
  engine: ReceiptSummary | undefined
  reference: ReceiptSummary | undefined
}

/** The first receipt where the engine and the reference differ (undefined when none does). */
export function firstDifferingReceipt(sealed: SealedBlock, fixture: ReplayFixture, reference: ReferenceResult): ReceiptDifference | undefined {
  const n = Math.max(sealed.receipts.length, reference.receipts.length)
  for (let i = 0; i < n; i++) {
    const ours = sealed.receipts[i]
    const engine = ours === undefined ? undefined : summarizeSealedReceipt(ours)
    const ref = reference.receipts[i]
    if (engine !== undefined && ref !== undefined && bytesEqual(engine.encoded, ref.encoded)) continue
    return { index: i, txHash: ours?.txHash ?? fixture.txs[i]?.hashHex ?? '?', engine, reference: ref }
  }
  return undefined
}

export function describeReceipt(r: ReceiptSummary | undefined): string {
  if (r === undefined) return 'no receipt'
  return `status ${r.status}, cumulative gas ${r.cumulativeGasUsed}, ${r.logs} log(s)`
}

export function referenceMatchesHeader(reference: ReferenceResult, fixture: ReplayFixture): boolean {
  return (
    reference.receiptsRoot === fixture.expected.receiptsRoot &&
    reference.gasUsed === fixture.expected.gasUsed &&
    reference.logsBloom === fixture.expected.logsBloom
  )
}
