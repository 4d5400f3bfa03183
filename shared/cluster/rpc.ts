/**
 * A minimal RPC over a worker_threads MessagePort, so worker threads reach the in-process
 * store and queues that live in the main thread through the same port interfaces.
 * Errors cross the boundary with their class (for the ones the engine branches on).
 */
import { ConditionFailedError, MissingStateError, ParevmError, ThrottledError } from '../errors.ts'

import type { MessagePort } from 'node:worker_threads'

interface Request {
  rpc: 'call'
  id: number
  target: string
  method: string
  args: unknown[]
}
interface Response {
  rpc: 'result'
  id: number
  ok: boolean
  value?: unknown
  error?: { name: string; message: string; keys?: string[]; key?: string; details?: string; hint?: string }
}

function serializeError(error: unknown): NonNullable<Response['error']> {
  if (error instanceof ConditionFailedError) return { name: error.name, message: error.message, keys: error.keys }
  if (error instanceof MissingStateError) return { name: error.name, message: error.message, key: error.key }
  if (error instanceof ParevmError) return { name: error.name, message: error.message, ...(error.details !== undefined ? { details: error.details } : {}), ...(error.hint !== undefined ? { hint: error.hint } : {}) }
  if (error instanceof Error) return { name: error.name, message: error.message }
  return { name: 'Error', message: String(error) }
}

function deserializeError(e: NonNullable<Response['error']>): Error {
  const options = { ...(e.details !== undefined ? { details: e.details } : {}), ...(e.hint !== undefined ? { hint: e.hint } : {}) }
  if (e.name === 'ConditionFailedError') return new ConditionFailedError(e.keys ?? [])
  if (e.name === 'MissingStateError') return new MissingStateError(e.key ?? '?', options)
  if (e.name === 'ThrottledError') return new ThrottledError(e.message)
  const error = new ParevmError(e.message, options)
  error.name = e.name
  return error
}

/** Main-thread side: answer calls on `targets` (objects whose methods return promises). */
export function serveRpc(port: MessagePort, targets: Record<string, object>): void {
  port.on('message', (message: Request) => {
    if (message?.rpc !== 'call') return
    const target = targets[message.target] as Record<string, (...args: unknown[]) => Promise<unknown>> | undefined
    const fn = target?.[message.method]
    if (typeof fn !== 'function') {
      port.postMessage({ rpc: 'result', id: message.id, ok: false, error: { name: 'ParevmError', message: `no RPC method ${message.target}.${message.method}` } } satisfies Response)
      return
    }
    Promise.resolve()
      .then(() => fn.apply(target, message.args))
      .then(
        (value) => port.postMessage({ rpc: 'result', id: message.id, ok: true, value } satisfies Response),
        (error) => port.postMessage({ rpc: 'result', id: message.id, ok: false, error: serializeError(error) } satisfies Response),
      )
  })
}

/** Worker side: typed proxies whose methods are remote calls. */
export function connectRpc(port: MessagePort): { proxy<T extends object>(target: string): T } {
  let nextId = 1
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  port.on('message', (message: Response) => {
    if (message?.rpc !== 'result') return
    const waiter = pending.get(message.id)
    if (waiter === undefined) return
    pending.delete(message.id)
    if (message.ok) waiter.resolve(message.value)
    else waiter.reject(deserializeError(message.error!))
  })
  return {
    proxy<T extends object>(target: string): T {
      return new Proxy({} as T, {
        get(_obj, method) {
          if (typeof method !== 'string' || method === 'then') return undefined
          return (...args: unknown[]) =>
            new Promise((resolve, reject) => {
              const id = nextId++
              pending.set(id, { resolve, reject })
              port.postMessage({ rpc: 'call', id, target, method, args } satisfies Request)
            })
        },
      })
    },
  }
}
