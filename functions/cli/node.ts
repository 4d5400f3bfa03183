/**
 * `parevm node`: the embedded cluster running continuously behind a standard Ethereum JSON-RPC
 * endpoint over HTTP (shared/rpc), so wallets, viem, ethers and Foundry use it like any chain.
 * Transactions accepted by eth_sendRawTransaction go to the ingress queue; a sealing loop runs
 * the pipeline whenever transactions wait (at most every --block-time seconds, at once when a
 * block is full). GET / serves a live page of the latest blocks.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { join } from 'node:path'

import { z } from 'zod'

import { buildGenesis, parseGenesis, type GenesisFile } from '../../shared/chain/genesis.ts'
import { EmbeddedCluster, type BlockEvent } from '../../shared/cluster/embedded.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { privateKeyToAddress } from '../../shared/crypto/secp256k1.ts'
import { ConfigError } from '../../shared/errors.ts'
import { bigintToHex, to0x } from '../../shared/hex.ts'
import { StoreBackend } from '../../shared/rpc/backend.ts'
import { RPC_INVALID_REQUEST } from '../../shared/rpc/errors.ts'
import { RpcService, type BlockSummary, type RpcLimits } from '../../shared/rpc/service.ts'
import { intOption, parseCommand, readJsonFile } from './args.ts'
import { NODE_PAGE_HTML } from './node-page.ts'
import { blockLine } from './output.ts'
import { defaultWorkers } from './run-embedded.ts'

export const NODE_HELP = `parevm node [options]    the embedded cluster behind an Ethereum JSON-RPC endpoint

  --genesis FILE     a geth-style genesis (as parevm run takes); without it a dev chain
                     (chain id 31337) with 10 funded accounts, printed with their keys
  --port N           HTTP port (default 8545; 0 picks a free one)
  --host H           address to listen on (default 127.0.0.1)
  --block-time S     seal at most every S seconds while transactions wait, at once when a
                     block is full (default 0: as soon as transactions arrive)
  --block-size N     most transactions per block (default 1000)
  --workers N        worker threads (default: cores)
  --no-verify        skip the sequential check of every sealed block
  --inline           run the workers in the main thread (no worker threads: nearly no CPU
                     while idle, less throughput)
  --data DIR         keep the chain in DIR across restarts (rebuilt at start by executing its
                     blocks again); default: in memory, gone when the node stops

JSON-RPC 2.0 over HTTP POST at /; GET / shows the latest blocks live. Ctrl-C stops.
See docs/rpc.md for the methods, block tags and how to connect MetaMask, cast, viem and ethers.
`

const schema = z.object({
  genesis: z.string().optional(),
  port: intOption(0, 65535).default(8545),
  host: z.string().default('127.0.0.1'),
  'block-time': z.coerce.number({ error: 'expected a number of seconds' }).min(0).max(3600).default(0),
  'block-size': intOption(1, 100_000).default(1000),
  workers: intOption(1, 256).optional(),
  verify: z.boolean().default(true),
  inline: z.boolean().default(false),
  data: z.string().optional(),
  help: z.boolean().default(false),
  positionals: z.array(z.string()).max(0, 'node takes no positional arguments'),
})

export const DEV_CHAIN_ID = 31337
const DEV_ACCOUNTS = 10
const DEV_BALANCE = 10_000n * 10n ** 18n

export interface DevAccount {
  address: string
  privateKey: string
}

/** The dev chain's accounts: fixed keys (keccak256 of "parevm dev account i"), public knowledge. */
export function devAccounts(count = DEV_ACCOUNTS): DevAccount[] {
  return Array.from({ length: count }, (_, i) => {
    const key = keccak256(new TextEncoder().encode(`parevm dev account ${i}`))
    return { address: to0x(privateKeyToAddress(key)), privateKey: to0x(key) }
  })
}

export function devGenesisFile(accounts: readonly DevAccount[] = devAccounts(), timestampSec = Math.floor(Date.now() / 1000)): GenesisFile {
  return parseGenesis({
    config: { chainId: DEV_CHAIN_ID, hardfork: 'cancun' },
    alloc: Object.fromEntries(accounts.map((a) => [a.address, { balance: bigintToHex(DEV_BALANCE) }])),
    gasLimit: bigintToHex(30_000_000n),
    baseFeePerGas: bigintToHex(1_000_000_000n),
    timestamp: bigintToHex(BigInt(timestampSec)),
  })
}

