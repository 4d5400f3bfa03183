/**
 * The worker's polling loop, shared by worker threads, inline workers and the ECS entry point:
 * receive a shard message, keep it invisible while executing (heartbeat), delete it when done
 * (while the next one is received).
 * A shard whose block is not ready yet is made visible again soon; a failure leaves the
 * message to come back after its visibility timeout (and to the dead-letter queue after the
 * queue's maximum receive count).
 */
import { silentLogger, type Logger } from '../log.ts'

import type { Clock } from '../ports/clock.ts'
import type { Queue } from '../ports/queue.ts'
import type { ShardOutcome, ShardWorker } from '../worker/shard-worker.ts'

export interface WorkerLoopOptions {
  visibilityTimeoutMs: number
  waitMs: number
  /** Retry delay for a shard whose block is not ready (head behind). */
  notReadyRetryMs?: number
  log?: Logger
  onOutcome?: (outcome: ShardOutcome) => void
  /** Time for the heartbeat (default: real timers); a simulation passes its own. */
  clock?: Clock
  /** An error that must end the loop (a simulated crash of the process) instead of being retried. */
  isFatal?: (error: unknown) => boolean
}

export interface StopSignal {
  stopped: boolean
}

export async function runWorkerLoop(worker: ShardWorker, shardQueue: Queue, signal: StopSignal, options: WorkerLoopOptions): Promise<void> {
  const log = options.log ?? silentLogger
  while (!signal.stopped) {
    const messages = await shardQueue.receive({ maxMessages: 1, waitMs: options.waitMs, visibilityTimeoutMs: options.visibilityTimeoutMs })
    for (const message of messages) {
      const beatMs = Math.max(50, Math.floor(options.visibilityTimeoutMs / 2))
      const beat = (): void => {
        shardQueue.extendVisibility(message.receiptHandle, options.visibilityTimeoutMs).catch(() => {})
      }
      const clock = options.clock
      let beating = true
      const heartbeat = clock === undefined ? setInterval(beat, beatMs) : undefined
      if (clock !== undefined) {
        void (async () => {
          for (;;) {
            await clock.sleep(beatMs)
            if (!beating) return
            beat()
          }
        })()
      }
      try {
        const outcome = await worker.handle(message)
        options.onOutcome?.(outcome)
        if (outcome.kind === 'not-ready') {
          await shardQueue.extendVisibility(message.receiptHandle, options.notReadyRetryMs ?? 100)
          continue
        }
        // Deleted while the next shard is received: a delete that fails only brings the message
        // back, and its shard is found staged (done again, not executed again).
        void shardQueue.delete([message.receiptHandle]).catch((error: unknown) => log.warn('deleting a done shard message failed; it will be delivered again', { error }))
      } catch (error) {
        if (options.isFatal?.(error) === true) throw error
        log.warn('shard failed; it will be delivered again', { error, receiveCount: message.receiveCount })
      } finally {
        beating = false
        if (heartbeat !== undefined) clearInterval(heartbeat)
      }
    }
  }
}
