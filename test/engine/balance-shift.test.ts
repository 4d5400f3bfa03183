/**
 * A transaction that ran no code and whose only stale reads are balances settles without running
 * again (shared/coordinator/balance-shift.ts): its written balances move by what moved under it.
 * Everything else runs again. The block-level test checks the outcome against sequential
 * @ethereumjs/vm: a beneficiary paying out while other shards pay it fees.
 */
import { KECCAK256_NULL } from '@ethereumjs/util'
import { describe, expect, it } from 'vitest'

import { shiftBalances } from '../../shared/coordinator/balance-shift.ts'
import { staleReads } from '../../shared/coordinator/settle.ts'
import { fromHex } from '../../shared/hex.ts'
import { makeVersion, txVersion, type StateKey } from '../../shared/state/keys.ts'
import { accountFields, accountRlp } from '../../shared/state/values.ts'
import { BlockView } from '../../shared/state/view.ts'
import { SequentialVerifier } from '../../shared/verify/sequential.ts'
import { addressOf, signTx, testGenesis } from '../helpers/chain.ts'
import { sealByHand } from '../helpers/hand-block.ts'

import type { TxExecution } from '../../shared/exec/executor.ts'
import type { PlannedTx } from '../../shared/pipeline/codec.ts'
import type { VersionedValue } from '../../shared/state/values.ts'

const BLOCK = 5n
const BLOCK_START = makeVersion(BLOCK, 0)
const SENDER = 'aa'.repeat(20)
const RECIPIENT = 'bb'.repeat(20)
const CODE_HASH = new Uint8Array(32).fill(7)
const ROOT = new Uint8Array(32).fill(9)

const eoa = (nonce: bigint, balance: bigint): Uint8Array => accountRlp(nonce, balance, ROOT, KECCAK256_NULL)
const at = (value: Uint8Array | null, version = 3): VersionedValue => ({ value, version })
const noLoads = { load: async () => [], loadCode: async () => [] }

/** A view where an earlier transaction of the block (position 0) wrote `written`. */
function viewWith(written: Record<StateKey, Uint8Array | null>): BlockView {
  const view = new BlockView(BLOCK, noLoads)
  view.applyWrites(new Map(Object.entries(written)), txVersion(BLOCK, 0))
  return view
}

/** A transfer of 10 from SENDER (nonce 4, balance 1,000 as the worker read it, 100 of gas) to RECIPIENT (50). */
function transfer(o: { type?: number; to?: string | null; valid?: boolean; recipient?: Uint8Array | null; extraReads?: [StateKey, VersionedValue][] } = {}): { exec: TxExecution; planned: PlannedTx } {
  const recipient = o.recipient === undefined ? eoa(0n, 50n) : o.recipient
  const reads = new Map<StateKey, VersionedValue>([
    [SENDER, at(eoa(4n, 1000n))],
    [RECIPIENT, at(recipient)],
    ...(o.extraReads ?? []),
  ])
  const writes = new Map<StateKey, Uint8Array | null>([
    [SENDER, eoa(5n, 890n)],
    [RECIPIENT, eoa(0n, 60n)],
  ])
  const exec: TxExecution = {
    valid: o.valid ?? true,
    status: 1,
    gasUsed: 21_000n,
    blockGasUsed: 21_000n,
    blobGasUsed: 0n,
    logs: [],
    bloom: new Uint8Array(256),
    access: { reads, writes, codes: new Map(), feeDelta: 0n },
  }
  const to = o.to === null ? undefined : fromHex(o.to ?? RECIPIENT)
  const planned = { index: 1, sender: fromHex(SENDER), fields: { type: o.type ?? 2, nonce: 4n, to }, reads: [], writes: [] } as unknown as PlannedTx
  return { exec, planned }
}

/** As the settlement calls it: with the reads `view` makes stale (every case here has some). */
function shiftOn(exec: TxExecution, planned: PlannedTx, view: BlockView): TxExecution | undefined {
  const stale = staleReads(exec.access.reads, view, BLOCK_START)
  if (stale === undefined) throw new Error('the case has no stale read')
  return shiftBalances(exec, planned, stale)
}

const balanceOf = (value: Uint8Array | null | undefined): bigint => accountFields(value!)[1]

