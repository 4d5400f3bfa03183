/**
 * A genesis's accounts, code and storage written into an `@ethereumjs` state manager, then
 * committed: how every sequential reference (the check, the bench's baselines, tests) starts.
 */
import { Account, Address, bytesToHex } from '@ethereumjs/util'

import { fromHex } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH } from '../state/keys.ts'
import { decodeAccount } from '../state/values.ts'

import type { GenesisState } from '../chain/genesis.ts'
import type { StateManagerInterface } from '@ethereumjs/common'

export async function putGenesisState(sm: StateManagerInterface, genesis: GenesisState): Promise<void> {
  for (const [key, value] of genesis.entries) {
    if (key.length !== ACCOUNT_KEY_LENGTH) continue
    const account = decodeAccount(value)!
    const address = new Address(fromHex(key))
    await sm.putAccount(address, new Account(account.nonce, account.balance))
    const code = genesis.codes.get(bytesToHex(account.codeHash).slice(2))
    if (code !== undefined) await sm.putCode(address, code)
  }
  for (const [key, value] of genesis.entries) {
    if (key.length === ACCOUNT_KEY_LENGTH) continue
    await sm.putStorage(new Address(fromHex(key.slice(0, ACCOUNT_KEY_LENGTH))), fromHex(key.slice(ACCOUNT_KEY_LENGTH)), value)
  }
  await sm.checkpoint()
  await sm.commit()
}
