/**
 * Bounded retries with exponential backoff and full jitter (the AWS recommendation), and a
 * bounded-concurrency map for the adapters' parallel batch calls. Every retry loop in the
 * adapters takes its bound from here.
 */
export interface BackoffOptions {
  /** Most attempts, the first included (at least 1). */
  attemptsMax: number
  /** First delay ceiling; doubles per attempt. */
  baseMs: number
  /** Largest delay ceiling. */
  capMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { attemptsMax: 10, baseMs: 25, capMs: 2_000 }

/** Delay before retry number `attempt` (1-based): uniform in [0, min(cap, base * 2^(attempt-1))]. */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.floor(random() * ceiling)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Map with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const lanes = Math.max(1, Math.min(limit, items.length))
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (;;) {
        const i = next++
        if (i >= items.length) return
        out[i] = await fn(items[i]!, i)
      }
    }),
  )
  return out
}

/** Split into chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
