/**
 * The Ethereum state root of the flat state: an account trie (secure: keys keccak(address))
 * and one storage trie per account (keys keccak(slot), values RLP(value)). It is updated once
 * per block from the block's net writes and kept between blocks, so each root costs the
 * paths that block wrote. The flat account values carry a storageRoot field that is not
 * maintained per transaction: the trie supplies the live storage root of every leaf.
 */
import { Account, createAccountFromRLP } from '@ethereumjs/util'

import { keccak256 } from '../crypto/keccak.ts'
import { fromHex } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH, STORAGE_KEY_LENGTH, WIPE_PREFIX, type AddressHex, type StateKey } from '../state/keys.ts'
import { EMPTY_TRIE_ROOT, MerkleTrie, type NodeSink } from './mpt.ts'
import { encodeBytes } from './rlp.ts'

import type { StateValue } from '../state/values.ts'

export interface WorldStateStats {
  accountsUpdated: number
  storageSlotsUpdated: number
  storageTriesRehashed: number
}

export class WorldStateTrie {
  private readonly accounts = new MerkleTrie()
  private readonly storage = new Map<AddressHex, MerkleTrie>()
  private readonly hashedAddress = new Map<AddressHex, Uint8Array>()

  private addressKey(address: AddressHex): Uint8Array {
    let hashed = this.hashedAddress.get(address)
    if (hashed === undefined) {
      hashed = keccak256(fromHex(address))
      this.hashedAddress.set(address, hashed)
    }
    return hashed
  }

  /** Apply net writes (account, storage and wipe keys) and return the new state root. */
  apply(writes: Iterable<readonly [StateKey, StateValue]>, sink?: NodeSink): { root: Uint8Array; stats: WorldStateStats } {
    const accountWrites = new Map<AddressHex, StateValue>()
    const storageTouched = new Set<AddressHex>()
    const stats: WorldStateStats = { accountsUpdated: 0, storageSlotsUpdated: 0, storageTriesRehashed: 0 }
    const slotWrites: [StateKey, StateValue][] = []
    for (const [key, value] of writes) {
      if (key.length === ACCOUNT_KEY_LENGTH) accountWrites.set(key, value)
      else if (key.length === STORAGE_KEY_LENGTH) slotWrites.push([key, value])
      else if (key[0] === WIPE_PREFIX) {
        const address = key.slice(1)
        this.storage.delete(address)
        storageTouched.add(address)
      }
    }
    for (const [key, value] of slotWrites) {
      const address = key.slice(0, ACCOUNT_KEY_LENGTH)
      let trie = this.storage.get(address)
      if (trie === undefined) {
        trie = new MerkleTrie()
        this.storage.set(address, trie)
      }
      const slotKey = keccak256(fromHex(key.slice(ACCOUNT_KEY_LENGTH)))
      if (value === null) trie.del(slotKey)
      else trie.put(slotKey, encodeBytes(value))
      storageTouched.add(address)
      stats.storageSlotsUpdated++
    }
    const touched = new Set<AddressHex>([...accountWrites.keys(), ...storageTouched])
    for (const address of touched) {
      const key = this.addressKey(address)
      let value: StateValue
      if (accountWrites.has(address)) {
        value = accountWrites.get(address)!
      } else {
        const leaf = this.accounts.get(key)
        value = leaf ?? null
      }
      if (value === null) {
        this.accounts.del(key)
        this.storage.delete(address)
        continue
      }
      const account = createAccountFromRLP(value)
      const trie = this.storage.get(address)
      if (trie !== undefined && trie.isEmpty) this.storage.delete(address)
      account.storageRoot = trie === undefined || trie.isEmpty ? EMPTY_TRIE_ROOT : trie.root(sink)
      if (storageTouched.has(address)) stats.storageTriesRehashed++
      this.accounts.put(key, account.serialize())
      stats.accountsUpdated++
    }
    return { root: this.accounts.root(sink), stats }
  }

  root(): Uint8Array {
    return this.accounts.root()
  }

  /** The account as the trie holds it (with its live storage root). */
  account(address: AddressHex): Account | undefined {
    const leaf = this.accounts.get(this.addressKey(address))
    return leaf === undefined ? undefined : createAccountFromRLP(leaf)
  }
}
