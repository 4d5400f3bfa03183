import { describe, expect, it } from 'vitest'

import { fromHex, toHex } from '../../shared/hex.ts'
import { RepeatedCalls } from '../../shared/predict/repeated-calls.ts'
import { mappingSlot } from '../../shared/workload/generator.ts'
import { signTx, testGenesis } from '../helpers/chain.ts'
import { sealByHand } from '../helpers/hand-block.ts'

const TOKEN = '0a'.repeat(20)
const OTHER = '0e'.repeat(20)
const COINBASE = 'cc'.repeat(20)
const callers = ['01', '02', '03', '04'].map((b) => b.repeat(20))
const recipients = ['21', '22', '23', '24'].map((b) => b.repeat(20))

/** transfer(to, amount) calldata. */
const transfer = (to: string): Uint8Array => fromHex('a9059cbb' + to.padStart(64, '0') + '01'.padStart(64, '0'))
const tx = (to: string, data: Uint8Array) => ({ to: { bytes: fromHex(to) }, data })
/** What a transfer by `caller` to `to` reads and writes: both balances (mapping at slot 0). */
function transferAccess(caller: string, to: string): { reads: Map<string, unknown>; writes: Map<string, unknown> } {
  const keys = [TOKEN + toHex(mappingSlot(caller, 0n)), TOKEN + toHex(mappingSlot(to, 0n))]
  return { reads: new Map(keys.map((k) => [k, { value: null, version: 0 }])), writes: new Map(keys.map((k) => [k, null])) }
}

describe('RepeatedCalls', () => {
  it('after the first call of a pair, predicts the keys of the later calls of that pair, once', () => {
    const txs = [tx(TOKEN, transfer(recipients[0]!)), tx(OTHER, transfer(recipients[1]!)), tx(TOKEN, transfer(recipients[2]!)), tx(TOKEN, transfer(recipients[3]!))]
    const senders = [callers[0]!, callers[1]!, callers[2]!, callers[3]!]
    const repeated = new RepeatedCalls(txs, (k) => fromHex(senders[k]!))
    const keys = repeated.keysAfter(0, transferAccess(callers[0]!, recipients[0]!), 50_000n, COINBASE)
    const expected = [2, 3].flatMap((j) => [...transferAccess(callers[j]!, recipients[j]!).writes.keys()])
    expect(new Set(keys)).toEqual(new Set(expected))
    // Learned once per pair: the next call of the pair teaches nothing more.
    expect(repeated.keysAfter(2, transferAccess(callers[2]!, recipients[2]!), 50_000n, COINBASE)).toEqual([])
    // A pair made once (OTHER) and a position without a later call of its pair: nothing.
    expect(repeated.keysAfter(1, transferAccess(callers[1]!, recipients[1]!), 50_000n, COINBASE)).toEqual([])
  })

  it('a plain transfer, a creation and the last call of a pair predict nothing', () => {
    const txs = [{ to: { bytes: fromHex(recipients[0]!) }, data: new Uint8Array(0) }, { to: undefined, data: fromHex('6000') }, tx(TOKEN, transfer(recipients[1]!)), tx(TOKEN, transfer(recipients[2]!))]
    const repeated = new RepeatedCalls(txs, (k) => fromHex(callers[k]!))
    expect(repeated.keysAfter(0, transferAccess(callers[0]!, recipients[0]!), 21_000n, COINBASE)).toEqual([])
    expect(repeated.keysAfter(1, transferAccess(callers[1]!, recipients[1]!), 60_000n, COINBASE)).toEqual([])
    expect(repeated.keysAfter(3, transferAccess(callers[3]!, recipients[2]!), 50_000n, COINBASE)).toEqual([])
  })
})

// sstore(keccak(arg0 . 0), 1): a mapping entry keyed by the call's first argument.
const MAP_SETTER = '0x600435600052600060205260406000206001905500'
const SETTER = `0x${'5e'.repeat(20)}`
const CALLS = 40

describe('a worker on a shard of calls no template knows', () => {
  it('loads the later calls\' keys in one batch after the first call of their pair; the block is sealed without re-execution', async () => {
    // Planned without speculation (as replay plans): each call is predicted to touch its sender and the contract only.
    const genesis = testGenesis({ accounts: CALLS, extraAlloc: { [SETTER]: { balance: '0x0', code: MAP_SETTER } } })
    const sign = (): string[] => Array.from({ length: CALLS }, (_, i) => signTx({ from: i, nonce: 0, to: SETTER, gasLimit: 80_000n, data: '0x12345678' + (1000 + i).toString(16).padStart(64, '0') }))
    const { report } = await sealByHand(genesis, sign, { shardCount: 1, expectShards: 1, workers: 'one for all shards' })
    expect(report.included).toBe(CALLS)
    expect(report.reexecuted).toBe(0)
    expect(report.prediction.txsFullyPredicted).toBe(0)
    // The first call's slot is a miss; the other 39 slots come in one batch after it (without: 40 misses).
    expect(report.timings.workerLearnedKeys).toBe(CALLS - 1)
    expect(report.timings.workerMissLoads).toBe(1)
  })
})
