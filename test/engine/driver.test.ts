import { describe, expect, it } from 'vitest'

import { driveBlocks, sealByHeadPolling, withinClock, type PlanStep } from '../../shared/cluster/driver.ts'
import { crashAfterStaging, crashBeforeDelete } from '../../shared/cluster/faults.ts'
import { ParevmError } from '../../shared/errors.ts'
import { silentLogger, type Logger } from '../../shared/log.ts'
import { MemoryKeyValueStore } from '../../shared/ports/memory/memory-kv-store.ts'
import { MemoryQueue } from '../../shared/ports/memory/memory-queue.ts'

import type { Clock } from '../../shared/ports/clock.ts'
import type { HeadRecord } from '../../shared/store/records.ts'

/** Time that moves only when someone sleeps: every wait of the driver is on it. */
class StepClock implements Clock {
  t = 1_000
  sleeps: number[] = []
  now(): number {
    return this.t
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms)
    this.t += ms
    await Promise.resolve()
  }
}

/** A source of `count` blocks numbered from 1, then the end. */
function blocks(count: number, log: string[]): () => Promise<PlanStep<string>> {
  let next = 1n
  return async () => {
    if (next > BigInt(count)) return { kind: 'end' }
    log.push(`plan ${next}`)
    const block = next++
    return { kind: 'block', block, plan: `plan-${block}` }
  }
}

describe('the block driver', () => {
  it('plans, waits for the seal, hands each sealed block on in order; the next intake runs while a block seals, and is settled before the next plan', async () => {
    const clock = new StepClock()
    const log: string[] = []
    const result = await driveBlocks({
      clock,
      sealWaitMs: 1000,
      plan: blocks(3, log),
      prefetch: async () => {
        log.push('prefetch')
        await clock.sleep(1)
        log.push('prefetched')
      },
      awaitSeal: async (block) => {
        log.push(`await ${block}`)
        await clock.sleep(7)
        return `sealed-${block}`
      },
      onSealed: (plan, sealed, wallMs) => void log.push(`${plan} ${sealed} ${wallMs}`),
    })
    expect(result).toEqual({ blocks: 3, stoppedBecause: 'end' })
    expect(log).toEqual([
      'plan 1', 'prefetch', 'await 1', 'prefetched', 'plan-1 sealed-1 8',
      'plan 2', 'prefetch', 'await 2', 'prefetched', 'plan-2 sealed-2 8',
      'plan 3', 'prefetch', 'await 3', 'prefetched', 'plan-3 sealed-3 8',
    ])
  })

  it('stops at maxBlocks, and takes in nothing for a block it will not plan', async () => {
    const log: string[] = []
    const result = await driveBlocks({
      clock: new StepClock(),
      sealWaitMs: 1000,
      maxBlocks: 2,
      plan: blocks(5, log),
      prefetch: async () => void log.push('prefetch'),
      awaitSeal: async (block) => block,
    })
    expect(result).toEqual({ blocks: 2, stoppedBecause: 'max-blocks' })
    expect(log).toEqual(['plan 1', 'prefetch', 'plan 2'])
  })

  it('a seal that does not come in time: its work is sent again and the driver waits again; without notSealed the run fails', async () => {
    const clock = new StepClock()
    let waits = 0
    const resent: [bigint, number][] = []
    const result = await driveBlocks({
      clock,
      sealWaitMs: 500,
      plan: blocks(1, []),
      awaitSeal: async (_block, untilMs) => {
        if (++waits < 3) {
          clock.t = untilMs
          return undefined
        }
        return true
      },
      notSealed: async (block, waitedMs) => void resent.push([block, waitedMs]),
    })
    expect(result).toEqual({ blocks: 1, stoppedBecause: 'end' })
    expect(resent).toEqual([[1n, 500], [1n, 500]])

    const never = driveBlocks({
      clock: new StepClock(),
      sealWaitMs: 500,
      plan: blocks(1, []),
      awaitSeal: async () => undefined,
    })
    await expect(never).rejects.toThrow('block 1 was not sealed within 500 ms')
  })

  it('the deadline ends the wait for a seal without sending the work again, and ends planning', async () => {
    const clock = new StepClock()
    let resent = 0
    const waits: number[] = []
    const result = await driveBlocks({
      clock,
      sealWaitMs: 60_000,
      deadlineMs: clock.t + 2_000,
      plan: blocks(10, []),
      awaitSeal: async (_block, untilMs) => {
        waits.push(untilMs - clock.t)
        clock.t = untilMs
        return undefined
      },
      notSealed: async () => void resent++,
    })
    expect(result).toEqual({ blocks: 1, stoppedBecause: 'deadline' })
    expect(waits).toEqual([2_000])
    expect(resent).toBe(0)
  })

  it('a block planned before the run is waited for first and not counted', async () => {
    const log: string[] = []
    const result = await driveBlocks({
      clock: new StepClock(),
      sealWaitMs: 1000,
      resume: async () => 7n,
      plan: blocks(1, log),
      awaitSeal: async (block) => {
        log.push(`await ${block}`)
        return true
      },
    })
    expect(result).toEqual({ blocks: 1, stoppedBecause: 'end' })
    expect(log).toEqual(['await 7', 'plan 1', 'await 1'])
  })

  it('idle rounds: a round that took something in resets the count; the policy stops the run, pauses on the clock, and fails past roundsMax', async () => {
    const clock = new StepClock()
    const steps: PlanStep<string>[] = [{ kind: 'none', tookIn: false }, { kind: 'none', tookIn: true }, { kind: 'none', tookIn: false }, { kind: 'none', tookIn: false }, { kind: 'none', tookIn: false }]
    const seen: number[] = []
    const result = await driveBlocks({
      clock,
      sealWaitMs: 1000,
      plan: async () => steps.shift() ?? { kind: 'end' },
      awaitSeal: async () => true,
      idle: {
        sleepMs: 5,
        stop: (idleRounds) => {
          seen.push(idleRounds)
          return idleRounds >= 3
        },
      },
    })
    expect(result).toEqual({ blocks: 0, stoppedBecause: 'idle' })
    expect(seen).toEqual([1, 0, 1, 2, 3])
    expect(clock.sleeps).toEqual([5, 5, 5, 5])

    const stuck = driveBlocks({
      clock: new StepClock(),
      sealWaitMs: 1000,
      plan: async () => ({ kind: 'none', tookIn: false }),
      awaitSeal: async () => true,
      idle: { sleepMs: 0, stop: () => false, roundsMax: 10 },
    })
    await expect(stuck).rejects.toThrow('nothing to plan in 11 rounds in a row')
  })

  it('a failed intake of the next block is logged and the run goes on', async () => {
    const warnings: string[] = []
    const log: Logger = { ...silentLogger, warn: (message) => void warnings.push(message), child: () => log }
    const result = await driveBlocks({
      clock: new StepClock(),
      sealWaitMs: 1000,
      log,
      plan: blocks(2, []),
      prefetch: async () => {
        throw new ParevmError('receive failed')
      },
      awaitSeal: async () => true,
    })
    expect(result).toEqual({ blocks: 2, stoppedBecause: 'end' })
    expect(warnings).toEqual(['intake of the next block failed; the next planning takes in again', 'intake of the next block failed; the next planning takes in again'])
  })

  it('a seal that can never come ends the run with its error', async () => {
    const run = driveBlocks({
      clock: new StepClock(),
      sealWaitMs: 1000,
      plan: blocks(3, []),
      awaitSeal: async () => {
        throw new ParevmError('the coordinator failed 3 times in a row')
      },
    })
    await expect(run).rejects.toThrow('the coordinator failed 3 times in a row')
  })
})

