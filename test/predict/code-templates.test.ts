import { Account } from '@ethereumjs/util'
import { describe, expect, it } from 'vitest'

import { toHex } from '../../shared/hex.ts'
import { learnCodeHashes, learnFromExecution, TemplateRegistry } from '../../shared/predict/templates.ts'
import { mappingSlot } from '../../shared/workload/generator.ts'

const POOL_A = '0b'.repeat(20)
const POOL_B = '0c'.repeat(20)
const POOL_C = '0d'.repeat(20)
const TOKEN = '0a'.repeat(20)
const CALLER = '01'.repeat(20)
const COINBASE = 'cc'.repeat(20)
const SWAP = Uint8Array.from(Buffer.from('022c0d9f' + '00'.repeat(64), 'hex'))
const codeHash = (b: number) => new Uint8Array(32).fill(b)
const contract = (hash: Uint8Array) => ({ value: new Account(0n, 0n, undefined, hash).serialize(), version: 1 })

/** What a swap on `pool` touches: the pool's reserve slot 8, the shared token's balance of the pool and of the caller. */
function swapAccess(pool: string): { reads: Map<string, unknown>; writes: Map<string, unknown> } {
  const keys = [pool + toHex(new Uint8Array(32).fill(0).map((_, i) => (i === 31 ? 8 : 0))), TOKEN + toHex(mappingSlot(pool, 1n)), TOKEN + toHex(mappingSlot(CALLER, 1n))]
  return { reads: new Map<string, unknown>([[pool, contract(codeHash(7))], ...keys.map((k) => [k, { value: null, version: 0 }] as [string, unknown])]), writes: new Map(keys.map((k) => [k, null])) }
}

describe('templates by code', () => {
  it('a contract with the same code as one that has a template is predicted from it (its own address in the self-relative keys)', async () => {
    const registry = new TemplateRegistry()
    learnFromExecution(registry, { caller: CALLER, to: POOL_A, data: SWAP }, swapAccess(POOL_A), 60_000, COINBASE)
    // B's code is not known yet: no prediction.
    expect(registry.predict({ caller: CALLER, to: POOL_B, data: SWAP })).toBeUndefined()
    // The sequencer loads the code hashes of called contracts without a template: B has A's code, C another.
    const accounts = new Map([[POOL_B, contract(codeHash(7))], [POOL_C, contract(codeHash(9))]])
    await learnCodeHashes(registry, [{ to: POOL_B, data: SWAP }, { to: POOL_C, data: SWAP }, { to: POOL_A, data: SWAP }], async (keys) => {
      expect(keys).toEqual([POOL_B, POOL_C]) // A has its own template: not loaded
      return keys.map((k) => accounts.get(k)!)
    })
    const predicted = registry.predict({ caller: CALLER, to: POOL_B, data: SWAP })!
    expect(new Set(predicted.writes)).toEqual(new Set(swapAccess(POOL_B).writes.keys()))
    expect(registry.predict({ caller: CALLER, to: POOL_C, data: SWAP })).toBeUndefined()
    // Another selector on B: nothing.
    expect(registry.predict({ caller: CALLER, to: POOL_B, data: Uint8Array.from([1, 2, 3, 4]) })).toBeUndefined()
  })

  it('clear() forgets code hashes too', () => {
    const registry = new TemplateRegistry()
    learnFromExecution(registry, { caller: CALLER, to: POOL_A, data: SWAP }, swapAccess(POOL_A), 60_000, COINBASE)
    registry.knowCode(POOL_B, toHex(codeHash(7)))
    expect(registry.hasTemplate(POOL_B, SWAP)).toBe(true)
    registry.clear()
    registry.knowCode(POOL_A, toHex(codeHash(7)))
    expect(registry.hasTemplate(POOL_B, SWAP)).toBe(false)
  })
})
