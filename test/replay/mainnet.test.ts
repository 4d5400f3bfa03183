/**
 * DESIGN.md invariant 2: real mainnet blocks replayed through the parallel engine (sequencer
 * prediction and partitioning, several shards, coordinator validation and re-execution) give
 * exactly their headers' receiptsRoot, gasUsed and logsBloom - and every receipt equals the one
 * sequential @ethereumjs/vm (runBlock, MerkleStateManager from the same pre-state) produces, so
 * a mismatch is attributed to the engine or to the configuration; and the state root over the
 * partial pre-state after the block equals the reference's (it cannot be mainnet's).
 *
 * CI runs a fixed subset that covers every fork and the special cases; `npm run test:mainnet`
 * (PAREVM_MAINNET=all) runs all 47 fixture blocks. The fixtures are in the repository
 * (test/fixtures/mainnet-blocks): a missing block fails, it is never skipped.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { ReplayCluster } from '../../shared/replay/cluster.ts'
import { describeReceipt, firstDifferingReceipt, referenceMatchesHeader } from '../../shared/replay/compare.ts'
import { isFixtureDir, loadFixture } from '../../shared/replay/fixture.ts'
import { runReference } from '../../shared/replay/reference.ts'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'mainnet-blocks')
const ALL = process.env.PAREVM_MAINNET === 'all'

/** One or more blocks per fork, the fork boundaries, and the blocks that once broke something. */
const SUBSET: Record<string, string> = {
  '4370000': 'Byzantium activation',
  '7280000': 'Constantinople/Petersburg activation',
  '9069000': 'Istanbul activation',
  '11814555': 'Muir Glacier, 579 transactions',
  '12300570': 'Berlin; the beneficiary sends most transactions (their stale balances shifted, not re-executed)',
  '13287210': 'London, 1,414 transactions, EIP-1559',
  '15537393': 'last proof-of-work block',
  '15537394': 'first proof-of-stake block; a transaction with 10,001 logs (results span store items)',
  '18426253': 'Shanghai, withdrawals',
  '19932703': 'Cancun: blob transaction, KZG point-evaluation precompile',
  '19933122': 'Cancun: blob transaction, a value transfer to an account absent from the pre-state',
}

const blocks = ALL
  ? readdirSync(FIXTURES).filter((d) => isFixtureDir(join(FIXTURES, d))).sort((a, b) => Number(a) - Number(b))
  : Object.keys(SUBSET)

describe(`mainnet blocks (${ALL ? 'all' : 'CI subset'}: ${blocks.length})`, () => {
  it('the fixtures are in the repository: 47 blocks, every CI subset block among them', () => {
    const all = readdirSync(FIXTURES).filter((d) => isFixtureDir(join(FIXTURES, d)))
    expect(all).toHaveLength(47)
    expect(all).toEqual(expect.arrayContaining(Object.keys(SUBSET)))
  })

  let cluster: ReplayCluster

  beforeAll(async () => {
    cluster = await ReplayCluster.start({ workers: 3, threads: false })
  })

  afterAll(async () => {
    await cluster?.stop()
  })

  it.each(blocks)('block %s matches its header in parallel and sequentially', async (name) => {
    const fixture = await loadFixture(join(FIXTURES, name))
    const run = await cluster.replay(fixture)
    const reference = await runReference(fixture)
    const difference = firstDifferingReceipt(run.sealed, fixture, reference)
    const context = `${name} (${SUBSET[name] ?? fixture.hardfork})${difference === undefined ? '' : `: receipt ${difference.index} engine ${describeReceipt(difference.engine)}, reference ${describeReceipt(difference.reference)}`}`

    // The reference: configuration (hardfork, header, pre-state) is right.
    expect(referenceMatchesHeader(reference, fixture), context).toBe(true)
    // The engine: identical receipts, one by one, and the header's fields.
    expect(difference, context).toBeUndefined()
    expect(run.rejected, context).toBe(0)
    expect(run.comparison.receiptsRoot.engine, context).toBe(fixture.expected.receiptsRoot)
    expect(run.comparison.gasUsed.engine, context).toBe(fixture.expected.gasUsed)
    expect(run.comparison.logsBloom.engine, context).toBe(fixture.expected.logsBloom)
    expect(run.comparison.transactionsRoot?.ok, context).toBe(true)
    if (fixture.block.withdrawals !== undefined) expect(run.comparison.withdrawalsRoot?.ok, context).toBe(true)
    // The state after the block, over the partial pre-state (not mainnet's root), is the
    // reference's: withdrawals, block rewards and every account and slot the block wrote.
    expect(run.sealed.head.stateRoot, context).toBe(reference.stateRoot)
    // It ran sharded: more than one shard wherever the block has independent transactions.
    if (run.groups > 1) expect(run.shards, context).toBeGreaterThan(1)
    // A mining pool's payouts read the beneficiary's balance, which every fee in another shard
    // moves: they settle with their balances shifted (shared/coordinator/balance-shift.ts),
    // and the state root and receipts above are the reference's.
    if (name === '12300570') expect(run.sealed.report.balanceShifted, context).toBeGreaterThan(100)
  })
})
