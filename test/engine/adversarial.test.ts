/**
 * The adversarial differential test (issue: every transaction exactly once, in the order given).
 * Workloads from shared/workload/adversarial.ts: several transactions per sender, valid and
 * invalid ones of one sender interleaved, every invalid class, contracts that read the block
 * context, CREATE/CREATE2, SELFDESTRUCT, transient storage, genesis files with and without the
 * beacon-roots contract. They run through `parevm run`'s path (EmbeddedCluster.runOrdered) with
 * duplicated and delayed messages and crashing workers, at 1 to 4 workers and several shard
 * counts and block sizes.
 *
 * The oracle is sequential @ethereumjs/vm over the same lines, in the same order, with the same
 * block cuts: the sequential check (shared/verify) rebuilds every block with buildBlock from its
 * own parent and compares every header and receipt field, re-judges every rejection at its
 * position, and the intake rejections are re-judged by an independent decoder. On top, this test
 * checks the accounting per line (included once or rejected once, nothing pending), the order
 * (blocks are runs of consecutive lines, inclusion in file order), and that another worker and
 * shard configuration gives the same chain. fast-check prints the seed on failure; set
 * PAREVM_ADVERSARIAL_SEED to replay, PAREVM_ADVERSARIAL_RUNS for more runs.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { buildGenesis, parseGenesis } from '../../shared/chain/genesis.ts'
import { EmbeddedCluster, type BlockEvent } from '../../shared/cluster/embedded.ts'
import { createChainCommon } from '../../shared/chain/common.ts'
import { judgeStatelessRejection } from '../../shared/verify/sequential.ts'
import { generateAdversarial } from '../../shared/workload/adversarial.ts'

import type { FaultOptions } from '../../shared/cluster/faults.ts'
import type { Rejection } from '../../shared/intake/rejection.ts'

const RUNS = Number(process.env.PAREVM_ADVERSARIAL_RUNS ?? 6)
const SEED = process.env.PAREVM_ADVERSARIAL_SEED === undefined ? undefined : Number(process.env.PAREVM_ADVERSARIAL_SEED)

interface Outcome {
  /** Per line (1-based): 'included' or the rejection code. */
  byLine: Map<number, string>
  head: string
  blocks: number
  included: number
}

async function runEngine(
  workload: ReturnType<typeof generateAdversarial>,
  o: { workers: number; shards: number; blockSize: number; faults?: FaultOptions },
): Promise<Outcome> {
  const genesis = buildGenesis(parseGenesis(workload.genesisFile))
  const cluster = await EmbeddedCluster.start({
    genesis,
    workers: o.workers,
    shards: o.shards,
    threads: false,
    blockSize: o.blockSize,
    verify: true,
    visibilityTimeoutMs: 300,
    sealTimeoutMs: 60_000,
    ...(o.faults !== undefined ? { faults: o.faults } : {}),
  })
  const lines = workload.lines.map((l) => l.raw)
  const events: BlockEvent[] = []
  const outside: Rejection[] = []
  try {
    const summary = await cluster.runOrdered(lines, (e) => void events.push(e), { onRejections: (r) => outside.push(...r) })
    // Every sealed block passed the sequential check (a difference throws from runOrdered).
    expect(summary.verifiedBlocks).toBe(summary.blocks)
    const byLine = new Map<number, string>()
    const put = (line: number | undefined, what: string): void => {
      expect(line, `an outcome without a line: ${what}`).toBeDefined()
      expect(byLine.has(line!), `line ${line} has two outcomes (${byLine.get(line!)} and ${what})`).toBe(false)
      byLine.set(line!, what)
    }
    // Intake rejections: re-judged by the reference's own decoder.
    const common = createChainCommon(genesis.chainId, genesis.hardfork)
    for (const r of outside) {
      put(r.line, r.code)
      const judged = judgeStatelessRejection(lines[r.line! - 1]!, r.code, common, { blockGasLimit: BigInt(genesis.header.gasLimit) })
      expect(judged.ok, `line ${r.line}: recorded ${r.code}; reference: ${judged.reference}`).toBe(true)
    }
    // Blocks are runs of consecutive lines; inclusion follows file order.
    let lastLine = 0
    for (const e of events) {
      const blockLines = e.lines!
      expect(blockLines[0]!).toBeGreaterThan(lastLine)
      for (let i = 1; i < blockLines.length; i++) expect(blockLines[i]!).toBeGreaterThan(blockLines[i - 1]!)
      lastLine = blockLines[blockLines.length - 1]!
      const rejectedAt = new Map(e.sealed.rejections.map((r) => [r.position!, r]))
      let receipt = 0
      blockLines.forEach((line, position) => {
        const rejection = rejectedAt.get(position)
        if (rejection !== undefined) {
          expect(rejection.line).toBe(line)
          put(line, rejection.code)
        } else {
          const r = e.sealed.receipts[receipt++]!
          expect(r.txHash).toBe(e.sealed.record.txHashes[r.index])
          put(line, 'included')
        }
      })
      expect(receipt).toBe(e.sealed.receipts.length)
    }
    // Every line accounted for, nothing pending.
    expect(byLine.size).toBe(lines.length)
    expect(summary.included + summary.rejected).toBe(lines.length)
    return { byLine, head: summary.head.hash, blocks: summary.blocks, included: summary.included }
  } finally {
    await cluster.stop()
  }
}

