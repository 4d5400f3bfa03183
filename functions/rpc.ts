/**
 * The Ethereum JSON-RPC endpoint as a Lambda function (`handler`) behind a function URL: the
 * same handler as `parevm node` (shared/rpc), reading the head, blocks, receipts, logs and the
 * latest state from the tables and putting eth_sendRawTransaction on the ingress queue as
 * `{"raw": ...}`. HTTP events are the function URL's (payload format 2.0, as API Gateway HTTP
 * APIs send). GET / serves the live page (its blocks from the block records).
 *
 * Per container, as the handler keeps them: the pending-nonce view of transactions it accepted
 * (another container does not see them), installed filters, the block cache.
 */
import { StoreBackend } from '../shared/rpc/backend.ts'
import { RpcService } from '../shared/rpc/service.ts'
import { NODE_PAGE_HTML } from './cli/node-page.ts'
import { openAwsRuntime, once } from './commons/clients.ts'
import { loadEnv, rpcEnvSchema, type RpcEnv } from './commons/config.ts'
import { MetricUnit, createLogger, createMetrics } from './commons/observability.ts'

import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger'
import type { Metrics } from '@aws-lambda-powertools/metrics'
import type { AwsBackend } from '../shared/adapters/aws/provision.ts'

export interface RpcRuntime {
  backend: AwsBackend
  service: RpcService
  logger: PowertoolsLogger
  metrics: Metrics
}

export async function createRpcRuntime(env: RpcEnv, options: { backend?: AwsBackend; logger?: PowertoolsLogger; metrics?: Metrics } = {}): Promise<RpcRuntime> {
  const backend = options.backend ?? (await openAwsRuntime(env, { checkTables: true, queues: ['ingress'] })).backend
  const chainId = BigInt(env.PAREVM_CHAIN_ID)
  const store = new StoreBackend({
    kv: backend.kv,
    ingress: backend.queues.ingress,
    chain: { kind: 'custom', chainId: `0x${chainId.toString(16)}`, hardfork: env.PAREVM_HARDFORK },
    chainId,
    coinbase: env.PAREVM_COINBASE.toLowerCase(),
    // A cold container finds a block by hash within the last 10,000 blocks.
    hashScanDepth: 10_000,
  })
  const service = new RpcService({ backend: store, clientVersion: 'parevm/0.1.0 (aws)' })
  return { backend, service, logger: options.logger ?? createLogger('rpc'), metrics: options.metrics ?? createMetrics('rpc') }
}

/** A function URL / HTTP API (payload 2.0) request, as far as the handler reads it. */
export interface HttpEvent {
  body?: string
  isBase64Encoded?: boolean
  requestContext?: { http?: { method?: string; path?: string } }
  rawPath?: string
}

export interface HttpResult {
  statusCode: number
  headers: Record<string, string>
  body: string
}

const JSON_HEADERS = { 'content-type': 'application/json' }

/** One HTTP request: JSON-RPC on POST, the live page on GET /. */
export async function handleHttp(rt: RpcRuntime, event: HttpEvent): Promise<HttpResult> {
  const method = event.requestContext?.http?.method ?? 'POST'
  const path = event.rawPath ?? event.requestContext?.http?.path ?? '/'
  if (method === 'GET') {
    if (path === '/' || path === '/index.html') return { statusCode: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, body: NODE_PAGE_HTML }
    if (path === '/health') return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'ok\n' }
    return { statusCode: 404, headers: { 'content-type': 'text/plain' }, body: 'not found: JSON-RPC is POST /, the live page is GET /\n' }
  }
  if (method === 'OPTIONS') return { statusCode: 204, headers: {}, body: '' }
  if (method !== 'POST') return { statusCode: 405, headers: { allow: 'GET, POST, OPTIONS', 'content-type': 'text/plain' }, body: 'method not allowed: JSON-RPC is POST /\n' }
  const body = event.body === undefined ? '' : event.isBase64Encoded === true ? Buffer.from(event.body, 'base64').toString('utf8') : event.body
  const t0 = performance.now()
  const answer = await rt.service.handle(body)
  const ms = performance.now() - t0
  const errors = countErrors(answer)
  rt.metrics.addMetric('RpcRequests', MetricUnit.Count, 1)
  rt.metrics.addMetric('RpcErrors', MetricUnit.Count, errors)
  rt.metrics.addMetric('RpcLatencyMs', MetricUnit.Milliseconds, ms)
  rt.metrics.publishStoredMetrics()
  if (answer === '') return { statusCode: 204, headers: {}, body: '' }
  const oversize = Buffer.byteLength(body) > rt.service.limits.maxBodyBytes
  return { statusCode: oversize ? 413 : 200, headers: JSON_HEADERS, body: answer }
}

/** JSON-RPC error objects in a response body (one answer or a batch). */
function countErrors(answer: string): number {
  if (answer === '') return 0
  let n = 0
  for (let i = answer.indexOf('"error":'); i !== -1; i = answer.indexOf('"error":', i + 8)) n++
  return n
}

const runtime = once(async () => createRpcRuntime(loadEnv(rpcEnvSchema, 'rpc')))

export const handler = async (event: HttpEvent): Promise<HttpResult> => {
  const rt = await runtime()
  try {
    return await handleHttp(rt, event)
  } catch (error) {
    rt.logger.error('JSON-RPC request failed', { error: error as Error })
    return { statusCode: 500, headers: JSON_HEADERS, body: JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'internal error' } }) }
  }
}
