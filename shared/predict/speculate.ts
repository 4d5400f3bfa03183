/**
 * Speculative pre-execution of calls that no template covers, before a block is partitioned.
 *
 * Without a template a call is predicted to touch only its sender and the contract, so the
 * first block of a contract nobody has called before is partitioned blind: shards run into each
 * other's storage and the coordinator re-executes the losers one by one. Here a few of those
 * calls (at most `perPairMax` per (contract, selector), `samplesMax` per block, each sender's
 * first transaction of the block so its nonce is the sealed one) are executed against the
 * block-start state - the head's state, read through the store as the workers and eth_call read
 * it - and their actual read and write sets teach the templates (`learnFromExecution`, the
 * coordinator's lesson). The block is then predicted and partitioned with them.
 *
 * Predictions are hints: a sample that taught a wrong template costs re-execution, never a wrong
 * result (validation catches every stale read). What is sampled and learned depends only on the
 * block's transactions, the templates held and the block-start state, never on timing, so a
 * replayed run learns the same templates. A call that cannot run against block-start state
 * (invalid there, or state the store cannot supply) teaches nothing; a store failure fails the
 * planning attempt like any other read the sequencer makes.
 *
 * It runs in the sequencer (on the critical path: the plan reports it as `speculateMs`), on a few
 * executors at once so that misses to a remote store overlap; the EVM work itself is serial.
 */
import { ConfigError, MissingStateError } from '../errors.ts'
import { Executor, isUnsupplied, runnableTx, type TxExecution } from '../exec/executor.ts'
import { toHex } from '../hex.ts'
import { decodeAccount, KECCAK256_NULL } from '../state/values.ts'
import { BlockView, type StateLoader } from '../state/view.ts'
import { lookupFromHashes } from '../worker/shard-worker.ts'
import { learnFromExecution, selectorOf, type TemplateRegistry } from './templates.ts'

import type { BlockEnv, ChainSpec } from '../exec/block-env.ts'
import type { DecodedTx } from '../intake/decode.ts'
import type { StateKey } from '../state/keys.ts'

export interface SpeculationLimits {
  /** Calls executed per (contract, selector) without a template. */
  perPairMax: number
  /** Calls executed per block, over all pairs (the bound on the sequencer's extra work). */
  samplesMax: number
  /** A call with a higher gas limit is not sampled (bounds the EVM work of one sample). */
  sampleGasMax: bigint
  /** Executors run at once (overlaps store round trips; the EVM work is serial either way). */
  concurrency: number
}

export const DEFAULT_SPECULATION_LIMITS: SpeculationLimits = {
  perPairMax: 2,
  samplesMax: 32,
  sampleGasMax: 1_000_000n,
  concurrency: 4,
}

export interface SpeculationContext {
  chain: ChainSpec
  /** The block being planned (its number, timestamp, base fee, beneficiary). */
  env: BlockEnv
  /** Block-start state: the head's, through the store. */
  state: StateLoader
  /** Recent block hashes by number (the head's `recentHashes`), for BLOCKHASH. */
  blockHashes: Record<string, string>
}

export interface SpeculationStats {
  /** Distinct (contract, selector) pairs of the block that had no template. */
  pairs: number
  /** Calls executed. */
  sampled: number
  /** Samples that taught nothing (invalid against block-start state, or unsupplied state). */
  skipped: number
  /** Pairs that have a template after speculation. */
  learned: number
  /** Wall time of the whole step. */
  ms: number
}

export interface SampleChoice {
  /** Indices into the block's transactions, in block order. */
  samples: number[]
  /** Distinct (contract, selector) pairs without a template. */
  pairs: number
}

/**
 * Which calls to execute: in block order, each sender's first transaction of the block that
 * calls a (contract, selector) with no template, at most `perPairMax` per pair and `samplesMax`
 * in all. Deterministic: a function of the transactions, their order and the templates held.
 */
export function chooseSamples(txs: readonly DecodedTx[], templates: TemplateRegistry, limits: SpeculationLimits = DEFAULT_SPECULATION_LIMITS): SampleChoice {
  const seenSenders = new Set<string>()
  const perPair = new Map<string, number>()
  const samples: number[] = []
  for (let i = 0; i < txs.length; i++) {
    const { tx, senderHex } = txs[i]!
    const firstOfSender = !seenSenders.has(senderHex)
    seenSenders.add(senderHex)
    if (tx.to === undefined || tx.data.length < 4) continue
    const to = toHex(tx.to.bytes)
    if (templates.get(to, tx.data) !== undefined) continue
    const pair = `${to}:${selectorOf(tx.data)}`
    if (!perPair.has(pair)) perPair.set(pair, 0)
    const count = perPair.get(pair)!
    if (!firstOfSender || tx.gasLimit > limits.sampleGasMax) continue
    if (count >= limits.perPairMax || samples.length >= limits.samplesMax) continue
    perPair.set(pair, count + 1)
    samples.push(i)
  }
  return { samples, pairs: perPair.size }
}

/**
 * Runs the samples on its own executors (kept between blocks: a VM costs milliseconds to make).
 * One per sequencer; not safe for two blocks at once (the sequencer plans one at a time).
 */
