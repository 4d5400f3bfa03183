/**
 * `parevm run`'s contract (EmbeddedCluster.runOrdered): every line included or rejected once,
 * in file order, judged where it stands as serial execution judges it.
 */
import { describe, expect, it } from 'vitest'

import { EmbeddedCluster, type BlockEvent } from '../../shared/cluster/embedded.ts'
import { Records } from '../../shared/store/records.ts'
import { bigintToHex } from '../../shared/hex.ts'
import { StateTable } from '../../shared/store/state-table.ts'
import { storageKey } from '../../shared/state/keys.ts'
import { bytesToBigInt } from '@ethereumjs/util'
import { addressOf, ETH, GWEI, signTx, testGenesis } from '../helpers/chain.ts'
import { buildGenesis } from '../../shared/chain/genesis.ts'
import { generateWorkload } from '../../shared/workload/generator.ts'

import type { GenesisState } from '../../shared/chain/genesis.ts'
import type { Rejection } from '../../shared/intake/rejection.ts'

/** The EIP-4788 beacon-roots contract's runtime code, deployed at its canonical address on every Cancun chain. */
export const BEACON_ROOTS_ADDRESS = '0x000f3df6d732807ef1319fb7b8bb8522d0beac02'
export const BEACON_ROOTS_CODE =
  '0x3373fffffffffffffffffffffffffffffffffffffffe14604d57602036146024575f5ffd5b5f35801560495762001fff810690815414603c575f5ffd5b62001fff01545f5260205ff35b5f5ffd5b62001fff42064281555f359062001fff015500'

async function runOrdered(genesis: GenesisState, lines: readonly string[], o: { blockSize?: number; workers?: number; threads?: boolean } = {}) {
  const cluster = await EmbeddedCluster.start({ genesis, workers: o.workers ?? 2, threads: o.threads ?? false, blockSize: o.blockSize ?? 50, verify: true, sealTimeoutMs: 30_000 })
  const events: BlockEvent[] = []
  const outside: Rejection[] = []
  try {
    const summary = await cluster.runOrdered(lines, (e) => void events.push(e), { onRejections: (r) => outside.push(...r) })
    const rejections = [...outside, ...events.flatMap((e) => e.sealed.rejections)]
    return { summary, events, rejections, cluster }
  } finally {
    await cluster.stop()
  }
}

