/**
 * The one way a role gets its Executor: one per chain, kept while the chain stays the same
 * (an Executor keeps one VM per hardfork, and making a VM costs milliseconds). Workers and the
 * coordinator each hold a cache of their own: an Executor points at one block's view between
 * `beginBlock` and the end of its transactions, and in inline mode a worker and the coordinator
 * share a thread, so they must not share the instance.
 */
import { Executor } from './executor.ts'

import type { ChainSpec } from './block-env.ts'
import type { InferenceService } from '../ai/inference.ts'

export class ExecutorCache {
  private executor: Executor | undefined
  private chainId = ''

  /** `inference`: the AI precompile's service for the executors made here (default: the thread's). */
  constructor(private readonly inference?: InferenceService) {}

  /** The executor of this chain (a new one when the chain differs from the last call's). */
  for(chain: ChainSpec): Executor {
    const id = chainId(chain)
    if (this.executor === undefined || this.chainId !== id) {
      this.executor = new Executor(chain, this.inference)
      this.chainId = id
    }
    return this.executor
  }
}

function chainId(chain: ChainSpec): string {
  return chain.kind === 'custom' ? `custom:${chain.chainId}:${chain.hardfork}` : 'mainnet'
}
