/**
 * Error classes of the engine. Each ends in `Error`, sets `name`, carries a short
 * message, optional details and a hint on how to fix, and keeps the original as `cause`.
 */
export interface ParevmErrorOptions {
  details?: string
  hint?: string
  cause?: unknown
}

export class ParevmError extends Error {
  readonly details: string | undefined
  readonly hint: string | undefined
  /**
   * Whether the same call may succeed if tried again (a throttled call, a plan not stored yet).
   * A broken invariant, bad input or bad configuration is never retryable: retrying hides it.
   */
  readonly retryable: boolean = false

  constructor(message: string, options: ParevmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ParevmError'
    this.details = options.details
    this.hint = options.hint
  }

  /** Message with details and hint on separate lines, for terminals and logs. */
  describe(): string {
    const lines = [`${this.name}: ${this.message}`]
    if (this.details !== undefined) lines.push(`  details: ${this.details}`)
    if (this.hint !== undefined) lines.push(`  hint: ${this.hint}`)
    return lines.join('\n')
  }
}

/** A state key that the store cannot supply (for example outside a replay fixture's pre-state). */
export class MissingStateError extends ParevmError {
  readonly key: string
  constructor(key: string, options: ParevmErrorOptions = {}) {
    super(`state key not available: ${key}`, options)
    this.name = 'MissingStateError'
    this.key = key
  }
}

/** A conditional write whose condition did not hold (another writer got there first). */
export class ConditionFailedError extends ParevmError {
  readonly keys: string[]
  constructor(keys: string[], options: ParevmErrorOptions = {}) {
    super(`condition failed on ${keys.length} item(s): ${keys.slice(0, 3).join(', ')}`, options)
    this.name = 'ConditionFailedError'
    this.keys = keys
  }
}

/** The backend asked us to slow down; retrying later is safe. */
export class ThrottledError extends ParevmError {
  override readonly retryable = true
  constructor(message: string, options: ParevmErrorOptions = {}) {
    super(message, options)
    this.name = 'ThrottledError'
  }
}

/**
 * An ordinary condition that time resolves: a plan or a shard that is not stored yet, a head
 * that has not moved yet. The caller (or the queue's redelivery) tries again.
 */
export class NotReadyError extends ParevmError {
  override readonly retryable = true
  constructor(message: string, options: ParevmErrorOptions = {}) {
    super(message, options)
    this.name = 'NotReadyError'
  }
}

/** A store or queue call failed (a network error, a server error): the call may be retried. */
export class BackendError extends ParevmError {
  override readonly retryable: boolean
  constructor(message: string, options: ParevmErrorOptions & { retryable?: boolean } = {}) {
    super(message, options)
    this.name = 'BackendError'
    this.retryable = options.retryable ?? true
  }
}

/** A request the port refuses by its limits (an item, a transaction, a message too big). */
export class LimitError extends ParevmError {
  constructor(message: string, options: ParevmErrorOptions = {}) {
    super(message, options)
    this.name = 'LimitError'
  }
}

/** Outside input that is not what it must be (a queue message, a Lambda event, a stored record). */
export class MalformedInputError extends ParevmError {
  constructor(message: string, options: ParevmErrorOptions = {}) {
    super(message, options)
    this.name = 'MalformedInputError'
  }
}

/**
 * A broken invariant: a shard staged twice with different results, a journal whose root
 * disagrees with the trie, a second seal with another hash, an object used out of order. Never
 * an ordinary retryable condition: it stops the role and must be looked at.
 */
export class InvariantError extends ParevmError {
  constructor(message: string, options: ParevmErrorOptions = {}) {
    super(message, options)
    this.name = 'InvariantError'
  }
}

/** A sealed block differs from sequential execution: a correctness failure, never ignored. */
export class VerificationError extends InvariantError {
  constructor(message: string, options: ParevmErrorOptions = {}) {
    super(message, options)
    this.name = 'VerificationError'
  }
}

/** Bad configuration or command-line input. */
export class ConfigError extends ParevmError {
  constructor(message: string, options: ParevmErrorOptions = {}) {
    super(message, options)
    this.name = 'ConfigError'
  }
}

/** An invariant that must hold here; a broken one throws an InvariantError. */
export function assert(condition: unknown, message: string, options: ParevmErrorOptions = {}): asserts condition {
  if (!condition) throw new InvariantError(`invariant broken: ${message}`, options)
}

/** Whether an error is worth trying again (anything not a ParevmError is assumed transient). */
export function isRetryable(error: unknown): boolean {
  return error instanceof ParevmError ? error.retryable : true
}
