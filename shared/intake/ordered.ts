/**
 * `parevm run`'s lines through the intake runner: judged a window at a time (in parallel on the
 * intake threads), read one by one as the block is cut. A window is judged for one block's rules
 * (chain rules by number and time, gas limit); a line read under other rules is judged again
 * under those, so every line gets the decision its own block's intake would give.
 */
import type { IntakeResult } from './decode.ts'
import type { IntakeRunner, IntakeSpec } from './pool.ts'
import type { TxView } from './tx-view.ts'
import type { Common } from '@ethereumjs/common'

/** Fewest lines judged at once. */
const WINDOW_MIN = 256

export class OrderedIntake {
  private window: { from: number; key: string; results: IntakeResult<TxView>[] } | undefined

  constructor(
    private readonly inputs: readonly string[],
    private readonly runner: IntakeRunner,
    /** Lines judged at once (at least a block's worth). */
    private readonly windowSize: number,
    private readonly clock: () => number,
  ) {}

  /** The judgement of line `index` (0-based) under `spec` (`common`: the block's chain rules). */
  async at(index: number, spec: IntakeSpec, common: Common): Promise<IntakeResult<TxView>> {
    const key = `${common.hardfork()}:${spec.blockGasLimit}:${spec.maxTxBytes ?? ''}`
    const w = this.window
    if (w === undefined || w.key !== key || index < w.from || index >= w.from + w.results.length) {
      const to = Math.min(this.inputs.length, index + Math.max(WINDOW_MIN, this.windowSize))
      this.window = { from: index, key, results: await this.runner.decodeInputs(this.inputs.slice(index, to), spec, this.clock()) }
    }
    return this.window!.results[index - this.window!.from]!
  }
}