export class Speculator {
  readonly limits: SpeculationLimits
  private executors: Executor[] = []
  private executorsChain = ''

  constructor(limits: Partial<SpeculationLimits> = {}) {
    this.limits = { ...DEFAULT_SPECULATION_LIMITS, ...limits }
    if (!Number.isInteger(this.limits.perPairMax) || this.limits.perPairMax < 0) throw new ConfigError(`speculation perPairMax must be a non-negative integer (got ${this.limits.perPairMax})`)
    if (!Number.isInteger(this.limits.samplesMax) || this.limits.samplesMax < 0) throw new ConfigError(`speculation samplesMax must be a non-negative integer (got ${this.limits.samplesMax})`)
    if (!Number.isInteger(this.limits.concurrency) || this.limits.concurrency < 1 || this.limits.concurrency > 64) throw new ConfigError(`speculation concurrency must be 1..64 (got ${this.limits.concurrency})`)
  }

  /** Execute the chosen samples against block-start state and teach `templates` what they touched. */
  async speculate(txs: readonly DecodedTx[], templates: TemplateRegistry, ctx: SpeculationContext): Promise<SpeculationStats> {
    const t0 = performance.now()
    const { samples, pairs } = chooseSamples(txs, templates, this.limits)
    if (samples.length === 0) return { pairs, sampled: 0, skipped: 0, learned: 0, ms: performance.now() - t0 }

    const coinbase = ctx.env.coinbase.slice(2).toLowerCase()
    const view = new BlockView(BigInt(ctx.env.number), ctx.state)
    // What every sample reads first, in one batch: senders, contracts, their code.
    const accounts = new Set<StateKey>([coinbase])
    for (const i of samples) {
      accounts.add(txs[i]!.senderHex)
      accounts.add(toHex(txs[i]!.tx.to!.bytes))
    }
    await view.prefetch(accounts)
    const codeHashes: string[] = []
    for (const key of accounts) {
      const value = view.getLoadedBase(key)?.value ?? null
      // An account the store cannot supply (a replayed block's unlisted key) has no code to load.
      if (value === null || isUnsupplied(value)) continue
      const codeHash = decodeAccount(value)?.codeHash
      if (codeHash !== undefined && !codeHash.every((b, j) => b === KECCAK256_NULL[j])) codeHashes.push(toHex(codeHash))
    }
    await view.prefetchCode(codeHashes)

    const results = await this.run(samples.map((i) => txs[i]!), view, ctx)

    // Learn in block order, whatever order the executors finished in.
    let skipped = 0
    const learnedPairs = new Set<string>()
    for (let s = 0; s < samples.length; s++) {
      const result = results[s]
      const { tx, senderHex } = txs[samples[s]!]!
      if (result === undefined || !result.valid) {
        skipped++
        continue
      }
      const to = toHex(tx.to!.bytes)
      learnFromExecution(templates, { caller: senderHex, to, data: tx.data }, result.access, Number(result.gasUsed), coinbase)
      learnedPairs.add(`${to}:${selectorOf(tx.data)}`)
    }
    return { pairs, sampled: samples.length, skipped, learned: learnedPairs.size, ms: performance.now() - t0 }
  }

  /** Each executor takes every `concurrency`-th sample; results by sample (undefined: skipped). */
  private async run(calls: readonly DecodedTx[], view: BlockView, ctx: SpeculationContext): Promise<(TxExecution | undefined)[]> {
    const chainKey = JSON.stringify(ctx.chain)
    if (chainKey !== this.executorsChain) {
      this.executors = []
      this.executorsChain = chainKey
    }
    const lanes = Math.min(this.limits.concurrency, calls.length)
    while (this.executors.length < lanes) this.executors.push(new Executor(ctx.chain))
    const lookup = lookupFromHashes(ctx.blockHashes)
    const txCommon = this.executors[0]!.txCommonForEnv(ctx.env)
    const results: (TxExecution | undefined)[] = new Array(calls.length)
    // Every lane ends before this returns or throws: a lane left running would share its
    // executor with the next block's speculation.
    const settled = await Promise.allSettled(
      this.executors.slice(0, lanes).map(async (executor, lane) => {
        for (let s = lane; s < calls.length; s += lanes) {
          // Again per call: an executor drops its VM after a failed call.
          await executor.beginBlock(ctx.env, view, lookup)
          // The full transaction from its bytes (intake may hand over only a view of its fields).
          const call = calls[s]!
          const tx = runnableTx(call.raw, txCommon, call.sender, call.senderPubKey)
          try {
            results[s] = await executor.execute(tx)
          } catch (error) {
            // State the store cannot supply (a BLOCKHASH it does not know, a replayed block's
            // unlisted key) is the call's matter: it teaches nothing. Anything else (a store
            // failure) fails the planning attempt, as any read of the sequencer's would.
            if (!(error instanceof MissingStateError)) throw error
            results[s] = undefined
          }
        }
      }),
    )
    for (const lane of settled) if (lane.status === 'rejected') throw lane.reason
    return results
  }
}
