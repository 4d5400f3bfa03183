/**
 * The Queue contract: one suite, run against the in-process queue (memory.contract.test.ts)
 * and the SQS adapter (aws.contract.aws.test.ts). Visibility timeouts are whole seconds on
 * SQS, so the suite uses 1 s and waits with bounded long polls; it asserts what happens, never
 * how long it took.
 */
import { describe, expect, it } from 'vitest'

import { ParevmError } from '../../shared/errors.ts'
import { QUEUE_LIMITS, type Queue, type QueueMessage } from '../../shared/ports/queue.ts'

export interface QueueSpec {
  visibilityTimeoutSec: number
  /** With a dead-letter queue after this many receives. */
  maxReceiveCount?: number
  fifo?: boolean
}

export interface QueueFixture {
  queue: Queue
  deadLetter?: Queue
}

/** Receive until `count` messages arrived or `rounds` long polls came back empty. */
export async function receiveAll(queue: Queue, count: number, options: { rounds?: number; waitMs?: number; visibilityTimeoutMs?: number } = {}): Promise<QueueMessage[]> {
  const out: QueueMessage[] = []
  let empty = 0
  for (let round = 0; round < 100 && out.length < count && empty < (options.rounds ?? 3); round++) {
    const got = await queue.receive({
      maxMessages: Math.min(10, count - out.length),
      waitMs: options.waitMs ?? 1000,
      ...(options.visibilityTimeoutMs !== undefined ? { visibilityTimeoutMs: options.visibilityTimeoutMs } : {}),
    })
    if (got.length === 0) empty++
    out.push(...got)
  }
  return out
}

/**
 * Known differences of a server from SQS, named so the suite skips exactly those assertions:
 * - depth-counts-in-flight: ApproximateNumberOfMessages includes in-flight messages (local-aws-sqs);
 * - fifo-group-unlocked: a FIFO group's next message is delivered while an earlier one is still
 *   in flight (local-aws-sqs). parevm's queues are all standard, so the engine does not depend on it.
 */
export type ServerGap = 'depth-counts-in-flight' | 'fifo-group-unlocked'