describe('parevm run: lines in order, judged where they stand', () => {
  it('a transaction refused at execution consumes nothing: the sender’s next one reuses its nonce, and the later ones follow', async () => {
    const poor = 5
    const genesis = testGenesis({ accounts: 6, extraAlloc: { [addressOf(poor)]: { balance: bigintToHex(ETH / 100n) } } })
    const lines = [
      signTx({ from: poor, nonce: 0, to: addressOf(1), value: ETH }), // cannot pay: rejected, consumes nothing
      signTx({ from: poor, nonce: 0, to: addressOf(1), value: 1n }), // valid: reuses nonce 0
      signTx({ from: poor, nonce: 1, to: addressOf(1), value: 2n }),
      signTx({ from: poor, nonce: 2, to: addressOf(1), value: 3n }),
      signTx({ from: poor, nonce: 3, to: addressOf(1), value: 4n }),
      signTx({ from: 0, nonce: 0, to: addressOf(poor), value: 2n * ETH }), // funds arrive...
      signTx({ from: poor, nonce: 4, to: addressOf(1), value: ETH }), // ...so this one pays
    ]
    const { summary, rejections, events } = await runOrdered(genesis, lines, { blockSize: 3 })
    expect(summary.included).toBe(6)
    expect(rejections.map((r) => [r.line, r.code])).toEqual([[1, 'insufficient-balance']])
    expect(summary.inputs).toBe(7)
    // Blocks are runs of consecutive lines, in file order.
    const included = events.flatMap((e) => e.sealed.receipts.map((r) => r.txHash))
    const hashes = events.flatMap((e) => e.sealed.record.txHashes)
    expect(included).toEqual(hashes)
    expect(events.map((e) => e.sealed.report.txs)).toEqual([3, 3, 1])
    expect(summary.verifiedBlocks).toBe(summary.blocks)
  })

  it('a gap is a rejection where it stands; a later line does not fill it retroactively; a replayed line is too low', async () => {
    const genesis = testGenesis({ accounts: 4 })
    const first = signTx({ from: 0, nonce: 0, to: addressOf(2), value: 1n })
    const lines = [
      signTx({ from: 1, nonce: 1, to: addressOf(2), value: 1n }), // gap at its position
      signTx({ from: 1, nonce: 0, to: addressOf(2), value: 1n }),
      first,
      first, // the same raw line again
      signTx({ from: 0, nonce: 0, to: addressOf(3), value: 2n }), // replacement after inclusion
      signTx({ from: 0, nonce: 1, to: addressOf(3), value: 2n }),
    ]
    const { summary, rejections } = await runOrdered(genesis, lines, { blockSize: 2 })
    expect(rejections.map((r) => [r.line, r.code]).sort()).toEqual([
      [1, 'nonce-gap'],
      [4, 'nonce-too-low'],
      [5, 'nonce-too-low'],
    ])
    expect(summary.included).toBe(3)
    expect(summary.verifiedBlocks).toBe(summary.blocks)
  })

  it('bad lines are one rejection each, an oversize line is one rejection, and the rest goes on', async () => {
    const genesis = testGenesis({ accounts: 4 })
    const huge = `0x${'ab'.repeat(300_000)}`
    const lines = ['0xzz', signTx({ from: 0, nonce: 0, to: addressOf(2), value: 1n }), '0x01', 'not hex at all', huge, signTx({ from: 0, nonce: 1, to: addressOf(2), value: 1n })]
    const { summary, rejections, cluster } = await runOrdered(genesis, lines)
    expect(summary.included).toBe(2)
    expect(summary.rejected).toBe(4)
    expect(summary.inputs).toBe(6)
    expect(rejections.map((r) => [r.line, r.code])).toEqual([
      [1, 'malformed-hex'],
      [3, 'malformed-transaction'],
      [4, 'malformed-hex'],
      [5, 'oversize'],
    ])
    expect(await new Records(cluster.kv).getReceipts([rejections[3]!.id])).toMatchObject([{ kind: 'rejection', code: 'oversize', line: 5 }])
  })

  it('a sender with code is refused as EIP-3607 says, not as a used nonce', async () => {
    const genesis = testGenesis({ accounts: 3, extraAlloc: { [addressOf(7)]: { balance: bigintToHex(ETH), nonce: '0x1', code: '0x00' } } })
    const lines = [signTx({ from: 7, nonce: 0, to: addressOf(1), value: 1n }), signTx({ from: 7, nonce: 1, to: addressOf(1), value: 1n }), signTx({ from: 0, nonce: 0, to: addressOf(1), value: 1n })]
    const { summary, rejections } = await runOrdered(genesis, lines)
    expect(rejections.map((r) => [r.line, r.code])).toEqual([
      [1, 'sender-not-eoa'],
      [2, 'sender-not-eoa'],
    ])
    expect(summary.included).toBe(1)
  })

  it('a Cancun chain with the beacon-roots contract seals, and the ring buffer is written as @ethereumjs/vm writes it', async () => {
    const genesis = testGenesis({ accounts: 3, extraAlloc: { [BEACON_ROOTS_ADDRESS]: { balance: '0x0', nonce: '0x1', code: BEACON_ROOTS_CODE } } })
    const lines = Array.from({ length: 6 }, (_, i) => signTx({ from: 0, nonce: i, to: addressOf(1), value: 1n, maxFeePerGas: 10n * GWEI }))
    // Worker threads: the coordinator's thread then has made no VM before the first system call.
    const { summary, events, cluster } = await runOrdered(genesis, lines, { blockSize: 2, threads: true })
    expect(summary.blocks).toBe(3)
    expect(summary.verifiedBlocks).toBe(3)
    // The system call wrote each block's timestamp at timestamp % 8191 (and the root 8191 later).
    const state = new StateTable(cluster.kv)
    for (const e of events) {
      const timestamp = BigInt(e.sealed.env.timestamp)
      const [slot] = await state.load([storageKey(BEACON_ROOTS_ADDRESS.slice(2), (timestamp % 8191n).toString(16).padStart(64, '0'))])
      expect(slot?.value === null ? undefined : bytesToBigInt(slot!.value)).toBe(timestamp)
    }
  })

  it('a cold block (a token nobody has called) is predicted: its calls are pre-executed before partitioning', async () => {
    const w = generateWorkload({ txs: 120, mix: 'erc20', accounts: 60, hotShare: 0, pools: 2, seed: 5 })
    const { summary, events } = await runOrdered(buildGenesis(w.genesis), w.rawTxs, { blockSize: 120, workers: 2 })
    expect(summary.included).toBe(120)
    expect(summary.verifiedBlocks).toBe(1)
    const { report, plan } = { report: events[0]!.sealed.report, plan: events[0]!.plan }
    expect((plan.stats as { speculatedCalls?: number }).speculatedCalls).toBeGreaterThan(0)
    expect(report.prediction.txsFullyPredicted).toBe(120)
  })
})
