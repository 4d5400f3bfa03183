import { describe, expect, it } from 'vitest'

import { keccak256 } from '../../shared/crypto/keccak.ts'
import { toHex } from '../../shared/hex.ts'
import { CODE_SLOTS_MAX, constantSlots } from '../../shared/state/code-slots.ts'
import { makeVersion, txVersion, wipeKey } from '../../shared/state/keys.ts'
import { ABSENT, newAccountValue, type VersionedValue } from '../../shared/state/values.ts'
import { BlockView } from '../../shared/state/view.ts'

const slotHex = (n: number | bigint): string => n.toString(16).padStart(64, '0')
const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs)

describe('constantSlots', () => {
  it('finds a PUSH that reaches SLOAD directly or through up to two DUP/SWAP operations', () => {
    const push32 = [0x7f, ...new Array(31).fill(0), 0x2a]
    const code = bytes(
      0x60, 0x05, 0x54, // PUSH1 5 SLOAD
      0x60, 0x00, 0x80, 0x54, // PUSH1 0 DUP1 SLOAD
      ...push32, 0x90, 0x81, 0x54, // PUSH32 42 SWAP1 DUP2 SLOAD
      0x61, 0x01, 0x00, 0x54, // PUSH2 0x0100 SLOAD
      0x60, 0x05, 0x54, // slot 5 again: once
    )
    expect(constantSlots(code)).toEqual([slotHex(5), slotHex(0), slotHex(42), slotHex(0x100)])
  })

  it('skips a PUSH whose value is changed, stored or too far from the SLOAD, and never reads an immediate as an opcode', () => {
    const code = bytes(
      0x60, 0x03, 0x01, 0x54, // PUSH1 3 ADD SLOAD: a computed slot
      0x60, 0x07, 0x52, // PUSH1 7 MSTORE
      0x60, 0x09, 0x80, 0x80, 0x80, 0x54, // three DUPs between
      0x61, 0x54, 0x54, 0x00, // PUSH2 0x5454 STOP: the 0x54 bytes are data
      0x7f, ...new Array(31).fill(0x54), // PUSH32 cut short by the code's end
    )
    expect(constantSlots(code)).toEqual([])
  })

  it('names at most CODE_SLOTS_MAX slots of one contract', () => {
    const code: number[] = []
    for (let i = 0; i < CODE_SLOTS_MAX + 10; i++) code.push(0x61, i >> 8, i & 0xff, 0x54)
    const slots = constantSlots(Uint8Array.from(code))
    expect(slots).toHaveLength(CODE_SLOTS_MAX)
    expect(slots[0]).toBe(slotHex(0))
  })
})

describe('BlockView: a missed slot brings its contract\'s likely reads in the same load', () => {
  const C = '33'.repeat(20)
  const code = bytes(0x60, 0x01, 0x54, 0x60, 0x02, 0x54, 0x60, 0x03, 0x54, 0x00) // SLOAD of slots 1, 2 and 3
  const codeHash = keccak256(code)
  const at = makeVersion(4n, 9)

  function setup(): { view: BlockView; calls: string[][]; entries: Record<string, VersionedValue> } {
    const entries: Record<string, VersionedValue> = {
      [C]: { value: newAccountValue(0n, 1n, codeHash), version: at },
      [C + slotHex(1)]: { value: bytes(1), version: at },
      [C + slotHex(2)]: { value: bytes(2), version: at },
      [C + slotHex(9)]: { value: bytes(9), version: at },
    }
    const calls: string[][] = []
    const view = new BlockView(5n, {
      load: async (keys) => {
        calls.push([...keys])
        return keys.map((k) => entries[k] ?? ABSENT)
      },
      loadCode: async (hashes) => hashes.map((h) => (h === toHex(codeHash) ? code : new Uint8Array(0))),
    })
    return { view, calls, entries }
  }

  it('the wipe marker and the constant slots come with the first miss; later reads of them load nothing', async () => {
    const { view, calls, entries } = setup()
    await view.prefetch([C])
    await view.prefetchCode([toHex(codeHash)])
    calls.length = 0
    expect(await view.get(C + slotHex(9))).toEqual(entries[C + slotHex(9)])
    expect(calls).toEqual([[C + slotHex(9), wipeKey(C), C + slotHex(1), C + slotHex(2), C + slotHex(3)]])
    expect(await view.get(C + slotHex(1))).toEqual(entries[C + slotHex(1)])
    expect(await view.get(C + slotHex(3))).toEqual(ABSENT)
    expect(await view.get(wipeKey(C))).toEqual(ABSENT)
    expect(calls).toHaveLength(1)
    expect(view.stats).toMatchObject({ missLoads: 1, hinted: 4 })
    // Another slot of the same contract: itself only (its marker is loaded, its hints were asked for).
    await view.get(C + slotHex(7))
    expect(calls[1]).toEqual([C + slotHex(7)])
  })

  it('hints nothing the block wrote or the view holds, and nothing for a contract whose code it does not hold', async () => {
    const { view, calls } = setup()
    await view.prefetch([C, C + slotHex(1)])
    await view.prefetchCode([toHex(codeHash)])
    view.applyWrites(new Map([[C + slotHex(2), bytes(7)]]), txVersion(5n, 0))
    calls.length = 0
    await view.get(C + slotHex(9))
    expect(calls).toEqual([[C + slotHex(9), wipeKey(C), C + slotHex(3)]])
    expect((await view.get(C + slotHex(2))).value).toEqual(bytes(7))

    const bare = setup()
    await bare.view.get(C + slotHex(9))
    expect(bare.calls).toEqual([[C + slotHex(9), wipeKey(C)]])
  })
})
