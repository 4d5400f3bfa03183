import { Account, KECCAK256_NULL, KECCAK256_RLP, createAccountFromRLP } from '@ethereumjs/util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { accountRlp, decodeAccount, encodeAccount, encodeAccountOver } from '../../shared/state/values.ts'

// Integers around every length and single-byte boundary RLP distinguishes, up to 2^256 - 1.
const uint = (maxBits: number): fc.Arbitrary<bigint> =>
  fc.oneof(
    fc.constantFrom(0n, 1n, 0x7fn, 0x80n, 0xffn, 0x100n, 0xffff_ffffn, 0x1_0000_0000n, (1n << BigInt(maxBits)) - 1n),
    fc.integer({ min: 1, max: maxBits }).chain((bits) => fc.bigInt({ min: 1n << BigInt(bits - 1), max: (1n << BigInt(bits)) - 1n })),
  )
const hash = fc.uint8Array({ minLength: 32, maxLength: 32 })

describe('account encoding', () => {
  it('is byte for byte Account.serialize() and decodes back to the same fields', () => {
    fc.assert(
      fc.property(uint(64), uint(256), hash, hash, (nonce, balance, root, codeHash) => {
        const account = new Account(nonce, balance, root, codeHash)
        const value = accountRlp(nonce, balance, root, codeHash)
        expect(value).toEqual(account.serialize())
        expect(encodeAccount(account)).toEqual(value)
        const back = decodeAccount(Uint8Array.from(value))!
        expect([back.nonce, back.balance, back.storageRoot, back.codeHash]).toEqual([nonce, balance, root, codeHash])
      }),
      { numRuns: 2000 },
    )
  })

  it('reads any bytes as the library does: the same fields, or an error where it has one', () => {
    const library = (bytes: Uint8Array): unknown => {
      try {
        const a = createAccountFromRLP(bytes)
        return [a.nonce, a.balance, a.storageRoot, a.codeHash]
      } catch {
        return 'error'
      }
    }
    const ours = (bytes: Uint8Array): unknown => {
      try {
        const a = decodeAccount(bytes)!
        return [a.nonce, a.balance, a.storageRoot, a.codeHash]
      } catch {
        return 'error'
      }
    }
    // Canonical values, then each with one byte changed, cut short or extended (fresh copies:
    // nothing remembered from encoding them).
    fc.assert(
      fc.property(uint(64), uint(256), hash, hash, fc.nat(), fc.integer({ min: 0, max: 255 }), (nonce, balance, root, codeHash, at, byte) => {
        const value = accountRlp(nonce, balance, root, codeHash)
        const variants = [Uint8Array.from(value), Uint8Array.from(value, (b, i) => (i === at % value.length ? byte : b)), value.slice(0, at % value.length), Uint8Array.from([...value, byte])]
        for (const v of variants) expect(ours(v)).toEqual(library(Uint8Array.from(v)))
      }),
      { numRuns: 2000 },
    )
    // Forms the library reads that no encoder writes: an integer with a leading zero.
    const leadingZero = Uint8Array.from([0xf8, 0x46, 0x82, 0x00, 0x05, 0x80, 0xa0, ...KECCAK256_RLP, 0xa0, ...KECCAK256_NULL])
    expect(ours(leadingZero)).toEqual(library(Uint8Array.from(leadingZero)))
    expect(ours(leadingZero)).toEqual([5n, 0n, KECCAK256_RLP, KECCAK256_NULL])
  })

  it('refuses what an account cannot hold', () => {
    expect(() => accountRlp(-1n, 0n, KECCAK256_RLP, KECCAK256_NULL)).toThrow(/negative/)
    expect(() => accountRlp(0n, 1n << 256n, KECCAK256_RLP, KECCAK256_NULL)).toThrow(/32 bytes/)
    expect(() => accountRlp(1n << 256n, 0n, KECCAK256_RLP, KECCAK256_NULL)).toThrow(/32 bytes/)
    expect(() => accountRlp(0n, 0n, new Uint8Array(31), KECCAK256_NULL)).toThrow(/32 bytes/)
  })

  it('an unchanged account keeps its prior bytes; any changed field gives new, exact ones', () => {
    const prior = encodeAccount(new Account(3n, 1000n, KECCAK256_RLP, KECCAK256_NULL))!
    const same = decodeAccount(prior)!
    expect(encodeAccountOver(prior, same)).toBe(prior)
    const changes: Array<(a: Account) => void> = [
      (a) => (a.nonce += 1n),
      (a) => (a.balance -= 1n),
      (a) => (a.storageRoot = KECCAK256_NULL),
      (a) => (a.codeHash = Uint8Array.from(KECCAK256_NULL, (b, i) => (i === 31 ? b ^ 1 : b))),
    ]
    for (const change of changes) {
      const account = decodeAccount(prior)!
      change(account)
      const next = encodeAccountOver(prior, account)
      expect(next).not.toBe(prior)
      expect(next).toEqual(account.serialize())
    }
    // A value whose fields were never seen here (bytes from elsewhere) is encoded afresh.
    const foreign = Uint8Array.from(prior)
    expect(encodeAccountOver(foreign, same)).not.toBe(foreign)
    expect(encodeAccountOver(null, same)).toEqual(prior)
  })
})
