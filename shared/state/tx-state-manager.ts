/**
 * A `StateManagerInterface` over a `BlockView`, for one transaction at a time.
 *
 * What it adds to plain state access:
 * - every first read of a key is recorded with the value and version observed (the read set);
 * - writes go to a transaction layer with a journal of undo frames (checkpoint / commit /
 *   revert cost the keys touched, never a copy of the state);
 * - at the end of the transaction the net write set is what changed by value: the EVM puts
 *   unchanged accounts on every call, and those are not writes;
 * - the block beneficiary's fee is a delta, not a read-modify-write: `runTx` credits the fee
 *   after the EVM has returned, and a credit then is recorded as `feeDelta` with no read.
 *   Any other access to the beneficiary (BALANCE, a transfer, the sender being the
 *   beneficiary, an emptiness check that could delete it) is a real read of the exact value.
 */
import { Account, KECCAK256_NULL, KECCAK256_RLP, type Address } from '@ethereumjs/util'

import { keccak256 } from '../crypto/keccak.ts'
import { InvariantError, ParevmError } from '../errors.ts'
import { bytesEqual, toHex } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH, STORAGE_KEY_LENGTH, WIPE_PREFIX, type AddressHex, type StateKey } from './keys.ts'
import { decodeAccount, encodeAccountOver, normalizeStorageValue, type StateValue, type VersionedValue } from './values.ts'

import type { BlockView, WriteSet } from './view.ts'
import type { AccountFields, StateManagerInterface } from '@ethereumjs/common'

const EMPTY = new Uint8Array(0)
const UNSET = Symbol('unset')

/**
 * An account put in this transaction, as fields (a copy: callers mutate their `Account`).
 * `runTx` and the EVM put the same accounts several times per transaction; each is encoded
 * once, at the end, and only if it changed.
 */
class PutAccount {
  readonly nonce: bigint
  readonly balance: bigint
  readonly storageRoot: Uint8Array
  readonly codeHash: Uint8Array
  constructor(account: Account) {
    this.nonce = account.nonce
    this.balance = account.balance
    this.storageRoot = account.storageRoot
    this.codeHash = account.codeHash
  }

  toAccount(): Account {
    return new Account(this.nonce, this.balance, this.storageRoot, this.codeHash)
  }
}

/** A key's value inside the transaction: an account put here is kept as fields until the end. */
type Written = StateValue | PutAccount
type Prior = Written | typeof UNSET
/** Placeholder value of a wipe marker inside a transaction; the view derives the real marker. */
const WIPED = Uint8Array.of(1)

/** Where `runTx` is: before the EVM runs, inside it, or after it returned (refund, fee, cleanup). */
export type TxPhase = 'pre' | 'exec' | 'post'

type CoinbaseState = 'none' | 'feeRead' | 'feeCredited' | 'real'

export interface TxAccess {
  /** First observation of every key read from the view, with its version. */
  reads: Map<StateKey, VersionedValue>
  /** Net writes (wipe markers included; storage writes after a wipe always included). */
  writes: WriteSet
  /** New contract code referenced by written accounts, by hash (hex). */
  codes: Map<string, Uint8Array>
  /** Wei credited to the beneficiary as a deferred fee (not a read of its balance). */
  feeDelta: bigint
}

export class TxStateManager implements StateManagerInterface {
  phase: TxPhase = 'pre'
  /** First error thrown by the view (missing state): fatal, whatever the EVM made of it. */
  fatal: unknown = undefined

  private view: BlockView | undefined
  private coinbase: AddressHex = ''
  private writes = new Map<StateKey, Written>()
  private reads = new Map<StateKey, VersionedValue>()
  private codes = new Map<string, Uint8Array>()
  private frames: Map<StateKey, Prior>[] = []
  private cbState: CoinbaseState = 'none'
  private cbBase: VersionedValue | undefined
  private cbDelta = 0n

  readonly originalStorageCache = {
    get: (address: Address, key: Uint8Array): Promise<Uint8Array> => this.getOriginalStorage(address, key),
    clear: (): void => {},
  }

  /** Point at a block's view; `coinbase` is the beneficiary whose fees are deferred. */
  setView(view: BlockView, coinbase: AddressHex): void {
    this.view = view
    this.coinbase = coinbase
  }

  beginTx(): void {
    this.phase = 'pre'
    this.fatal = undefined
    this.writes = new Map()
    this.reads = new Map()
    this.codes = new Map()
    this.frames = []
    this.cbState = 'none'
    this.cbBase = undefined
    this.cbDelta = 0n
  }

