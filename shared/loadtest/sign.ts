/**
 * Signing ahead of the run, in worker threads. Each thread owns the senders s with
 * s mod threads = its number and signs their transactions in nonce order; results are placed by
 * schedule index. A progress callback reports signed counts as the threads go.
 */
import { ParevmError } from '../errors.ts'
import { loadtestThread } from './threads.ts'

import type { WorkloadContext } from './intents.ts'

export interface SignJob {
  ctx: Omit<WorkloadContext, 'chainId'> & { chainId: string }
  total: number
  threads: number
  thread: number
  /** Next nonce of every sender on the chain, decimal. */
  baseNonces: string[]
}

export interface SignedSchedule {
  raws: string[]
  hashes: string[]
  ms: number
  threads: number
}

export const SIGN_THREADS_MAX = 64
/** A thread costs a module load and a Common at start: no more threads than this many transactions each justify. */
export const SIGN_TXS_PER_THREAD_MIN = 2000

export async function signSchedule(options: {
  ctx: WorkloadContext
  total: number
  baseNonces: readonly bigint[]
  threads: number
  onProgress?: (signed: number, total: number) => void
}): Promise<SignedSchedule> {
  const { ctx, total } = options
  if (options.baseNonces.length !== ctx.accounts) throw new ParevmError(`signSchedule: ${options.baseNonces.length} nonces for ${ctx.accounts} senders`)
  const threads = Math.max(1, Math.min(options.threads, SIGN_THREADS_MAX, ctx.accounts, Math.ceil(total / SIGN_TXS_PER_THREAD_MIN)))
  const t0 = performance.now()
  const raws: string[] = new Array(total)
  const hashes: string[] = new Array(total)
  let signed = 0
  const baseNonces = options.baseNonces.map((n) => n.toString())
  const job = (thread: number): SignJob => ({ ctx: { ...ctx, chainId: ctx.chainId.toString() }, total, threads, thread, baseNonces })
  await Promise.all(
    Array.from({ length: threads }, (_, thread) =>
      new Promise<void>((resolve, reject) => {
        const worker = loadtestThread('sign-thread', { ...job(thread) })
        let settled = false
        const finish = (error?: Error): void => {
          if (settled) return
          settled = true
          void worker.terminate()
          if (error === undefined) resolve()
          else reject(error)
        }
        worker.on('message', (m: { progress?: number; error?: string; indices?: number[]; raws?: string[]; hashes?: string[] }) => {
          if (m.progress !== undefined) {
            signed += m.progress
            options.onProgress?.(signed, total)
          } else if (m.error !== undefined) {
            finish(new ParevmError(`signing thread ${thread} failed`, { details: m.error }))
          } else if (m.indices !== undefined) {
            m.indices.forEach((index, k) => {
              raws[index] = m.raws![k]!
              hashes[index] = m.hashes![k]!
            })
            finish()
          }
        })
        worker.on('error', (error) => finish(new ParevmError(`signing thread ${thread} failed: ${error.message}`, { cause: error })))
        worker.on('exit', (code) => finish(new ParevmError(`signing thread ${thread} exited (${code}) before finishing`)))
      }),
    ),
  )
  for (let i = 0; i < total; i++) if (raws[i] === undefined) throw new ParevmError(`signing left transaction ${i} unsigned`)
  return { raws, hashes, ms: performance.now() - t0, threads }
}
