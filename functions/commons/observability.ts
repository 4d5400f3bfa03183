/**
 * Structured JSON logs (Powertools Logger) and CloudWatch metrics in Embedded Metric Format
 * (Powertools Metrics: JSON lines on stdout that CloudWatch Logs turns into metrics, on Lambda
 * and on ECS with the awslogs driver alike). The engine logs through its own small Logger
 * interface; `engineLogger` adapts a Powertools logger to it, so engine log lines carry the
 * entry point's keys (role, block, shard, transaction hash).
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger'
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics'

import { ParevmError } from '../../shared/errors.ts'

import type { LogFields, Logger } from '../../shared/log.ts'

export { MetricUnit }

export const SERVICE_NAME = 'parevm'

/** JSON-safe fields: bigints as decimal strings, errors with their details and hint. */
export function logFields(fields: LogFields | undefined): Record<string, unknown> {
  if (fields === undefined) return {}
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) out[key] = jsonSafe(value, 0)
  return out
}

function jsonSafe(value: unknown, depth: number): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Error) {
    return {
      name: value.name,
      message: value.message,
      ...(value instanceof ParevmError && value.details !== undefined ? { details: value.details } : {}),
      ...(value instanceof ParevmError && value.hint !== undefined ? { hint: value.hint } : {}),
      stack: value.stack,
    }
  }
  if (depth < 4 && Array.isArray(value)) return value.map((v) => jsonSafe(v, depth + 1))
  if (depth < 4 && value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v, depth + 1)]))
  }
  return value
}

export function createLogger(role: string): PowertoolsLogger {
  return new PowertoolsLogger({ serviceName: SERVICE_NAME, persistentKeys: { role } })
}

/** The engine's Logger over a Powertools logger. */
export function engineLogger(logger: PowertoolsLogger): Logger {
  return {
    debug: (message, fields) => logger.debug(message, logFields(fields)),
    info: (message, fields) => logger.info(message, logFields(fields)),
    warn: (message, fields) => logger.warn(message, logFields(fields)),
    error: (message, fields) => logger.error(message, logFields(fields)),
    child: (fields) => engineLogger(logger.createChild({ persistentKeys: logFields(fields) as Record<string, string> })),
  }
}

export function createMetrics(role: string): Metrics {
  return new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? SERVICE_NAME,
    serviceName: SERVICE_NAME,
    defaultDimensions: { role },
  })
}