  async finishTx(): Promise<TxAccess> {
    if (this.frames.length !== 0) throw new InvariantError(`transaction ended with ${this.frames.length} open checkpoint(s)`)
    const net: WriteSet = new Map()
    const deferredCoinbase = this.cbState === 'feeRead' || this.cbState === 'feeCredited'
    for (const [key, value] of this.writes) {
      if (deferredCoinbase && key === this.coinbase) continue
      if (key[0] === WIPE_PREFIX) {
        // A wipe matters only if the account existed (and so could hold storage) at tx start.
        const address = key.slice(1)
        const start = this.reads.get(address) ?? (await this.readView(address))
        if (start.value !== null) net.set(key, value as StateValue)
        continue
      }
      if (key.length === STORAGE_KEY_LENGTH && this.writes.has(WIPE_PREFIX + key.slice(0, ACCOUNT_KEY_LENGTH))) {
        net.set(key, value as StateValue) // written after a wipe: the wipe would otherwise zero it
        continue
      }
      const seen = this.reads.get(key)
      const bytes = value instanceof PutAccount ? encodeAccountOver(seen?.value, value) : value
      if (seen !== undefined && (seen.value === bytes || bytesEqual(seen.value, bytes))) continue
      net.set(key, bytes)
    }
    const codes = new Map<string, Uint8Array>()
    if (this.codes.size > 0) {
      for (const [key, value] of net) {
        if (key.length !== ACCOUNT_KEY_LENGTH || value === null) continue
        const hash = toHex(decodeAccount(value)!.codeHash)
        const code = this.codes.get(hash)
        if (code !== undefined) codes.set(hash, code)
      }
    }
    return {
      reads: this.reads,
      writes: net,
      codes,
      feeDelta: this.cbState === 'feeCredited' ? this.cbDelta : 0n,
    }
  }

  // ----- reads -------------------------------------------------------------------------

  private requireView(): BlockView {
    if (this.view === undefined) throw new InvariantError('TxStateManager used before setView()')
    return this.view
  }

  private async readView(key: StateKey): Promise<VersionedValue> {
    const seen = this.reads.get(key)
    if (seen !== undefined) return seen
    let entry: VersionedValue
    try {
      entry = await this.requireView().get(key)
    } catch (error) {
      this.fatal ??= error
      throw error
    }
    this.reads.set(key, entry)
    return entry
  }

  /** The account at `key` now (a fresh `Account`: the caller may change it). */
  private async currentAccount(key: StateKey): Promise<Account | undefined> {
    const written = this.writes.get(key)
    if (written instanceof PutAccount) return written.toAccount()
    if (written !== undefined) return decodeAccount(written)
    return decodeAccount((await this.readView(key)).value)
  }

  async getAccount(address: Address): Promise<Account | undefined> {
    const a = toHex(address.bytes)
    if (a === this.coinbase) return this.getCoinbase()
    return this.currentAccount(a)
  }

  private async getCoinbase(): Promise<Account | undefined> {
    switch (this.cbState) {
      case 'none': {
        if (this.phase !== 'post') {
          this.cbState = 'real'
          return this.currentAccount(this.coinbase)
        }
        // runTx's fee credit reads the beneficiary after the EVM returned: no dependency.
        try {
          this.cbBase = await this.requireView().get(this.coinbase)
        } catch (error) {
          this.fatal ??= error
          throw error
        }
        this.cbState = 'feeRead'
        return decodeAccount(this.cbBase.value)
      }
      case 'feeCredited': {
        const account = await this.currentAccount(this.coinbase)
        // An empty beneficiary would be deleted (EIP-158): that depends on its exact value.
        if (account === undefined || account.isEmpty()) this.escalateCoinbase()
        return account
      }
      case 'feeRead':
        this.escalateCoinbase()
        return this.currentAccount(this.coinbase)
      case 'real':
        return this.currentAccount(this.coinbase)
    }
  }

  /** From here on the beneficiary is an ordinary key, read at its tx-start value. */
  private escalateCoinbase(): void {
    if (this.cbBase !== undefined && !this.reads.has(this.coinbase)) this.reads.set(this.coinbase, this.cbBase)
    this.cbState = 'real'
  }

