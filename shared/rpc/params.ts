/** Parameter parsing for the JSON-RPC methods: each failure names the parameter (-32602). */
import { invalidParam } from './errors.ts'

export type Hex = `0x${string}`

export const QUANTITY = /^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$/
const DATA = /^0x([0-9a-fA-F]{2})*$/
const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const HASH = /^0x[0-9a-fA-F]{64}$/

export const BLOCK_TAGS = ['latest', 'pending', 'earliest', 'safe', 'finalized'] as const
export type BlockTag = (typeof BLOCK_TAGS)[number]

/** A block named by tag, number or hash (EIP-1898 objects included). */
export type BlockRef = { kind: 'tag'; tag: BlockTag } | { kind: 'number'; number: bigint } | { kind: 'hash'; hash: string }

export class Params {
  constructor(
    private readonly list: readonly unknown[],
    private readonly names: readonly string[],
  ) {}

  private name(i: number): string {
    return this.names[i] ?? `param${i}`
  }

  has(i: number): boolean {
    return this.list[i] !== undefined && this.list[i] !== null
  }

  raw(i: number): unknown {
    return this.list[i]
  }

  require(i: number): unknown {
    const v = this.list[i]
    if (v === undefined || v === null) throw invalidParam(i, this.name(i), 'missing value')
    return v
  }

  quantity(i: number): bigint {
    return parseQuantity(this.require(i), i, this.name(i))
  }

  address(i: number): string {
    return parseAddress(this.require(i), i, this.name(i))
  }

  hash(i: number): string {
    return parseHash(this.require(i), i, this.name(i))
  }

  data(i: number): string {
    return parseData(this.require(i), i, this.name(i))
  }

  bool(i: number, fallback: boolean): boolean {
    const v = this.list[i]
    if (v === undefined || v === null) return fallback
    if (typeof v !== 'boolean') throw invalidParam(i, this.name(i), 'expected true or false')
    return v
  }

  /** A block reference; absent means `fallback`. */
  block(i: number, fallback: BlockTag = 'latest'): BlockRef {
    const v = this.list[i]
    if (v === undefined || v === null) return { kind: 'tag', tag: fallback }
    return parseBlockRef(v, i, this.name(i))
  }

  object(i: number): Record<string, unknown> {
    const v = this.require(i)
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidParam(i, this.name(i), 'expected an object')
    return v as Record<string, unknown>
  }
}

export function parseQuantity(v: unknown, i: number, name: string): bigint {
  if (typeof v !== 'string' || !QUANTITY.test(v)) throw invalidParam(i, name, `expected a hex quantity (0x-prefixed, no leading zeros), got ${short(v)}`)
  return BigInt(v)
}

export function parseAddress(v: unknown, i: number, name: string): string {
  if (typeof v !== 'string' || !ADDRESS.test(v)) throw invalidParam(i, name, `expected a 20-byte 0x-hex address, got ${short(v)}`)
  return v.toLowerCase()
}

export function parseHash(v: unknown, i: number, name: string): string {
  if (typeof v !== 'string' || !HASH.test(v)) throw invalidParam(i, name, `expected a 32-byte 0x-hex hash, got ${short(v)}`)
  return v.toLowerCase()
}

export function parseData(v: unknown, i: number, name: string): string {
  if (typeof v !== 'string' || !DATA.test(v)) throw invalidParam(i, name, `expected 0x-prefixed hex bytes, got ${short(v)}`)
  return v.toLowerCase()
}

export function parseBlockRef(v: unknown, i: number, name: string): BlockRef {
  if (typeof v === 'string') {
    if ((BLOCK_TAGS as readonly string[]).includes(v)) return { kind: 'tag', tag: v as BlockTag }
    if (QUANTITY.test(v)) return { kind: 'number', number: BigInt(v) }
    if (HASH.test(v)) return { kind: 'hash', hash: v.toLowerCase() }
    throw invalidParam(i, name, `expected a block number, a hash or one of ${BLOCK_TAGS.join(', ')}, got ${short(v)}`)
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>
    if (o.blockHash !== undefined) return { kind: 'hash', hash: parseHash(o.blockHash, i, `${name}.blockHash`) }
    if (o.blockNumber !== undefined) return parseBlockRef(o.blockNumber, i, `${name}.blockNumber`)
  }
  throw invalidParam(i, name, `expected a block number, a hash or one of ${BLOCK_TAGS.join(', ')}, got ${short(v)}`)
}

export function short(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v)
  return s.length > 80 ? `${s.slice(0, 77)}...` : s
}