describe('adversarial workloads against sequential @ethereumjs/vm', () => {
  it('every line included with a receipt identical to serial execution, or rejected once for the reason serial execution gives; faults, 1-4 workers, several shard counts', async () => {
    let workloads = 0
    let linesRun = 0
    const configs = new Set<string>()
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 1_000_000 }),
          lines: fc.integer({ min: 150, max: 400 }),
          beaconRoots: fc.boolean(),
          workers: fc.integer({ min: 1, max: 4 }),
          shards: fc.integer({ min: 1, max: 6 }),
          blockSize: fc.constantFrom(7, 25, 60, 200),
          duplicate: fc.double({ min: 0, max: 0.3, noNaN: true }),
          delay: fc.double({ min: 0, max: 0.3, noNaN: true }),
          workerCrash: fc.double({ min: 0, max: 0.2, noNaN: true }),
          afterStageCrash: fc.double({ min: 0, max: 0.2, noNaN: true }),
        }),
        async (p) => {
          const workload = generateAdversarial({ seed: p.seed, lines: p.lines, beaconRoots: p.beaconRoots })
          const faults: FaultOptions = { seed: p.seed, duplicate: p.duplicate, delay: p.delay, delayMsMax: 20, workerCrash: p.workerCrash, afterStageCrash: p.afterStageCrash }
          const faulty = await runEngine(workload, { workers: p.workers, shards: p.shards, blockSize: p.blockSize, faults })
          // The same lines on one worker, one shard, no faults: the same chain, line by line.
          const plain = await runEngine(workload, { workers: 1, shards: 1, blockSize: p.blockSize })
          expect(faulty.head).toBe(plain.head)
          expect([...faulty.byLine.entries()]).toEqual([...plain.byLine.entries()])
          // The generator's valid lines are really valid (a sanity check of the workload).
          workload.lines.forEach((l, i) => {
            if (!l.kind.startsWith('invalid') && faulty.byLine.get(i + 1) !== 'included' && isMeantValid(l.kind)) {
              throw new Error(`line ${i + 1} (${l.kind}) was meant valid but got ${faulty.byLine.get(i + 1)}`)
            }
          })
          workloads++
          linesRun += p.lines
          configs.add(`${p.workers}w/${p.shards}s`)
        },
      ),
      { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
    )
    console.log(`adversarial: ${workloads} workloads, ${linesRun} lines (each run twice), configurations ${[...configs].join(', ')}`)
  }, 600_000)
})

import { isIntendedValid as isMeantValid } from '../../shared/workload/adversarial.ts'