  async getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    const a = toHex(address.bytes)
    const k = a + toHex(key)
    const written = this.writes.get(k) as StateValue | undefined
    if (written !== undefined) return written ?? EMPTY
    if (this.writes.has(WIPE_PREFIX + a)) return EMPTY
    // The slot first: the view loads its account's wipe marker with it (one store round trip).
    const value = (await this.readView(k)).value
    await this.readView(WIPE_PREFIX + a)
    return value ?? EMPTY
  }

  /** The slot's value at the start of the transaction (EIP-2200 gas), a real dependency. */
  private async getOriginalStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    const a = toHex(address.bytes)
    const value = (await this.readView(a + toHex(key))).value
    await this.readView(WIPE_PREFIX + a)
    return value ?? EMPTY
  }

  async getCode(address: Address): Promise<Uint8Array> {
    const account = await this.getAccount(address)
    if (account === undefined || bytesEqual(account.codeHash, KECCAK256_NULL)) return EMPTY
    const hash = toHex(account.codeHash)
    const fresh = this.codes.get(hash)
    if (fresh !== undefined) return fresh
    try {
      return await this.requireView().getCode(hash)
    } catch (error) {
      this.fatal ??= error
      throw error
    }
  }

  async getCodeSize(address: Address): Promise<number> {
    return (await this.getCode(address)).length
  }

  // ----- writes ------------------------------------------------------------------------

  private setWrite(key: StateKey, value: Written): void {
    const frame = this.frames[this.frames.length - 1]
    if (frame !== undefined && !frame.has(key)) {
      const prior = this.writes.get(key)
      frame.set(key, prior === undefined ? UNSET : prior)
    }
    this.writes.set(key, value)
  }

  private deleteWrite(key: StateKey): void {
    const prior = this.writes.get(key)
    if (prior === undefined) return
    const frame = this.frames[this.frames.length - 1]
    if (frame !== undefined && !frame.has(key)) frame.set(key, prior)
    this.writes.delete(key)
  }

  async putAccount(address: Address, account?: Account): Promise<void> {
    const a = toHex(address.bytes)
    if (a === this.coinbase && this.cbState !== 'real') {
      if (this.cbState === 'feeRead' && this.phase === 'post' && account !== undefined && this.isFeeCredit(account)) {
        const base = decodeAccount(this.cbBase!.value)
        this.cbDelta = account.balance - (base?.balance ?? 0n)
        this.cbState = 'feeCredited'
        this.setWrite(a, new PutAccount(account))
        return
      }
      this.escalateCoinbase()
    }
    if (account === undefined) {
      this.wipeStorage(a)
      this.setWrite(a, null)
      return
    }
    this.setWrite(a, new PutAccount(account))
  }

  private isFeeCredit(account: Account): boolean {
    const base = decodeAccount(this.cbBase!.value) ?? new Account()
    return (
      account.nonce === base.nonce &&
      account.balance >= base.balance &&
      bytesEqual(account.codeHash, base.codeHash) &&
      bytesEqual(account.storageRoot, base.storageRoot)
    )
  }

  async deleteAccount(address: Address): Promise<void> {
    const a = toHex(address.bytes)
    if (a === this.coinbase && this.cbState !== 'real') this.escalateCoinbase()
    this.wipeStorage(a)
    this.setWrite(a, null)
  }

  async modifyAccountFields(address: Address, fields: AccountFields): Promise<void> {
    const account = (await this.getAccount(address)) ?? new Account()
    account.nonce = fields.nonce ?? account.nonce
    account.balance = fields.balance ?? account.balance
    account.storageRoot = fields.storageRoot ?? account.storageRoot
    account.codeHash = fields.codeHash ?? account.codeHash
    await this.putAccount(address, account)
  }

  async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    if (key.length !== 32) throw new InvariantError('storage key must be 32 bytes long')
    if (value.length > 32) throw new InvariantError('storage value cannot be longer than 32 bytes')
    this.setWrite(toHex(address.bytes) + toHex(key), normalizeStorageValue(value))
  }

  /** Mirrors MerkleStateManager: a missing account is created empty, its storage root reset. */
  async clearStorage(address: Address): Promise<void> {
    const account = (await this.getAccount(address)) ?? new Account()
    this.wipeStorage(toHex(address.bytes))
    account.storageRoot = KECCAK256_RLP
    await this.putAccount(address, account)
  }

  private wipeStorage(a: AddressHex): void {
    for (const key of [...this.writes.keys()]) {
      if (key.length === STORAGE_KEY_LENGTH && key.startsWith(a)) this.deleteWrite(key)
    }
    this.setWrite(WIPE_PREFIX + a, WIPED)
  }

  async putCode(address: Address, value: Uint8Array): Promise<void> {
    const hash = keccak256(value)
    if (value.length > 0) this.codes.set(toHex(hash), value)
    const account = (await this.getAccount(address)) ?? new Account()
    account.codeHash = hash
    await this.putAccount(address, account)
  }

  // ----- checkpoints -------------------------------------------------------------------

  async checkpoint(): Promise<void> {
    this.frames.push(new Map())
  }

  async commit(): Promise<void> {
    const top = this.frames.pop()
    if (top === undefined) throw new InvariantError('commit() without checkpoint()')
    const parent = this.frames[this.frames.length - 1]
    if (parent === undefined) return
    for (const [key, prior] of top) if (!parent.has(key)) parent.set(key, prior)
  }

  async revert(): Promise<void> {
    const top = this.frames.pop()
    if (top === undefined) throw new InvariantError('revert() without checkpoint()')
    for (const [key, prior] of top) {
      if (prior === UNSET) this.writes.delete(key)
      else this.writes.set(key, prior)
    }
  }

  // ----- not on the flat-state path ----------------------------------------------------

  async getStateRoot(): Promise<Uint8Array> {
    throw new ParevmError('the flat state has no per-transaction state root', {
      hint: 'the coordinator computes the state root once per block at sealing (pre-Byzantium receipts are not supported)',
    })
  }

  async setStateRoot(): Promise<void> {
    throw new ParevmError('setStateRoot is not supported by the flat state')
  }

  async hasStateRoot(): Promise<boolean> {
    throw new ParevmError('hasStateRoot is not supported by the flat state')
  }

  clearCaches(): void {}

  shallowCopy(): StateManagerInterface {
    throw new ParevmError('shallowCopy is not supported by the flat state')
  }
}