describe('waiting on the clock', () => {
  it('withinClock gives the value, or undefined once the clock reaches the limit', async () => {
    const clock = new StepClock()
    expect(await withinClock(clock, clock.t + 1000, Promise.resolve(5))).toBe(5)
    const start = clock.t
    expect(await withinClock(clock, start + 250, new Promise<number>(() => {}))).toBeUndefined()
    expect(clock.t).toBe(start + 250)
    await expect(withinClock(clock, clock.t + 1000, Promise.reject(new ParevmError('no')))).rejects.toThrow('no')
  })

  it('head polling sees the seal in the store, backing off on the clock', async () => {
    const clock = new StepClock()
    let number = 4
    const records = {
      getHead: async (): Promise<HeadRecord | undefined> => {
        if (clock.t >= 1_300) number = 5
        return { number: String(number) } as HeadRecord
      },
    }
    const seal = sealByHeadPolling(records, clock)
    expect(await seal(5n, clock.t + 10_000)).toBe(true)
    expect(clock.sleeps).toEqual([50, 100, 200])
    clock.sleeps = []
    expect(await seal(6n, clock.t + 1_000)).toBeUndefined()
    expect(clock.sleeps).toEqual([50, 100, 200, 400])
  })
})

describe('worker crashes injected by wrapping the ports', () => {
  it('after staging: the staging write is done, then the worker fails; other writes pass', async () => {
    const kv = new MemoryKeyValueStore()
    const crashing = crashAfterStaging(kv, () => true)
    const item = (sk: string) => ({ table: 'staged' as const, pk: '1', sk, value: new Uint8Array([1]), version: 0 })
    await crashing.transact([{ op: 'put', item: item('shard#0#1'), condition: { kind: 'absent' } }])
    await expect(crashing.transact([{ op: 'put', item: item('shard#0#0'), condition: { kind: 'absent' } }])).rejects.toThrow('simulated worker crash after staging')
    const [head] = await kv.get([{ table: 'staged', pk: '1', sk: 'shard#0#0' }])
    expect(head).toBeDefined()
  })

  it('before acknowledging: the message is not deleted and comes back', async () => {
    const queue = new MemoryQueue({ name: 'shards', visibilityTimeoutMs: 20 })
    await queue.send([{ body: 'shard' }])
    const [message] = await queue.receive({ maxMessages: 1, waitMs: 0 })
    await expect(crashBeforeDelete(queue, () => true).delete([message!.receiptHandle])).rejects.toThrow('simulated worker crash before acknowledging')
    await new Promise((r) => setTimeout(r, 40))
    const again = await queue.receive({ maxMessages: 1, waitMs: 0 })
    expect(again.map((m) => m.body)).toEqual(['shard'])
    await crashBeforeDelete(queue, () => false).delete([again[0]!.receiptHandle])
    expect(await queue.depth()).toMatchObject({ visible: 0, inFlight: 0 })
  })
})
