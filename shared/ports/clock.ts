/** Time, injected: production uses the real clock, simulations may not. */
export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

/**
 * One turn of the event loop: what waits on this thread gets in (I/O callbacks, messages from
 * worker threads). Long loops on a shared thread await it every so many items.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}
