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
  constructor(message: string, options: ParevmErrorOptions = {}) {
    super(message, options)
    this.name = 'ThrottledError'
  }
}

/** A sealed block differs from sequential execution: a correctness failure, never ignored. */
export class VerificationError extends ParevmError {
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

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ParevmError(`assertion failed: ${message}`)
}
