/**
 * Storage slots a contract's code names as constants: a PUSH whose value reaches SLOAD directly
 * or through at most two DUP/SWAP operations (`PUSH1 0x05 SLOAD`, `PUSH1 0x00 DUP1 SLOAD`: a
 * state variable, a proxy's implementation slot, a reentrancy guard). Mapping and array
 * entries (slots hashed from a key) are not constants and are not found.
 *
 * Used as a hint, never as a prediction: the view loads these slots together with the first
 * slot of the contract it has to load anyway, so one store round trip brings what would
 * otherwise be one round trip each (shared/state/view.ts). A hint that is wrong costs one key
 * in a batch; what a transaction reads is still only what it reads.
 */
import { toHex } from '../hex.ts'

const SLOAD = 0x54
const PUSH1 = 0x60
const PUSH32 = 0x7f
const DUP1 = 0x80
const SWAP16 = 0x9f
/** DUP/SWAP operations allowed between the PUSH and the SLOAD. */
const STACK_OPS_BETWEEN = 2
/** Slots hinted per contract at most (a contract that names more is hinted its first ones). */
export const CODE_SLOTS_MAX = 64
/** Analyses kept per thread (by code hash); the cache starts over when full. */
const CACHE_ENTRIES = 4096

const cache = new Map<string, readonly string[]>()

/** The constant slots (64 hex digits each, in order of first appearance) `code` loads with SLOAD. */
export function constantSlots(code: Uint8Array): string[] {
  const out: string[] = []
  const seen = new Set<string>()
  for (let i = 0; i < code.length && out.length < CODE_SLOTS_MAX; i++) {
    const op = code[i]!
    if (op < PUSH1 || op > PUSH32) continue
    const size = op - PUSH1 + 1
    const end = i + 1 + size
    let j = end
    for (let between = 0; j < code.length && between <= STACK_OPS_BETWEEN; j++, between++) {
      const next = code[j]!
      if (next === SLOAD) {
        const slot = toHex(code.subarray(i + 1, end)).padStart(64, '0')
        if (!seen.has(slot)) {
          seen.add(slot)
          out.push(slot)
        }
        break
      }
      if (next < DUP1 || next > SWAP16) break
    }
    i = end - 1
  }
  return out
}

/** `constantSlots` of the code with this hash, analysed once per thread. */
export function constantSlotsCached(codeHashHex: string, code: Uint8Array): readonly string[] {
  const known = cache.get(codeHashHex)
  if (known !== undefined) return known
  if (cache.size >= CACHE_ENTRIES) cache.clear()
  const slots = constantSlots(code)
  cache.set(codeHashHex, slots)
  return slots
}
