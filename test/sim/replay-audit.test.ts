/**
 * The replay auditor can fail, and a failed seed names the one command that replays it:
 * - a store that silently drops one write of a replayed block's apply fails the state table;
 * - a sealed block whose receipts, state root, header fields or hash differ from sequential
 *   @ethereumjs/vm and the fixture's header fails `sequential` and `header`, naming the field;
 * - the printed command (mixed mode resolved to the mode the seed drew) replays the same run.
 */
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { ReplayCluster } from '../../shared/replay/cluster.ts'
import { loadFixture, type ReplayFixture } from '../../shared/replay/fixture.ts'
import { runReference, type ReferenceResult } from '../../shared/replay/reference.ts'
import { checkReplayHeader, checkReplaySequential } from '../../shared/sim/auditor.ts'
import { formatFailure, parseSimArgs } from '../../shared/sim/cli.ts'
import { modeOf, runSeed } from '../../shared/sim/simulator.ts'

import type { SealedBlock } from '../../shared/coordinator/coordinator.ts'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'mainnet-blocks')

describe('the replay auditor', () => {
  it('fails a replayed block whose apply silently lost a write, and passes it without the loss', async () => {
    const bad = await runSeed({ seed: 3, mode: 'replay', block: '19426587', noFaults: true, dropApplyWrite: true })
    expect(bad.ok).toBe(false)
    const f = bad.failures.find((x) => x.invariant === 'state-table')
    expect(f, JSON.stringify(bad.failures, null, 2)).toBeDefined()
    expect(f!.message).toMatch(/^fixture 19426587: block 19426587 is sealed, but the state table does not hold its write of [0-9a-f]{40}/)
    expect(f!.eventText).toMatch(/SILENT-DROP/)
    const good = await runSeed({ seed: 3, mode: 'replay', block: '19426587', noFaults: true })
    expect(good.failures).toEqual([])
    expect(good.blocks).toBe(1)
  })

  describe('a sealed block against sequential @ethereumjs/vm and the fixture header', () => {
    let cluster: ReplayCluster
    let fixture: ReplayFixture
    let reference: ReferenceResult
    let sealed: SealedBlock

    beforeAll(async () => {
      fixture = await loadFixture(join(FIXTURES, '19426587'))
      cluster = await ReplayCluster.start({ workers: 2, threads: false })
      sealed = (await cluster.replay(fixture)).sealed
      reference = await runReference(fixture)
    })

    afterAll(async () => {
      await cluster?.stop()
    })

    it('passes the block as the engine sealed it', () => {
      expect(checkReplaySequential(sealed, fixture, reference, undefined)).toEqual([])
      expect(checkReplayHeader(sealed, fixture, reference, undefined)).toEqual([])
    })

    it('fails a receipt that differs from the reference, naming it', () => {
      const receipts = [...reference.receipts]
      ;[receipts[2], receipts[3]] = [receipts[3]!, receipts[2]!]
      const [f] = checkReplaySequential(sealed, fixture, { ...reference, receipts }, 7)
      expect(f?.invariant).toBe('sequential')
      expect(f?.message).toMatch(/at receipt 2 \(0x[0-9a-f]{64}\)/)
      expect(f?.event).toBe(7)
    })

    it('fails a state root that differs from the reference: sequential, and the header hash', () => {
      const other = `0x${'11'.repeat(32)}`
      const [s] = checkReplaySequential(sealed, fixture, { ...reference, stateRoot: other }, undefined)
      expect(s?.message).toMatch(/state root 0x[0-9a-f]{64} over the fixture's pre-state, sequential @ethereumjs\/vm 0x1111/)
      const [h] = checkReplayHeader(sealed, fixture, { ...reference, stateRoot: other }, undefined)
      expect(h?.invariant).toBe('header')
      expect(h?.message).toMatch(/sealed hash 0x[0-9a-f]{64}, expected 0x[0-9a-f]{64}.*differing fields: stateRoot/)
    })

    it("fails header fields that differ from the fixture's, naming them", () => {
      const gas = checkReplayHeader(sealed, { ...fixture, expected: { ...fixture.expected, gasUsed: fixture.expected.gasUsed + 1n } }, reference, undefined)
      expect(gas.map((f) => f.message).join('\n')).toMatch(/gasUsed \d+, header \d+/)
      const extra = checkReplayHeader({ ...sealed, record: { ...sealed.record, header: { ...sealed.record.header, extraData: '0x00' } } }, fixture, reference, undefined)
      expect(extra.map((f) => f.message).join('\n')).toMatch(/differing fields: extraData 0x00 \(expected 0x[0-9a-f]+\)/)
    })
  })
})

describe('a failed seed names the one command that replays it', () => {
  it('in replay mode (drawn by mixed mode) and in build mode', async () => {
    const replaySeed = [...Array(50).keys()].map((i) => i + 1).find((s) => modeOf(s, 'mixed') === 'replay')!
    const buildSeed = [...Array(50).keys()].map((i) => i + 1).find((s) => modeOf(s, 'mixed') === 'build')!
    for (const [seed, extra, mode] of [[replaySeed, ' --mode replay --no-faults', 'replay'], [buildSeed, ' --lines 12 --no-faults', 'build']] as const) {
      const first = await runSeed({ seed, mode: 'mixed', lines: 12, noFaults: true, dropApplyWrite: true })
      expect(first.mode).toBe(mode)
      expect(first.ok).toBe(false)
      const text = formatFailure(first, { mode: 'mixed', lines: 12, noFaults: true })
      expect(text).toContain(`FAILED seed ${seed} (${mode} mode`)
      expect(text).toMatch(/invariant: state-table/)
      const command = /^ {2}replay: (.*)$/m.exec(text)?.[1]
      expect(command).toBe(`npm run sim -- --seed ${seed}${extra}`)
      // The command, as the CLI reads it, runs the same seed the same way (the test hook aside).
      const args = parseSimArgs(command!.split(' ').slice(4))
      expect(args.only).toBe(seed)
      const again = await runSeed({ seed: args.only!, ...args.run, dropApplyWrite: true })
      expect(again.traceHash).toBe(first.traceHash)
      expect(again.failures).toEqual(first.failures)
    }
  })

  it('refuses arguments that make no run', () => {
    expect(() => parseSimArgs(['--mode', 'fast'])).toThrow(/--mode needs one of build, replay, mixed/)
    expect(() => parseSimArgs(['--block', '19426587'])).toThrow(/--block needs --mode replay/)
    expect(() => parseSimArgs(['--seeds'])).toThrow(/--seeds needs a non-negative integer/)
    expect(() => parseSimArgs(['--workers', '0'])).toThrow(/--workers needs an integer of at least 1/)
    expect(() => parseSimArgs(['--seeds', '3', '--events', 'log.txt'])).toThrow(/--events needs --seed S/)
    expect(parseSimArgs(['--seed', '7', '--events', 'log.txt']).events).toBe('log.txt')
  })
})