export interface NodeOptions {
  /** Default: the dev genesis. */
  genesisFile?: GenesisFile
  port?: number
  host?: string
  blockTimeSec?: number
  blockSize?: number
  workers?: number
  threads?: boolean
  verify?: boolean
  limits?: Partial<RpcLimits>
  /** Lines the node prints (URL, accounts, one per sealed block); default: none. */
  print?: (line: string) => void
  /** Longest time a client may take to send its request (default 30 s). */
  requestTimeoutMs?: number
  /**
   * Keep the chain in this folder across restarts: its genesis, its header time step, and every
   * sealed block's transactions (`blocks.jsonl`). A restart rebuilds the chain by executing those
   * blocks again, with the same cuts (so the same hashes, checked against the stored ones).
   */
  dataDir?: string
}

/** What `--data DIR` keeps: enough to rebuild the chain exactly. */
interface DataDirMeta {
  v: 1
  /** Seconds between block timestamps (the header's step, not the sealing interval). */
  headerStepSec: number
  /** The genesis is the dev chain's (its keys are printed again). */
  dev: boolean
}

interface StoredBlock {
  number: string
  hash: string
  raws: string[]
}

function readDataDir(dir: string): { genesisFile: GenesisFile; meta: DataDirMeta; blocks: StoredBlock[] } | undefined {
  const genesisPath = join(dir, 'genesis.json')
  if (!existsSync(genesisPath)) return undefined
  try {
    const genesisFile = parseGenesis(JSON.parse(readFileSync(genesisPath, 'utf8')))
    const meta = JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')) as DataDirMeta
    const blocksPath = join(dir, 'blocks.jsonl')
    const blocks = existsSync(blocksPath)
      ? readFileSync(blocksPath, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as StoredBlock)
      : []
    return { genesisFile, meta, blocks }
  } catch (error) {
    throw new ConfigError(`parevm node: cannot read the chain kept in ${dir}: ${(error as Error).message}`, { hint: 'point --data at an empty folder for a new chain' })
  }
}

export interface RunningNode {
  url: string
  port: number
  chainId: bigint
  accounts: DevAccount[]
  service: RpcService
  cluster: EmbeddedCluster
  server: Server
  /** Resolves when no transaction waits and no block is being sealed. */
  idle(): Promise<void>
  stop(): Promise<void>
}

const BLOCK_HISTORY = 200

