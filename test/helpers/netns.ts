/**
 * Network namespaces for the several-hosts integration test: one namespace per worker "host",
 * joined to the test's own namespace by a veth pair (host side 10.x.y.1/30, namespace side
 * 10.x.y.2/30 - addresses that exist only inside this machine), TCP forwarders on the host-side
 * address in front of the local AWS servers (which listen on 127.0.0.1), worker processes run
 * with `ip netns exec`, and the link cut (`ip link set <veth> down`) and restored.
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2.
 */
import { execFile, execFileSync } from 'node:child_process'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { promisify } from 'node:util'

const run = promisify(execFile)

async function ip(...args: string[]): Promise<void> {
  await run('ip', args, { timeout: 10_000 })
}

/** Whether namespaces can be made here: root and a working `ip netns` (tried for real). */
export function netnsSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` }
  if (process.getuid?.() !== 0) return { ok: false, reason: `network namespaces need root (uid ${process.getuid?.()})` }
  const probe = `pvprobe${process.pid}`
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe', timeout: 10_000 })
  } catch (error) {
    return { ok: false, reason: `ip netns add failed: ${((error as { stderr?: Buffer }).stderr?.toString() ?? String(error)).trim()}` }
  }
  try {
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe', timeout: 10_000 })
  } catch {
    // best effort
  }
  return { ok: true }
}

/** One namespace and its veth pair. Names carry the test process's PID, so parallel runs do not clash. */
export class NetnsHost {
  readonly ns: string
  readonly hostIf: string
  readonly nsIf: string
  readonly hostIp: string
  readonly nsIp: string
  private created = false

  constructor(index: number) {
    const tag = `${process.pid % 100_000}${String.fromCharCode(97 + index)}`
    this.ns = `parevm-${tag}`
    this.hostIf = `pvh${tag}` // at most 15 characters
    this.nsIf = `pvn${tag}`
    // 10.(200+a).b.(4*index) /30 from the PID: distinct per process (up to collisions of 2^14).
    const a = 200 + ((process.pid >> 8) % 50)
    const b = process.pid & 255
    this.hostIp = `10.${a}.${b}.${4 * index + 1}`
    this.nsIp = `10.${a}.${b}.${4 * index + 2}`
  }

  async create(): Promise<void> {
    this.created = true
    await ip('netns', 'add', this.ns)
    await ip('link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.nsIf)
    await ip('link', 'set', this.nsIf, 'netns', this.ns)
    await ip('addr', 'add', `${this.hostIp}/30`, 'dev', this.hostIf)
    await ip('link', 'set', this.hostIf, 'up')
    await ip('netns', 'exec', this.ns, 'ip', 'addr', 'add', `${this.nsIp}/30`, 'dev', this.nsIf)
    await ip('netns', 'exec', this.ns, 'ip', 'link', 'set', this.nsIf, 'up')
    await ip('netns', 'exec', this.ns, 'ip', 'link', 'set', 'lo', 'up')
  }

  /** Link down: the namespace's side loses its carrier, nothing passes either way. */
  async cut(): Promise<void> {
    await ip('link', 'set', this.hostIf, 'down')
  }

  async restore(): Promise<void> {
    await ip('link', 'set', this.hostIf, 'up')
  }

  /** Delete the namespace (which takes the veth pair with it) and the host end if it is left. Never throws. */
  async destroy(): Promise<void> {
    if (!this.created) return
    await ip('netns', 'del', this.ns).catch(() => {})
    await ip('link', 'del', this.hostIf).catch(() => {})
  }
}

/** What to do with a chunk a client sent: pass it on, or hold it (and everything after it on that connection). */
export type ForwardDecision = 'forward' | 'hold'

/**
 * A TCP forwarder from `listenHost`:ephemeral port to `upstream` (a local server). `inspect` sees
 * every client chunk with the connection's text so far; a connection told to hold keeps its
 * bytes until `release()`, which sends them on (late, as a partitioned host's request arrives).
 */
export class TcpForwarder {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private readonly held: { upstream: Socket; chunks: Buffer[] }[] = []
  port = 0

  constructor(
    private readonly listenHost: string,
    private readonly upstream: { host: string; port: number },
    public inspect: (text: string) => ForwardDecision = () => 'forward',
  ) {}

  async listen(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = createConnection(this.upstream)
      this.sockets.add(client).add(upstream)
      let text = ''
      let hold: { upstream: Socket; chunks: Buffer[] } | undefined
      client.on('data', (chunk: Buffer) => {
        if (hold !== undefined) {
          hold.chunks.push(chunk)
          return
        }
        // The connection's recent text (a request's head and the start of its body).
        const seen = text + chunk.toString('latin1', 0, Math.min(chunk.length, 8192))
        text = seen.slice(-8192)
        if (this.inspect(seen) === 'hold') {
          hold = { upstream, chunks: [chunk] }
          this.held.push(hold)
          return
        }
        upstream.write(chunk)
      })
      upstream.on('data', (chunk: Buffer) => client.write(chunk))
      const close = (): void => {
        // A held connection keeps its upstream until release: its bytes still go there.
        if (hold === undefined || !this.held.includes(hold)) upstream.end()
        client.end()
      }
      client.on('end', close)
      upstream.on('end', () => client.end())
      client.on('error', () => {})
      upstream.on('error', () => client.destroy())
      client.on('close', () => this.sockets.delete(client))
      upstream.on('close', () => this.sockets.delete(upstream))
    })
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(0, this.listenHost, () => resolve())
    })
    const address = this.server.address()
    this.port = typeof address === 'object' && address !== null ? address.port : 0
  }

  /** Bytes held so far (connections told to hold). */
  heldConnections(): number {
    return this.held.length
  }

  /** Send every held connection's bytes on. */
  release(): void {
    for (const h of this.held.splice(0)) for (const c of h.chunks) if (!h.upstream.destroyed) h.upstream.write(c)
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())))
  }
}