describe('shiftBalances', () => {
  it('moves the written balances by what moved under the transaction, and reads what is there now', () => {
    const { exec, planned } = transfer()
    const view = viewWith({ [SENDER]: eoa(4n, 1500n), [RECIPIENT]: eoa(0n, 45n) })
    const shifted = shiftOn(exec, planned, view)!
    expect(balanceOf(shifted.access.writes.get(SENDER))).toBe(1390n)
    expect(balanceOf(shifted.access.writes.get(RECIPIENT))).toBe(55n)
    expect(accountFields(shifted.access.writes.get(SENDER)!)[0]).toBe(5n)
    expect(shifted.access.reads.get(SENDER)).toEqual({ value: eoa(4n, 1500n), version: txVersion(BLOCK, 0) })
    // The worker's result is left as it was.
    expect(balanceOf(exec.access.writes.get(SENDER))).toBe(890n)
    expect(shifted.gasUsed).toBe(exec.gasUsed)
  })

  it('runs again what a balance could have decided, or where more than a balance moved', () => {
    const moved = { [SENDER]: eoa(4n, 1500n) }
    const refused: [string, ReturnType<typeof transfer>, BlockView][] = [
      ['the sender has less than it read (the up-front check could fail)', transfer(), viewWith({ [SENDER]: eoa(4n, 900n) })],
      ['the sender\'s nonce moved', transfer(), viewWith({ [SENDER]: eoa(5n, 1500n) })],
      ['the recipient has code', transfer({ recipient: accountRlp(1n, 50n, ROOT, CODE_HASH) }), viewWith(moved)],
      ['the recipient got code', transfer(), viewWith({ ...moved, [RECIPIENT]: accountRlp(1n, 50n, ROOT, CODE_HASH) })],
      ['a creation', transfer({ to: null }), viewWith(moved)],
      ['a set-code transaction (EIP-7702)', transfer({ type: 4 }), viewWith(moved)],
      ['the worker found it invalid', transfer({ valid: false }), viewWith(moved)],
      ['a stale storage slot', transfer({ extraReads: [[RECIPIENT + '00'.repeat(32), at(Uint8Array.of(1))]] }), viewWith({ ...moved, [RECIPIENT + '00'.repeat(32)]: Uint8Array.of(2) })],
      ['the recipient was an empty account (EIP-161 deletes it when touched)', transfer({ recipient: eoa(0n, 0n) }), viewWith({ ...moved, [RECIPIENT]: eoa(0n, 5n) })],
      ['the recipient did not exist', transfer({ recipient: null }), viewWith({ ...moved, [RECIPIENT]: eoa(0n, 5n) })],
      ['the recipient is gone', transfer(), viewWith({ ...moved, [RECIPIENT]: null })],
    ]
    for (const [what, { exec, planned }, view] of refused) expect(shiftOn(exec, planned, view), what).toBeUndefined()
    // A read of an in-block version that no in-block write stands for now (not a balance move).
    const { exec, planned } = transfer({ extraReads: [['cc'.repeat(20), at(eoa(1n, 1n), txVersion(BLOCK, 0))]] })
    expect(shiftOn(exec, planned, viewWith(moved))).toBeUndefined()
  })
})

const SHARDS = 3
// COINBASE BALANCE PUSH1 0 SSTORE STOP: code that reads the beneficiary's balance.
const READER = `0x${'be'.repeat(20)}`
const READER_CODE = '0x4131600055' + '00'

describe('a beneficiary paying out while other shards pay it fees', () => {
  it('settles its transfers without running them again, and the block is what sequential execution gives', async () => {
    const genesis = () => testGenesis({ accounts: 12, extraAlloc: { [READER]: { balance: '0x0', code: READER_CODE } } })
    const raws: string[] = []
    let payout = 0
    for (let i = 1; i <= 10; i++) {
      raws.push(signTx({ from: i, nonce: 0, to: addressOf(40 + i), value: BigInt(i) }))
      raws.push(signTx({ from: 0, nonce: payout++, to: addressOf(60 + i), value: 1000n + BigInt(i) }))
    }
    // Code that reads the beneficiary's balance is never shifted: it runs again.
    raws.push(signTx({ from: 0, nonce: payout++, to: READER, gasLimit: 100_000n }))
    raws.push(signTx({ from: 11, nonce: 0, to: addressOf(0), value: 7n }))
    raws.push(signTx({ from: 0, nonce: payout++, to: addressOf(99), value: 1n }))
    // Account 0 is the beneficiary: every fee of the block goes to it.
    const sealed = await sealByHand(genesis(), () => raws, { shardCount: SHARDS, workers: 'one for all shards', coinbase: addressOf(0) })
    expect(sealed.report.shards).toBeGreaterThan(1)
    expect(sealed.report.included).toBe(raws.length)
    // The payouts after the first fee of another shard saw a stale beneficiary balance.
    expect(sealed.report.balanceShifted).toBeGreaterThanOrEqual(5)
    // The call to READER ran again: code ran, and it read the balance.
    expect(sealed.report.reexecuted).toBeGreaterThanOrEqual(1)
    const verifier = await SequentialVerifier.fromGenesis(genesis())
    const verdict = await verifier.verify(sealed)
    expect(verdict.difference).toBeUndefined()
    expect(verdict.ok).toBe(true)
  })
})