export async function startNode(o: NodeOptions = {}): Promise<RunningNode> {
  const print = o.print ?? (() => {})
  const kept = o.dataDir === undefined ? undefined : readDataDir(o.dataDir)
  if (kept !== undefined && o.genesisFile !== undefined && JSON.stringify(o.genesisFile) !== JSON.stringify(kept.genesisFile)) {
    throw new ConfigError(`parevm node: ${o.dataDir} holds a chain of another genesis`, { hint: 'leave out --genesis to go on with the kept chain, or use an empty folder' })
  }
  const dev = kept?.meta.dev ?? o.genesisFile === undefined
  const accounts = dev ? devAccounts() : []
  const genesisFile = kept?.genesisFile ?? o.genesisFile ?? devGenesisFile(accounts)
  const genesis = buildGenesis(genesisFile)
  const blockTimeSec = o.blockTimeSec ?? 0
  const blockSize = o.blockSize ?? 1000
  const headerStepSec = kept?.meta.headerStepSec ?? Math.max(1, Math.ceil(blockTimeSec))
  if (o.dataDir !== undefined && kept === undefined) {
    mkdirSync(o.dataDir, { recursive: true })
    writeFileSync(join(o.dataDir, 'genesis.json'), `${JSON.stringify(genesisFile, null, 1)}\n`)
    writeFileSync(join(o.dataDir, 'node.json'), `${JSON.stringify({ v: 1, headerStepSec, dev } satisfies DataDirMeta)}\n`)
  }
  const cluster = await EmbeddedCluster.start({
    genesis,
    workers: o.workers ?? defaultWorkers(),
    threads: o.threads ?? true,
    blockSize,
    blockTimeSec: headerStepSec,
    verify: o.verify ?? true,
  })
  const backend = new StoreBackend({ kv: cluster.kv, ingress: cluster.ingress, chain: genesis.chain, chainId: genesis.chainId, coinbase: genesis.coinbase })
  const summaries: BlockSummary[] = []
  let wake: (() => void) | undefined
  const service = new RpcService({
    backend,
    clientVersion: 'parevm/0.1.0',
    ...(o.limits !== undefined ? { limits: o.limits } : {}),
    blockSummaries: () => summaries,
    onAccepted: () => wake?.(),
  })

  // ----- the sealing loop ------------------------------------------------------------------
  let stopped = false
  let sealing = false
  let lastSealMs = 0
  let idleWaiters: (() => void)[] = []
  let loopError: Error | undefined
  const onBlock = (event: BlockEvent): void => {
    const r = event.sealed.report
    backend.noteBlock(event.sealed.record)
    service.noteSealed(event.sealed.record, event.sealed.receipts)
    summaries.push({
      number: event.sealed.record.number,
      hash: event.sealed.record.hash,
      txs: r.included,
      gasUsed: bigintToHex(r.gasUsed),
      shards: r.shards,
      reexecuted: r.reexecuted,
      txsFullyPredicted: r.prediction.txsFullyPredicted,
      keysPredicted: r.prediction.keysPredicted,
      keysActual: r.prediction.keysActual,
      rejected: r.rejected + event.plan.rejected.length,
      sealedAtMs: event.sealed.record.sealedAtMs,
      timings: r.timings,
      wallMs: event.wallMs,
    })
    if (summaries.length > BLOCK_HISTORY) summaries.splice(0, summaries.length - BLOCK_HISTORY)
    if (o.dataDir !== undefined && !rebuilding) {
      const stored: StoredBlock = { number: event.sealed.record.number, hash: event.sealed.record.hash, raws: event.sealed.raws.map((r) => to0x(r)) }
      appendFileSync(join(o.dataDir, 'blocks.jsonl'), `${JSON.stringify(stored)}\n`)
    }
    print(blockLine(event))
  }
  // A kept chain: execute its blocks again, with their cuts, and check it ends where it did.
  let rebuilding = false
  if (kept !== undefined && kept.blocks.length > 0) {
    rebuilding = true
    try {
      await cluster.runOrdered(kept.blocks.flatMap((b) => b.raws), onBlock, { cuts: kept.blocks.map((b) => b.raws.length) })
    } catch (error) {
      await cluster.stop()
      throw error
    }
    rebuilding = false
    const head = await backend.head()
    const last = kept.blocks[kept.blocks.length - 1]!
    if (head.number !== last.number || head.hash !== last.hash) {
      await cluster.stop()
      throw new ConfigError(`parevm node: the chain kept in ${o.dataDir} rebuilt to block ${head.number} ${head.hash}, not ${last.number} ${last.hash}`, {
        hint: 'the folder was written by another version of parevm or changed by hand; use an empty folder',
      })
    }
    print(`rebuilt ${kept.blocks.length} block(s) kept in ${o.dataDir}: head #${head.number} ${head.hash}`)
  }
  const waiting = async (): Promise<number> => {
    const d = await cluster.ingress.depth()
    return d.visible + d.inFlight + d.delayed
  }
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        wake = undefined
        resolve()
      }
      wake = done
    })
  const loop = (async () => {
    while (!stopped) {
      const queued = await waiting()
      if (queued === 0) {
        for (const w of idleWaiters.splice(0)) w()
        await sleep(1000)
        continue
      }
      const dueIn = lastSealMs + blockTimeSec * 1000 - Date.now()
      if (dueIn > 0 && queued < blockSize) {
        await sleep(Math.min(dueIn, 250))
        continue
      }
      sealing = true
      try {
        await cluster.runUntilIdle(onBlock)
      } catch (error) {
        loopError = error as Error
        print(`sealing stopped: ${(error as Error).message}`)
        stopped = true
      } finally {
        sealing = false
        lastSealMs = Date.now()
      }
    }
    for (const w of idleWaiters.splice(0)) w()
  })()

  // ----- HTTP ------------------------------------------------------------------------------
  const { server, url, port } = await listenRpc(service, { port: o.port ?? 8545, host: o.host ?? '127.0.0.1', ...(o.requestTimeoutMs !== undefined ? { requestTimeoutMs: o.requestTimeoutMs } : {}) })

  print(`parevm node: JSON-RPC at ${url} (live page: ${url}/)`)
  print(`chain id ${genesis.chainId} (${genesis.hardfork}), genesis ${to0x(genesis.hash)}, ${blockTimeSec === 0 ? 'blocks sealed as soon as transactions arrive' : `a block at most every ${blockTimeSec} s while transactions wait`}`)
  if (accounts.length > 0) {
    print('')
    print(`accounts (10,000 ETH each; these keys are public: never use them on a real network)`)
    accounts.forEach((a, i) => print(`(${i}) ${a.address}  ${a.privateKey}`))
    print('')
  }

  let stopping: Promise<void> | undefined
  const node: RunningNode = {
    url,
    port,
    chainId: genesis.chainId,
    accounts,
    service,
    cluster,
    server,
    idle: async () => {
      if (loopError !== undefined) throw loopError
      if (!sealing && (await waiting()) === 0) return
      await new Promise<void>((resolve) => {
        idleWaiters.push(resolve)
        wake?.()
      })
      if (loopError !== undefined) throw loopError
    },
    stop: () => {
      stopping ??= (async () => {
        stopped = true
        wake?.()
        await closeServer(server)
        await loop
        idleWaiters = []
        await cluster.stop()
      })()
      return stopping
    },
  }
  return node
}

