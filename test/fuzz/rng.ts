/** A small seeded generator (sfc32): the same seed gives the same inputs on every machine. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    this.a = 0x9e3779b9
    this.b = 0x243f6a88
    this.c = 0xb7e15162
    this.d = seed >>> 0
    for (let i = 0; i < 16; i++) this.u32()
  }

  /** A generator for sub-stream `salt` of `seed` (each target draws from its own). */
  static derive(seed: number, salt: number): Rng {
    return new Rng((Math.imul(seed >>> 0, 0x85ebca6b) ^ Math.imul(salt + 1, 0xc2b2ae35)) >>> 0)
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** 0 <= n < max (max >= 1). */
  int(max: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * max)
  }

  range(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }

  /** A length skewed to small values, up to `max`. */
  length(max: number): number {
    const r = this.u32() / 0x1_0000_0000
    return Math.floor(r * r * r * (max + 1))
  }
}

export function hex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString('hex')}`
}

export function unhex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.startsWith('0x') ? s.slice(2) : s, 'hex'))
}
