/**
 * The system under test when it runs in this process: the embedded cluster (sequencer,
 * workers, coordinator) over the in-process backends, or over AWS backends (`--with-pipeline`).
 * It seals blocks continuously while the load test injects; a failure (a block that differs
 * from sequential execution, a seal that times out) stops it and is reported.
 */
import { EmbeddedCluster, type ClusterOptions } from '../cluster/embedded.ts'
import { realClock } from '../ports/clock.ts'

export interface PipelineHandle {
  readonly cluster: EmbeddedCluster
  /** The error that stopped the pipeline, if one did. */
  failure(): unknown
  blocksSealed(): number
  stop(): Promise<void>
}

/** Blocks sealed per runUntilIdle call, so that a stop request is seen between calls. */
const BLOCKS_PER_ROUND = 20

export async function startPipeline(options: ClusterOptions & { idleSleepMs?: number }): Promise<PipelineHandle> {
  const cluster = await EmbeddedCluster.start(options)
  const idleSleepMs = options.idleSleepMs ?? 10
  const clock = options.clock ?? realClock
  let stopped = false
  let failure: unknown
  let blocks = 0
  // Bounded by `stopped`: each round seals up to BLOCKS_PER_ROUND blocks or sleeps.
  const loop = (async () => {
    while (!stopped) {
      try {
        const summary = await cluster.runUntilIdle(undefined, BLOCKS_PER_ROUND)
        blocks += summary.blocks
        if (summary.blocks === 0) await clock.sleep(idleSleepMs)
      } catch (error) {
        failure = error
        return
      }
    }
  })()
  return {
    cluster,
    failure: () => failure,
    blocksSealed: () => blocks,
    stop: async () => {
      stopped = true
      await loop
      await cluster.stop()
    },
  }
}