export interface RpcListener {
  server: Server
  url: string
  port: number
  close(): Promise<void>
}

/** An HTTP server for a JSON-RPC service (the node's, and `parevm loadtest --via rpc`'s). */
export async function listenRpc(service: RpcService, o: { port: number; host: string; requestTimeoutMs?: number }): Promise<RpcListener> {
  const server = createServer((req, res) => {
    serveHttp(req, res, service).catch((error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: `internal error: ${(error as Error).message}` } }))
    })
  })
  // Slow clients: a request must arrive whole within the timeout; others are served meanwhile.
  server.requestTimeout = o.requestTimeoutMs ?? 30_000
  server.headersTimeout = Math.min(server.requestTimeout, 10_000)
  server.keepAliveTimeout = 5_000
  server.maxHeadersCount = 100
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : o.port
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`
  return { server, url, port, close: () => closeServer(server) }
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

/** One HTTP exchange: JSON-RPC on POST, the live page on GET /, CORS for browsers. */
async function serveHttp(req: IncomingMessage, res: ServerResponse, service: RpcService): Promise<void> {
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'content-type', 'access-control-allow-methods': 'POST, GET, OPTIONS' }
  const path = (req.url ?? '/').split('?')[0]
  if (req.method === 'OPTIONS') {
    res.writeHead(204, { ...cors, 'access-control-max-age': '600' })
    res.end()
    return
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : NODE_PAGE_HTML)
    } else if (path === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain', ...cors })
      res.end('ok\n')
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not found: JSON-RPC is POST /, the live page is GET /\n')
    }
    return
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'GET, POST, OPTIONS', 'content-type': 'text/plain' })
    res.end('method not allowed: JSON-RPC is POST /\n')
    return
  }
  const limit = service.limits.maxBodyBytes
  const tooLarge = (): void => {
    res.writeHead(413, { 'content-type': 'application/json', connection: 'close', ...cors })
    res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: RPC_INVALID_REQUEST, message: `request body exceeds the limit of ${limit} bytes` } }))
    req.resume()
  }
  const declared = Number(req.headers['content-length'] ?? NaN)
  if (Number.isFinite(declared) && declared > limit) return tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  let over = false
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) {
      over = true
      break
    }
    chunks.push(chunk)
  }
  if (over) return tooLarge()
  const answer = await service.handle(Buffer.concat(chunks).toString('utf8'))
  if (answer === '') {
    res.writeHead(204, cors)
    res.end()
    return
  }
  res.writeHead(200, { 'content-type': 'application/json', ...cors })
  res.end(answer)
}

export async function nodeCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(NODE_HELP)
    return 0
  }
  const o = parseCommand(
    argv,
    {
      genesis: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'block-time': { type: 'string' },
      'block-size': { type: 'string' },
      workers: { type: 'string' },
      verify: { type: 'boolean' },
      inline: { type: 'boolean' },
      data: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    schema,
    'node',
  )
  const print = (line: string): void => void process.stdout.write(`${line}\n`)
  const node = await startNode({
    ...(o.genesis !== undefined ? { genesisFile: parseGenesis(readJsonFile(o.genesis, 'genesis')) } : {}),
    port: o.port,
    host: o.host,
    blockTimeSec: o['block-time'],
    blockSize: o['block-size'],
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    threads: !o.inline,
    verify: o.verify,
    ...(o.data !== undefined ? { dataDir: o.data } : {}),
    print,
  })
  await new Promise<void>((resolve) => {
    let signals = 0
    const onSignal = (): void => {
      if (++signals > 1) process.exit(130)
      print('\nstopping (Ctrl-C again to force)...')
      void node.stop().then(resolve, resolve)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
  print('stopped')
  return 0
}
