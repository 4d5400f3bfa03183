/**
 * A transaction that ran no EVM code, whose only stale reads are account balances, settled
 * without running it again.
 *
 * Such a transaction (a plain value transfer: its recipient has no code, it creates nothing, it
 * carries no authorizations) depends on balances in two ways only: `runTx` checks that the
 * sender can pay for the gas limit and the value (a threshold, which a balance at least as
 * large passes too), and the balances it writes are the ones it read plus a fixed amount
 * (minus the up-front cost, plus the refund and the value, plus the fee where the sender or
 * recipient is the beneficiary). Nothing else it does reads a balance: no BALANCE, no
 * SELFBALANCE, no call with value inside code (a precompile, if it is the recipient, reads its
 * input, never a balance). So when another shard changed such an account's balance and nothing
 * else about it, the transaction's outcome on the settled state is its outcome on the worker's
 * state with each such account's written balance moved by the same amount: the receipt, gas and
 * logs are the same. That is the case of a mining pool's payouts (the beneficiary sends hundreds
 * of transfers, and every fee paid in another shard changes its balance), which the coordinator
 * otherwise ran again one by one.
 *
 * Anything outside that case is `undefined`, and the caller runs the transaction again.
 */

import { KECCAK256_NULL } from '@ethereumjs/util'

import { bytesEqual, toHex } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH } from '../state/keys.ts'
import { accountFields, accountRlp, type AccountFieldsTuple } from '../state/values.ts'

import type { TxExecution } from '../exec/executor.ts'
import type { PlannedTx } from '../pipeline/codec.ts'
import type { StaleRead } from './settle.ts'

/** EIP-7702 set-code transactions write code before the call: never shifted. */
const SET_CODE_TX_TYPE = 4

/**
 * `exec` moved onto the running view, or undefined when the transaction must run again: it
 * ran no code, and every one of its `stale` reads is an existing, non-empty account whose nonce,
 * storage root and code hash are unchanged (the sender's balance no lower than it read).
 */
export function shiftBalances(exec: TxExecution, planned: PlannedTx, stale: readonly StaleRead[]): TxExecution | undefined {
  const to = planned.fields.to
  if (!exec.valid || to === undefined || planned.fields.type === SET_CODE_TX_TYPE) return undefined
  const { reads, writes } = exec.access
  // The recipient's code as the transaction saw it; if it changed since, its read is stale and
  // not a balance-only change, so the check below refuses it.
  const recipient = reads.get(toHex(to))
  if (recipient === undefined) return undefined
  if (recipient.value !== null && !bytesEqual(accountFields(recipient.value)[3], KECCAK256_NULL)) return undefined

  const sender = toHex(planned.sender)
  const newReads = new Map(reads)
  const newWrites = new Map(writes)
  for (const { key, seen, now } of stale) {
    // Only an account whose balance alone moved can be carried over.
    if (key.length !== ACCOUNT_KEY_LENGTH || now === undefined || now.value === null || seen.value === null) return undefined
    const was = accountFields(seen.value)
    const is = accountFields(now.value)
    if (!sameButBalance(was, is) || isEmpty(was) || isEmpty(is)) return undefined
    if (key === sender && is[1] < was[1]) return undefined
    newReads.set(key, now)
    const written = writes.get(key)
    if (written === undefined) continue
    if (written === null) return undefined
    const w = accountFields(written)
    const balance = w[1] + (is[1] - was[1])
    if (balance < 0n) return undefined
    const value = accountRlp(w[0], balance, w[2], w[3])
    if (isEmpty(accountFields(value))) return undefined
    newWrites.set(key, value)
  }
  return { ...exec, access: { ...exec.access, reads: newReads, writes: newWrites } }
}

function sameButBalance(a: AccountFieldsTuple, b: AccountFieldsTuple): boolean {
  return a[0] === b[0] && bytesEqual(a[2], b[2]) && bytesEqual(a[3], b[3])
}

/** EIP-161's empty account: touching one deletes it, so its balance decides more than a sum. */
function isEmpty(f: AccountFieldsTuple): boolean {
  return f[0] === 0n && f[1] === 0n && bytesEqual(f[3], KECCAK256_NULL)
}
