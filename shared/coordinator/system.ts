/**
 * Block-level state changes outside transactions, applied by the coordinator at fixed
 * positions: before the transactions (EIP-4788 beacon root, EIP-2935 parent hash), after them
 * (EIP-4895 withdrawals, proof-of-work rewards). They mirror @ethereumjs/vm's runBlock.
 */
import { createAddressFromString } from '@ethereumjs/util'
import { paramsVM } from '@ethereumjs/vm'

import { fromHex, toHex } from '../hex.ts'
import { makeVersion, POSITION_BLOCK_END, POSITION_SYSTEM, storageKey } from '../state/keys.ts'
import { decodeAccount, KECCAK256_NULL, normalizeStorageValue, type StateValue } from '../state/values.ts'
import { bytesEqual } from '../hex.ts'

import type { BlockEnv } from '../exec/block-env.ts'
import type { BlockView } from '../state/view.ts'
import type { Common } from '@ethereumjs/common'

const BEACON_ROOTS = createAddressFromString('0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02')

function slotHex(n: bigint): string {
  return n.toString(16).padStart(64, '0')
}

async function hasCode(view: BlockView, address: string): Promise<boolean> {
  const account = decodeAccount((await view.get(address)).value)
  return account !== undefined && !bytesEqual(account.codeHash, KECCAK256_NULL)
}

const withVmParams = new WeakSet<Common>()

/**
 * The system operations' parameters (beacon-roots ring length, history window, miner reward)
 * are VM parameters: a Common has them only once a VM was created over it. The coordinator runs
 * the system operations before its executor makes a VM for the block, so add them here.
 */
function vmParam(common: Common, name: string): bigint {
  if (!withVmParams.has(common)) {
    common.updateParams(paramsVM)
    withVmParams.add(common)
  }
  return BigInt(common.param(name))
}

/** System writes before the first transaction (position 0). */
export async function applyBlockStart(view: BlockView, env: BlockEnv, common: Common): Promise<number> {
  const writes = new Map<string, StateValue>()
  if (common.isActivatedEIP(4788) && env.parentBeaconBlockRoot !== undefined) {
    const address = toHex(BEACON_ROOTS.bytes)
    if (await hasCode(view, address)) {
      const length = vmParam(common, 'historicalRootsLength')
      const index = BigInt(env.timestamp) % length
      writes.set(storageKey(address, slotHex(index)), normalizeStorageValue(fromHex(BigInt(env.timestamp).toString(16).padStart(16, '0'))))
      writes.set(storageKey(address, slotHex(index + length)), normalizeStorageValue(fromHex(env.parentBeaconBlockRoot)))
    }
  }
  if (common.isActivatedEIP(2935)) {
    const address = vmParam(common, 'historyStorageAddress').toString(16).padStart(40, '0')
    if (await hasCode(view, address)) {
      const window = vmParam(common, 'historyServeWindow')
      writes.set(storageKey(address, slotHex((BigInt(env.number) - 1n) % window)), normalizeStorageValue(fromHex(env.parentHash)))
    }
  }
  if (writes.size > 0) view.applyWrites(writes, makeVersion(BigInt(env.number), POSITION_SYSTEM))
  return writes.size
}

/** Withdrawals and proof-of-work rewards after the last transaction. */
export async function applyBlockEnd(view: BlockView, env: BlockEnv, common: Common): Promise<void> {
  const version = makeVersion(BigInt(env.number), POSITION_BLOCK_END)
  if (common.isActivatedEIP(4895)) {
    for (const w of env.withdrawals ?? []) {
      await view.credit(w.address.slice(2).toLowerCase(), BigInt(w.amount) * 1_000_000_000n, version, true)
    }
  }
  if (!common.gteHardfork('paris')) {
    const minerReward = vmParam(common, 'minerReward')
    const uncles = env.uncles ?? []
    for (const uncle of uncles) {
      const heightDiff = BigInt(env.number) - BigInt(uncle.number)
      let reward = ((8n - heightDiff) * minerReward) / 8n
      if (reward < 0n) reward = 0n
      await view.credit(uncle.coinbase.slice(2).toLowerCase(), reward, version, true)
    }
    const reward = minerReward + (minerReward / 32n) * BigInt(uncles.length)
    await view.credit(env.coinbase.slice(2).toLowerCase(), reward, version, true)
  }
}