export function queueContract(name: string, makeQueue: (spec: QueueSpec) => Promise<QueueFixture>, gaps: readonly ServerGap[] = []): void {
  describe(`Queue contract: ${name}`, () => {
    it('send, receive, delete: body, id, receive count and sent time', async () => {
      const { queue } = await makeQueue({ visibilityTimeoutSec: 30 })
      const before = Date.now()
      await queue.send([{ body: '{"hello":"world"}' }])
      const [m] = await receiveAll(queue, 1)
      expect(m).toBeDefined()
      expect(m!.body).toBe('{"hello":"world"}')
      expect(m!.receiveCount).toBe(1)
      expect(typeof m!.id).toBe('string')
      expect(m!.sentAtMs).toBeGreaterThan(before - 60_000)
      await queue.delete([m!.receiptHandle])
      expect(await queue.receive({ maxMessages: 10, waitMs: 0 })).toEqual([])
    })

    it('batches beyond one call: 25 messages sent, received and deleted', async () => {
      const { queue } = await makeQueue({ visibilityTimeoutSec: 30 })
      const bodies = Array.from({ length: 25 }, (_, i) => JSON.stringify({ i }))
      await queue.send(bodies.map((body) => ({ body })))
      const got = await receiveAll(queue, 25)
      expect(got.map((m) => m.body).sort()).toEqual([...bodies].sort())
      await queue.delete(got.map((m) => m.receiptHandle))
      expect(await queue.receive({ maxMessages: 10, waitMs: 0 })).toEqual([])
    })

    it('an oversize message is refused with nothing of its batch sent; bad receive sizes are refused', async () => {
      const { queue } = await makeQueue({ visibilityTimeoutSec: 30 })
      const error = await queue.send([{ body: 'small' }, { body: 'x'.repeat(QUEUE_LIMITS.messageBytes + 1) }]).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ParevmError)
      expect((error as Error).message).toMatch(/exceeds/)
      expect(await queue.receive({ maxMessages: 10, waitMs: 1000 })).toEqual([])
      await expect(queue.receive({ maxMessages: 0, waitMs: 0 })).rejects.toThrow(/maxMessages/)
      await expect(queue.receive({ maxMessages: 11, waitMs: 0 })).rejects.toThrow(/maxMessages/)
      // The largest allowed message goes through intact.
      const largest = 'y'.repeat(QUEUE_LIMITS.messageBytes)
      await queue.send([{ body: largest }])
      const [m] = await receiveAll(queue, 1)
      expect(m!.body.length).toBe(QUEUE_LIMITS.messageBytes)
      await queue.delete([m!.receiptHandle])
    })

    it('visibility timeout: an unacknowledged message comes back with a higher receive count', async () => {
      const { queue } = await makeQueue({ visibilityTimeoutSec: 1 })
      await queue.send([{ body: 'again' }])
      const [first] = await receiveAll(queue, 1)
      expect(first!.receiveCount).toBe(1)
      // Invisible while in flight: a short poll does not see it.
      expect(await queue.receive({ maxMessages: 10, waitMs: 0 })).toEqual([])
      const [second] = await receiveAll(queue, 1, { waitMs: 2000, rounds: 5 })
      expect(second!.id).toBe(first!.id)
      expect(second!.receiveCount).toBe(2)
      await queue.delete([second!.receiptHandle])
    })

    it('extendVisibility: 0 makes an in-flight message visible at once; an unknown handle is an error', async () => {
      const { queue } = await makeQueue({ visibilityTimeoutSec: 30 })
      await queue.send([{ body: 'retry-now' }])
      const [first] = await receiveAll(queue, 1)
      await queue.extendVisibility(first!.receiptHandle, 20_000)
      await queue.extendVisibility(first!.receiptHandle, 0)
      const [again] = await receiveAll(queue, 1)
      expect(again!.id).toBe(first!.id)
      expect(again!.receiveCount).toBeGreaterThanOrEqual(2)
      await queue.delete([again!.receiptHandle])
      await expect(queue.extendVisibility('not-a-receipt-handle', 1000)).rejects.toBeInstanceOf(ParevmError)
    })

    it('a per-receive visibility override is honoured', async () => {
      const { queue } = await makeQueue({ visibilityTimeoutSec: 300 })
      await queue.send([{ body: 'short' }])
      const [first] = await receiveAll(queue, 1, { visibilityTimeoutMs: 1000 })
      const [second] = await receiveAll(queue, 1, { waitMs: 2000, rounds: 5 })
      expect(second!.id).toBe(first!.id)
      await queue.delete([second!.receiptHandle])
    })

    it('dead-letter queue: after maxReceiveCount receives the message moves, and nothing else does', async () => {
      const { queue, deadLetter } = await makeQueue({ visibilityTimeoutSec: 1, maxReceiveCount: 2 })
      await queue.send([{ body: 'poison' }, { body: 'fine' }])
      const seen: QueueMessage[] = []
      for (let round = 0; round < 20; round++) {
        const got = await queue.receive({ maxMessages: 10, waitMs: 1000 })
        for (const m of got) {
          if (m.body === 'fine') await queue.delete([m.receiptHandle])
          else seen.push(m)
        }
        if (seen.length >= 2) break
      }
      expect(seen.map((m) => m.receiveCount)).toEqual([1, 2])
      // After its visibility timeout the message is not delivered a third time...
      expect(await queue.receive({ maxMessages: 10, waitMs: 2500 })).toEqual([])
      // ...but moved to the dead-letter queue.
      const dead = await receiveAll(deadLetter!, 1, { waitMs: 2000, rounds: 6 })
      expect(dead.map((m) => m.body)).toEqual(['poison'])
    })

    it('long polling: a receive that is waiting gets a message sent meanwhile', async () => {
      const { queue } = await makeQueue({ visibilityTimeoutSec: 30 })
      // No fallback: the receive that was already waiting must be the one that returns the
      // message, and it returns it before its wait runs out (a short poll returns nothing; a
      // poll that only looks again at the end of its wait would take the whole 8 s).
      const t0 = performance.now()
      const waiting = queue.receive({ maxMessages: 1, waitMs: 8000 })
      await new Promise((r) => setTimeout(r, 300))
      await queue.send([{ body: 'late' }])
      const got = await waiting
      const waitedMs = performance.now() - t0
      expect(got.map((m) => m.body)).toEqual(['late'])
      expect(waitedMs).toBeLessThan(7000)
      await queue.delete(got.map((m) => m.receiptHandle))
    })

    it('depth counts visible and in-flight messages', async () => {
      const { queue } = await makeQueue({ visibilityTimeoutSec: 30 })
      await queue.send([{ body: 'a' }, { body: 'b' }, { body: 'c' }])
      const [m] = await receiveAll(queue, 1, { rounds: 3 })
      const visibleExpected = gaps.includes('depth-counts-in-flight') ? 3 : 2
      const settle = async (visible: number, inFlight: number) => {
        let depth = await queue.depth()
        // SQS counts are approximate: allow them a few polls to settle.
        for (let i = 0; i < 10 && (depth.visible !== visible || depth.inFlight !== inFlight); i++) {
          await new Promise((r) => setTimeout(r, 300))
          depth = await queue.depth()
        }
        return depth
      }
      expect(await settle(visibleExpected, 1)).toEqual({ visible: visibleExpected, inFlight: 1, delayed: 0 })
      const rest = await receiveAll(queue, 2)
      await queue.delete([m!.receiptHandle, ...rest.map((r) => r.receiptHandle)])
      expect(await settle(0, 0)).toEqual({ visible: 0, inFlight: 0, delayed: 0 })
    })

    it('FIFO: order within a group, a group is held while one of its messages is in flight, duplicates dropped', async () => {
      const { queue } = await makeQueue({ visibilityTimeoutSec: 30, fifo: true })
      await expect(queue.send([{ body: 'no group' }])).rejects.toThrow(/groupId/)
      await queue.send([
        { body: 'g1-a', groupId: 'g1', dedupId: 'g1-a' },
        { body: 'g1-b', groupId: 'g1', dedupId: 'g1-b' },
        { body: 'g1-a again', groupId: 'g1', dedupId: 'g1-a' },
      ])
      const [a] = await receiveAll(queue, 1)
      expect(a!.body).toBe('g1-a')
      expect(a!.groupId).toBe('g1')
      if (!gaps.includes('fifo-group-unlocked')) {
        // g1-b waits until g1-a is acknowledged.
        expect(await queue.receive({ maxMessages: 10, waitMs: 1000 })).toEqual([])
      }
      await queue.delete([a!.receiptHandle])
      const rest = await receiveAll(queue, 2, { rounds: 2 })
      expect(rest.map((m) => m.body)).toEqual(['g1-b'])
      await queue.delete(rest.map((m) => m.receiptHandle))
    })
  })
}
