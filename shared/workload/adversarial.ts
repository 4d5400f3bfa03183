/**
 * Adversarial workloads for `parevm run` and differential tests: a Cancun genesis with a dozen
 * hand-assembled contracts (storage writers, a block-context recorder, a CREATE/CREATE2 factory,
 * SELFDESTRUCT, transient storage, REVERT, out-of-gas, a hot token mapping, a proxy, an account
 * inspector, a beacon-roots reader, an ETH forwarder) and a file of raw transaction lines in
 * which valid and invalid transactions of the same senders interleave.
 *
 * The generator is a pure function of its options (its own PRNG, RFC 6979 signatures). It
 * tracks what sequential execution in file order does: an invalid line consumes no nonce, a
 * transaction that reverts or runs out of gas does; balances are tracked as lower bounds (the
 * most a transaction can spend, the credits that are certain), so every line of a 'valid' kind
 * is valid when executed serially in file order. The `kind` of a line is informational: the
 * oracle of a differential test is sequential execution, not this label.
 *
 * Transactions are encoded by hand (RLP + secp256k1), so invalid field combinations that
 * @ethereumjs/tx refuses to build (tip above fee cap, oversize initcode, bad signatures) can be
 * written too.
 */
import { RLP } from '@ethereumjs/rlp'

import { parseGenesis, type GenesisFile } from '../chain/genesis.ts'
import { keccak256 } from '../crypto/keccak.ts'
import { createCustomCrypto, privateKeyToAddress } from '../crypto/secp256k1.ts'
import { bigintToHex, bigintToMinimalBytes, bytesToBigint, concatBytes, fromHex, to0x } from '../hex.ts'
import { asm, initcode } from './asm.ts'

export interface AdversarialOptions {
  seed: number
  /** Number of transaction lines (default 600). */
  lines?: number
  /** Number of EOAs that send (default 12). */
  senders?: number
  /** Put the EIP-4788 beacon-roots contract in the genesis at 0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02 (default true). */
  beaconRoots?: boolean
  /** Share of lines that are invalid (default 0.25). */
  invalidShare?: number
  /** Block gas limit of the genesis (default 30_000_000). */
  gasLimit?: bigint
}

export interface AdversarialLine {
  raw: string
  kind: string
}

export interface AdversarialWorkload {
  genesisFile: GenesisFile
  lines: AdversarialLine[]
  chainId: bigint
}

/** Kinds of lines the generator means to be valid (included) when executed serially in file order. */
export const VALID_KINDS = [
  'transfer',
  'transfer-coinbase',
  'transfer-fresh',
  'transfer-self',
  'call-counter',
  'call-counter-set',
  'call-context',
  'create',
  'create2',
  'create-selfdestruct',
  'create2-selfdestruct',
  'create-revert',
  'create2-revert',
  'call-child',
  'call-selfdestruct',
  'call-transient',
  'call-revert',
  'call-no-revert',
  'call-oog',
  'call-token',
  'call-proxy',
  'call-inspector',
  'call-beacon',
  'call-forwarder',
  'deploy',
  'deploy-revert',
  'deploy-ef',
  'deploy-selfdestruct',
  'gap-filled',
  'underfunded-retry',
  'underfunded-next',
  'fund',
  'funded-retry',
  'funded-next',
] as const

/** Kinds of lines the generator means to be invalid (never included). */
export const INVALID_KINDS = [
  'bad-signature',
  'wrong-sender',
  'wrong-chain-id',
  'malformed-truncated',
  'malformed-random',
  'malformed-typed-garbage',
  'unsupported-type-3',
  'unsupported-type-4',
  'unsupported-type-7f',
  'not-hex',
  'odd-length-hex',
  'intrinsic-gas-too-low',
  'gas-above-block-limit',
  'fee-cap-below-base-fee',
  'gas-price-below-base-fee',
  'tip-above-fee-cap',
  'nonce-max',
  'replay',
  'replacement',
  'nonce-gap',
  'nonce-gap-never',
  'insufficient-funds',
  'underfunded-nonce0',
  'unfunded-until-funded',
  'sender-has-code',
  'initcode-too-large',
  'oversize',
] as const

export type ValidKind = (typeof VALID_KINDS)[number]
export type InvalidKind = (typeof INVALID_KINDS)[number]

const VALID_SET: ReadonlySet<string> = new Set(VALID_KINDS)
export function isIntendedValid(kind: string): boolean {
  return VALID_SET.has(kind)
}

export const ADVERSARIAL_CHAIN_ID = 7777n
export const ADVERSARIAL_COINBASE = '0xc0ffee00000000000000000000000000c0ffee00'
export const ADVERSARIAL_TIMESTAMP = 0x6553f100n
export const BEACON_ROOTS_ADDRESS = '0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02'
const BEACON_ROOTS_CODE =
  '0x3373fffffffffffffffffffffffffffffffffffffffe14604d57602036146024575f5ffd5b5f35801560495762001fff810690815414603c575f5ffd5b62001fff01545f5260205ff35b5f5ffd5b62001fff42064281555f359062001fff015500'

const GWEI = 10n ** 9n
const ETH = 10n ** 18n
const SENDER_BALANCE = 10n * ETH
const UNDERFUNDED_BALANCE = 2n * 10n ** 15n
const FUNDING = ETH / 2n
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const MAX_INITCODE = 49_152

// ---------------------------------------------------------------------------------------------
// PRNG (mulberry32): the only source of randomness.

class Rng {
  private state: number
  constructor(seed: number) {
    this.state = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let total = 0
    for (const [, w] of items) total += w
    let r = this.next() * total
    for (const [item, w] of items) {
      r -= w
      if (r < 0) return item
    }
    return items[items.length - 1]![0]
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.int(256)
    return out
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      ;[items[i], items[j]] = [items[j]!, items[i]!]
    }
    return items
  }
}

// ---------------------------------------------------------------------------------------------
// Transaction encoding and signing.

interface TxFields {
  type: 0 | 1 | 2
  chainId: bigint
  nonce: bigint
  /** gasPrice for types 0 and 1, maxFeePerGas for type 2. */
  fee: bigint
  /** maxPriorityFeePerGas (type 2). */
  tip: bigint
  gasLimit: bigint
  to: string | undefined
  value: bigint
  data: Uint8Array
  accessList: [string, string[]][]
}

interface Signature {
  /** yParity for typed transactions, the full v for legacy. */
  v: bigint
  r: bigint
  s: bigint
}

const big = bigintToMinimalBytes
const EMPTY = new Uint8Array(0)

type RlpItem = Uint8Array | RlpItem[]

function payload(f: TxFields): RlpItem[] {
  const to = f.to === undefined ? EMPTY : fromHex(f.to)
  const accessList: RlpItem[] = f.accessList.map(([a, keys]) => [fromHex(a), keys.map((k) => fromHex(k))])
  switch (f.type) {
    case 0:
      return [big(f.nonce), big(f.fee), big(f.gasLimit), to, big(f.value), f.data]
    case 1:
      return [big(f.chainId), big(f.nonce), big(f.fee), big(f.gasLimit), to, big(f.value), f.data, accessList]
    case 2:
      return [big(f.chainId), big(f.nonce), big(f.tip), big(f.fee), big(f.gasLimit), to, big(f.value), f.data, accessList]
  }
}

function signingHash(f: TxFields): Uint8Array {
  if (f.type === 0) return keccak256(RLP.encode([...payload(f), big(f.chainId), EMPTY, EMPTY]))
  return keccak256(concatBytes(Uint8Array.of(f.type), RLP.encode(payload(f))))
}

type EcSign = (msgHash: Uint8Array, privateKey: Uint8Array) => Uint8Array
let ecsignCached: EcSign | undefined
function ecsign(): EcSign {
  if (ecsignCached === undefined) {
    const sign = createCustomCrypto().ecsign as unknown as EcSign | undefined
    if (sign === undefined) throw new Error('adversarial workloads need the native secp256k1 binding')
    ecsignCached = sign
  }
  return ecsignCached
}

function sign(f: TxFields, key: Uint8Array): Signature {
  const out = ecsign()(signingHash(f), key)
  const recid = BigInt(out[0]!)
  const r = bytesToBigint(out.subarray(1, 33))
  const s = bytesToBigint(out.subarray(33, 65))
  return { v: f.type === 0 ? recid + f.chainId * 2n + 35n : recid, r, s }
}

function encode(f: TxFields, sig: Signature): Uint8Array {
  const body = RLP.encode([...payload(f), big(sig.v), big(sig.r), big(sig.s)] as never)
  return f.type === 0 ? body : concatBytes(Uint8Array.of(f.type), body)
}

function signEncode(f: TxFields, key: Uint8Array): string {
  return to0x(encode(f, sign(f, key)))
}

function word(value: bigint | number | string): Uint8Array {
  const v = typeof value === 'string' ? BigInt(value) : BigInt(value)
  const out = new Uint8Array(32)
  out.set(big(v), 32 - big(v).length)
  return out
}

function slotHex(n: bigint | number): string {
  return to0x(word(BigInt(n)))
}

// ---------------------------------------------------------------------------------------------
// Contracts.

const contractAddress = (i: number): string => `0x${'ad'.repeat(16)}${i.toString(16).padStart(8, '0')}`

const C = {
  counter: contractAddress(1),
  context: contractAddress(2),
  factory: contractAddress(3),
  selfdestructor: contractAddress(4),
  transient: contractAddress(5),
  reverter: contractAddress(6),
  burner: contractAddress(7),
  token: contractAddress(8),
  proxy: contractAddress(9),
  inspector: contractAddress(10),
  beaconReader: contractAddress(11),
  forwarder: contractAddress(12),
} as const

/** Slot k = calldata[0:32]; with 64 bytes of calldata store calldata[32:64], else increment. */
const COUNTER_CODE = asm(
  'PUSH0', 'CALLDATALOAD',
  { push: 32 }, 'CALLDATASIZE', 'GT', { ref: 'set' }, 'JUMPI',
  'DUP1', 'SLOAD', { push: 1 }, 'ADD', 'SWAP1', 'SSTORE', 'STOP',
  { label: 'set' }, { push: 32 }, 'CALLDATALOAD', 'SWAP1', 'SSTORE', 'STOP',
)

/** Stores each block-context value in its own slot and LOG1s it (topic = slot). */
const CONTEXT_VALUES: string[][] = [
  ['NUMBER'],
  ['TIMESTAMP'],
  ['COINBASE'],
  ['BASEFEE'],
  ['PREVRANDAO'],
  ['GASLIMIT'],
  ['CHAINID'],
  ['GASPRICE'],
  ['PUSH1:1', 'NUMBER', 'SUB', 'BLOCKHASH'],
  ['PUSH0', 'BLOCKHASH'],
  ['PUSH2:300', 'NUMBER', 'SUB', 'BLOCKHASH'],
  ['SELFBALANCE'],
  ['COINBASE', 'BALANCE'],
  ['BLOBBASEFEE'],
  ['ORIGIN', 'BALANCE'],
]
const CONTEXT_CODE = asm(
  ...CONTEXT_VALUES.flatMap((expr, i) => [
    ...expr.map((op) => (op.includes(':') ? { push: Number(op.split(':')[1]) } : op)),
    'DUP1', { push: i }, 'SSTORE',
    'PUSH0', 'MSTORE', { push: i }, { push: 32 }, 'PUSH0', 'LOG1',
  ]),
  'STOP',
)

/** calldata: salt(32) ++ mode(32: 0 = CREATE, else CREATE2) ++ initcode; value goes to the child. */
const FACTORY_CODE = asm(
  'CALLDATASIZE', { push: 64 }, 'SWAP1', 'SUB',
  'DUP1', { push: 64 }, 'PUSH0', 'CALLDATACOPY',
  { push: 32 }, 'CALLDATALOAD', 'ISZERO', { ref: 'create' }, 'JUMPI',
  'PUSH0', 'CALLDATALOAD', 'SWAP1', 'PUSH0', 'CALLVALUE', 'CREATE2', { ref: 'store' }, 'JUMP',
  { label: 'create' }, 'PUSH0', 'CALLVALUE', 'CREATE',
  { label: 'store' },
  'PUSH0', 'SLOAD', { push: 1 }, 'ADD', 'DUP1', 'PUSH0', 'SSTORE',
  'DUP2', 'SWAP1', 'SSTORE',
  'PUSH0', 'MSTORE', { push: 32 }, 'PUSH0', 'LOG0',
  'STOP',
)

const SELFDESTRUCTOR_CODE = asm('PUSH0', 'CALLDATALOAD', 'SELFDESTRUCT')

/** x = TLOAD(k) (0 at the start of a tx); TSTORE(k, v); SSTORE(k, TLOAD(k)); SSTORE(k + 1, x). */
const TRANSIENT_CODE = asm(
  'PUSH0', 'CALLDATALOAD', 'TLOAD',
  { push: 32 }, 'CALLDATALOAD', 'PUSH0', 'CALLDATALOAD', 'TSTORE',
  'PUSH0', 'CALLDATALOAD', 'TLOAD',
  'PUSH0', 'CALLDATALOAD', 'SSTORE',
  'PUSH0', 'CALLDATALOAD', { push: 1 }, 'ADD', 'SSTORE',
  'STOP',
)

/** SSTORE(0, arg); a non-zero arg reverts with it as data, zero stores the caller. */
const REVERTER_CODE = asm(
  'PUSH0', 'CALLDATALOAD', 'DUP1', 'PUSH0', 'SSTORE',
  'DUP1', 'ISZERO', { ref: 'ok' }, 'JUMPI',
  'PUSH0', 'MSTORE', { push: 32 }, 'PUSH0', 'REVERT',
  { label: 'ok' }, 'POP', 'CALLER', { push: 1 }, 'SSTORE', 'STOP',
)

/** Writes storage until it runs out of gas. */
const BURNER_CODE = asm({ label: 'loop' }, { push: 1 }, 'GAS', 'SSTORE', { ref: 'loop' }, 'JUMP')

const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'
/** balances[caller] (mapping at slot 1) += amount; total (slot 0, the hot key) += amount; LOG2. */
const TOKEN_CODE = asm(
  'CALLER', 'PUSH0', 'MSTORE', { push: 1 }, { push: 32 }, 'MSTORE', { push: 64 }, 'PUSH0', 'SHA3',
  'DUP1', 'SLOAD', 'PUSH0', 'CALLDATALOAD', 'ADD', 'SWAP1', 'SSTORE',
  'PUSH0', 'SLOAD', 'PUSH0', 'CALLDATALOAD', 'ADD', 'PUSH0', 'SSTORE',
  'PUSH0', 'CALLDATALOAD', 'PUSH0', 'MSTORE', 'CALLER', { push: TRANSFER_TOPIC }, { push: 32 }, 'PUSH0', 'LOG2',
  'STOP',
)

/** calldata: target(32) ++ inner calldata; CALLs the target with the value; stores success and return size. */
const PROXY_CODE = asm(
  'CALLDATASIZE', { push: 32 }, 'SWAP1', 'SUB',
  'DUP1', { push: 32 }, 'PUSH0', 'CALLDATACOPY',
  'PUSH0', 'PUSH0', 'DUP3', 'PUSH0', 'CALLVALUE', 'PUSH0', 'CALLDATALOAD', 'GAS', 'CALL',
  'PUSH0', 'SSTORE',
  'RETURNDATASIZE', { push: 1 }, 'SSTORE',
  'STOP',
)

/** Stores BALANCE, EXTCODESIZE and EXTCODEHASH of the address in calldata. */
const INSPECTOR_CODE = asm(
  'PUSH0', 'CALLDATALOAD',
  'DUP1', 'BALANCE', 'PUSH0', 'SSTORE',
  'DUP1', 'EXTCODESIZE', { push: 1 }, 'SSTORE',
  'EXTCODEHASH', { push: 2 }, 'SSTORE',
  'STOP',
)

/** STATICCALLs the beacon-roots contract with calldata[0:32] (a timestamp); stores success and the root. */
const BEACON_READER_CODE = asm(
  'PUSH0', 'CALLDATALOAD', 'PUSH0', 'MSTORE',
  { push: 32 }, { push: 32 }, { push: 32 }, 'PUSH0', { push: BEACON_ROOTS_ADDRESS }, 'GAS', 'STATICCALL',
  'PUSH0', 'SSTORE',
  { push: 32 }, 'MLOAD', { push: 1 }, 'SSTORE',
  'STOP',
)

/** Sends the call's value to the address in calldata; stores success. */
const FORWARDER_CODE = asm(
  'PUSH0', 'PUSH0', 'PUSH0', 'PUSH0', 'CALLVALUE', 'PUSH0', 'CALLDATALOAD', 'GAS', 'CALL',
  'PUSH0', 'SSTORE', 'STOP',
)

/** Runtime of factory children: non-zero calldata SELFDESTRUCTs to it, zero increments slot 0. */
const CHILD_RUNTIME = asm(
  'PUSH0', 'CALLDATALOAD', 'DUP1', 'ISZERO', { ref: 'inc' }, 'JUMPI', 'SELFDESTRUCT',
  { label: 'inc' }, 'POP', 'PUSH0', 'SLOAD', { push: 1 }, 'ADD', 'PUSH0', 'SSTORE', 'STOP',
)
const STORE_PRELUDE = asm('CALLER', 'PUSH0', 'SSTORE', 'ORIGIN', { push: 1 }, 'SSTORE')
const CHILD_STORE_INITCODE = initcode(CHILD_RUNTIME, STORE_PRELUDE)
const REVERT_INITCODE = asm({ push: 1 }, 'PUSH0', 'SSTORE', { push: 0xdead }, 'PUSH0', 'MSTORE', { push: 32 }, 'PUSH0', 'REVERT')
const EF_INITCODE = asm({ push: 0xef }, 'PUSH0', 'MSTORE8', { push: 1 }, 'PUSH0', 'RETURN')
const DEPLOY_INITCODE = initcode(COUNTER_CODE, STORE_PRELUDE)
const selfdestructInitcode = (beneficiary: string): Uint8Array => asm({ push: beneficiary }, 'SELFDESTRUCT')

function create2Address(factory: string, salt: Uint8Array, code: Uint8Array): string {
  const hash = keccak256(concatBytes(Uint8Array.of(0xff), fromHex(factory), salt, keccak256(code)))
  return to0x(hash.subarray(12))
}

// ---------------------------------------------------------------------------------------------
// Accounts.

interface Gap {
  nonce: bigint
  raw: string
  cost: bigint
  fill: boolean
}

interface Account {
  key: Uint8Array
  address: string
  nonce: bigint
  /** A lower bound of the balance under serial execution. */
  balance: bigint
  regular: boolean
  gap?: Gap | undefined
}

function deriveKey(seed: number, label: string): Uint8Array {
  let k = keccak256(new TextEncoder().encode(`parevm-adversarial:${seed}:${label}`))
  while (bytesToBigint(k) === 0n || bytesToBigint(k) >= SECP256K1_N) k = keccak256(k)
  return k
}

interface Plan {
  fields: TxFields
  kind: string
  /** Certain credit to a tracked account (a plain value transfer to an EOA). */
  credit?: { to: Account; value: bigint }
  /** Runs once the transaction is emitted as valid. */
  onInclude?: () => void
}

interface Step {
  notBefore: number
  run: () => AdversarialLine | undefined
}

interface Script {
  steps: Step[]
}

// ---------------------------------------------------------------------------------------------

export function generateAdversarial(options: AdversarialOptions): AdversarialWorkload {
  const seed = options.seed
  const lineCount = options.lines ?? 600
  const senderCount = Math.max(2, options.senders ?? 12)
  const beaconRoots = options.beaconRoots ?? true
  const invalidShare = Math.min(1, Math.max(0, options.invalidShare ?? 0.25))
  const blockGasLimit = options.gasLimit ?? 30_000_000n
  const chainId = ADVERSARIAL_CHAIN_ID
  const rng = new Rng(seed)

  const alloc: GenesisFile['alloc'] = {}
  const account = (label: string, balance: bigint, regular: boolean, inAlloc: boolean): Account => {
    const key = deriveKey(seed, label)
    const address = to0x(privateKeyToAddress(key))
    if (inAlloc) alloc[address] = { balance: bigintToHex(balance) }
    return { key, address, nonce: 0n, balance, regular }
  }
  const senders: Account[] = []
  for (let i = 0; i < senderCount; i++) senders.push(account(`sender-${i}`, SENDER_BALANCE, true, true))
  const codeSender = account('code-sender', SENDER_BALANCE, false, true)
  alloc[codeSender.address] = { balance: bigintToHex(SENDER_BALANCE), code: '0x00' }
  const tracked = new Map<string, Account>(senders.map((s) => [s.address, s]))

  const contract = (address: string, code: Uint8Array, balance = 0n, storage?: Record<string, string>): void => {
    alloc[address] = { balance: bigintToHex(balance), nonce: '0x1', code: to0x(code), ...(storage !== undefined ? { storage } : {}) }
  }
  const counterStorage: Record<string, string> = {}
  for (let k = 1; k <= 8; k++) counterStorage[slotHex(k)] = slotHex(k * 0x101)
  contract(C.counter, COUNTER_CODE, 0n, counterStorage)
  contract(C.context, CONTEXT_CODE)
  contract(C.factory, FACTORY_CODE)
  contract(C.selfdestructor, SELFDESTRUCTOR_CODE, ETH)
  contract(C.transient, TRANSIENT_CODE)
  contract(C.reverter, REVERTER_CODE)
  contract(C.burner, BURNER_CODE)
  contract(C.token, TOKEN_CODE, 0n, { [slotHex(0)]: slotHex(1_000_000) })
  contract(C.proxy, PROXY_CODE)
  contract(C.inspector, INSPECTOR_CODE)
  contract(C.beaconReader, BEACON_READER_CODE)
  contract(C.forwarder, FORWARDER_CODE, 10n ** 15n)
  if (beaconRoots) alloc[BEACON_ROOTS_ADDRESS] = { balance: '0x0', nonce: '0x1', code: BEACON_ROOTS_CODE }

  const lines: AdversarialLine[] = []
  const included: string[] = []
  const children: string[] = []
  const fresh: string[] = []
  const scripts: Script[] = []
  let specialCount = 0
  let lastSender: Account | undefined

  // --- helpers -------------------------------------------------------------------------------

  const freshAddress = (): string => {
    if (fresh.length > 0 && rng.chance(0.3)) return rng.pick(fresh)
    const a = to0x(rng.bytes(20))
    fresh.push(a)
    return a
  }
  const someAddress = (): string =>
    rng.weighted<() => string>([
      [() => rng.pick(senders).address, 3],
      [() => ADVERSARIAL_COINBASE, 2],
      [freshAddress, 3],
      [() => (children.length > 0 ? rng.pick(children) : freshAddress()), 2],
      [() => rng.pick(Object.values(C)), 2],
      [() => codeSender.address, 1],
    ])()
  const pickType = (): 0 | 1 | 2 => rng.weighted<0 | 1 | 2>([[0, 25], [1, 20], [2, 55]])
  const upfront = (f: TxFields): bigint => f.gasLimit * f.fee + f.value
  const accessListGas = (al: [string, string[]][]): bigint => al.reduce((g, [, keys]) => g + 2400n + 1900n * BigInt(keys.length), 0n)
  const dataGas = (data: Uint8Array): bigint => data.reduce((g, b) => g + (b === 0 ? 4n : 16n), 0n)

  /** Fees, type and access list for a valid transaction; gas is the execution allowance. */
  const fields = (from: Account, to: string | undefined, value: bigint, data: Uint8Array, gas: bigint, slots: string[] = []): TxFields => {
    const type = pickType()
    const accessList: [string, string[]][] = []
    if (type !== 0 && rng.chance(0.5)) {
      if (to !== undefined) accessList.push([to, slots.slice(0, rng.int(slots.length + 1))])
      if (rng.chance(0.3)) accessList.push([ADVERSARIAL_COINBASE, []])
      if (rng.chance(0.2)) accessList.push([C.token, [slotHex(0)]])
    }
    const fee = type === 2 ? BigInt(rng.range(2, 6)) * GWEI : BigInt(rng.range(2, 5)) * GWEI
    const tip = type === 2 ? (BigInt(rng.int(21)) * GWEI) / 10n : 0n
    const intrinsic = 21_000n + (to === undefined ? 32_000n + 2n * BigInt(Math.ceil(data.length / 32)) : 0n) + dataGas(data) + accessListGas(accessList)
    return { type, chainId, nonce: from.nonce, fee, tip, gasLimit: intrinsic + gas, to, value, data, accessList }
  }

  const smallValue = (): bigint => (rng.chance(0.3) ? 0n : BigInt(rng.range(1, 1_000_000)) * GWEI)

  /** A random valid transaction for `from` at its current nonce (not yet emitted). */
  const planValid = (from: Account): Plan => {
    const choice = rng.weighted<string>([
      ['transfer', 8],
      ['transfer-coinbase', 3],
      ['transfer-fresh', 4],
      ['transfer-self', 1],
      ['call-counter', 6],
      ['call-counter-set', 3],
      ['call-context', 4],
      ['factory', 6],
      ['call-child', 2],
      ['call-selfdestruct', 3],
      ['call-transient', 3],
      ['call-revert', 3],
      ['call-no-revert', 2],
      ['call-oog', 2],
      ['call-token', 7],
      ['call-proxy', 4],
      ['call-inspector', 3],
      ['call-beacon', 2],
      ['call-forwarder', 3],
      ['deploy', 2],
      ['deploy-revert', 1],
      ['deploy-ef', 1],
      ['deploy-selfdestruct', 1],
    ])
    switch (choice) {
      case 'transfer': {
        const others = [...tracked.values()].filter((a) => a !== from)
        const to = rng.pick(others)
        const value = smallValue()
        return { fields: fields(from, to.address, value, EMPTY, rng.chance(0.7) ? 0n : BigInt(rng.int(30_000))), kind: choice, credit: { to, value } }
      }
      case 'transfer-coinbase':
        return { fields: fields(from, ADVERSARIAL_COINBASE, smallValue(), EMPTY, 0n), kind: choice }
      case 'transfer-fresh':
        return { fields: fields(from, freshAddress(), smallValue(), EMPTY, 0n), kind: choice }
      case 'transfer-self':
        return { fields: fields(from, from.address, smallValue(), EMPTY, 0n), kind: choice }
      case 'call-counter': {
        const k = rng.int(12)
        return { fields: fields(from, C.counter, 0n, word(k), 50_000n, [slotHex(k)]), kind: choice }
      }
      case 'call-counter-set': {
        const k = rng.int(12)
        const v = rng.chance(0.4) ? 0n : BigInt(rng.int(1000))
        return { fields: fields(from, C.counter, 0n, concatBytes(word(k), word(v)), 50_000n, [slotHex(k)]), kind: choice }
      }
      case 'call-context':
        return { fields: fields(from, C.context, rng.chance(0.3) ? smallValue() : 0n, EMPTY, 420_000n, [slotHex(0), slotHex(1)]), kind: choice }
      case 'factory': {
        const mode = rng.chance(0.5) ? 'create' : 'create2'
        const variant = rng.weighted<string>([['store', 6], ['selfdestruct', 2], ['revert', 1]])
        const code = variant === 'store' ? CHILD_STORE_INITCODE : variant === 'revert' ? REVERT_INITCODE : selfdestructInitcode(someAddress())
        const salt = word(rng.int(6))
        const data = concatBytes(salt, word(mode === 'create' ? 0 : 1), code)
        const plan: Plan = {
          fields: fields(from, C.factory, rng.chance(0.3) ? smallValue() : 0n, data, 250_000n, [slotHex(0)]),
          kind: variant === 'store' ? mode : `${mode}-${variant}`,
        }
        if (mode === 'create2' && variant === 'store') {
          const child = create2Address(C.factory, salt, code)
          plan.onInclude = () => {
            if (!children.includes(child)) children.push(child)
          }
        }
        return plan
      }
      case 'call-child': {
        if (children.length === 0) return planValid(from)
        const data = rng.chance(0.5) ? EMPTY : word(someAddress())
        return { fields: fields(from, rng.pick(children), rng.chance(0.4) ? smallValue() : 0n, data, 60_000n), kind: choice }
      }
      case 'call-selfdestruct': {
        const beneficiary = rng.chance(0.1) ? C.selfdestructor : someAddress()
        return { fields: fields(from, C.selfdestructor, rng.chance(0.5) ? smallValue() : 0n, word(beneficiary), 60_000n), kind: choice }
      }
      case 'call-transient': {
        const k = rng.int(8)
        return { fields: fields(from, C.transient, 0n, concatBytes(word(k), word(rng.int(1 << 30))), 70_000n, [slotHex(k)]), kind: choice }
      }
      case 'call-revert':
        return { fields: fields(from, C.reverter, 0n, word(rng.range(1, 1 << 30)), 60_000n), kind: choice }
      case 'call-no-revert':
        return { fields: fields(from, C.reverter, 0n, word(0), 60_000n), kind: choice }
      case 'call-oog':
        return { fields: fields(from, C.burner, 0n, rng.chance(0.5) ? EMPTY : rng.bytes(8), BigInt(rng.range(10_000, 90_000))), kind: choice }
      case 'call-token': {
        const amount = rng.chance(0.1) ? 0n : BigInt(rng.range(1, 1000))
        return { fields: fields(from, C.token, 0n, word(amount), 60_000n, [slotHex(0)]), kind: choice }
      }
      case 'call-proxy': {
        const target = rng.weighted<[string, Uint8Array, bigint]>([
          [[C.counter, word(rng.int(12)), 50_000n], 3],
          [[C.reverter, word(rng.int(3)), 50_000n], 2],
          [[C.burner, EMPTY, 50_000n], 1],
          [[C.token, word(rng.range(1, 99)), 60_000n], 3],
          [[C.context, EMPTY, 420_000n], 1],
          [[C.selfdestructor, word(someAddress()), 60_000n], 1],
          [[C.transient, concatBytes(word(rng.int(8)), word(rng.int(99))), 70_000n], 1],
          [[C.forwarder, word(someAddress()), 60_000n], 1],
          [[C.proxy, concatBytes(word(C.counter), word(rng.int(12))), 120_000n], 1],
        ])
        const [to, inner, gas] = target
        return { fields: fields(from, C.proxy, rng.chance(0.3) ? smallValue() : 0n, concatBytes(word(to), inner), gas + 60_000n), kind: choice }
      }
      case 'call-inspector':
        return { fields: fields(from, C.inspector, 0n, word(someAddress()), 100_000n), kind: choice }
      case 'call-beacon': {
        const ts = rng.weighted<bigint>([
          [ADVERSARIAL_TIMESTAMP + 12n * BigInt(rng.range(1, 40)), 4],
          [0n, 1],
          [ADVERSARIAL_TIMESTAMP, 1],
          [BigInt(rng.int(1 << 30)), 1],
        ])
        return { fields: fields(from, C.beaconReader, 0n, word(ts), 80_000n), kind: choice }
      }
      case 'call-forwarder':
        return { fields: fields(from, C.forwarder, rng.chance(0.8) ? smallValue() : 0n, word(someAddress()), 70_000n), kind: choice }
      case 'deploy':
        return { fields: fields(from, undefined, rng.chance(0.3) ? smallValue() : 0n, DEPLOY_INITCODE, 120_000n), kind: choice }
      case 'deploy-revert':
        return { fields: fields(from, undefined, 0n, REVERT_INITCODE, 60_000n), kind: choice }
      case 'deploy-ef':
        return { fields: fields(from, undefined, 0n, EF_INITCODE, 40_000n), kind: choice }
      default:
        return { fields: fields(from, undefined, smallValue(), selfdestructInitcode(someAddress()), 60_000n), kind: 'deploy-selfdestruct' }
    }
  }

  /** A cheap plain transfer (for accounts with little money). */
  const planCheap = (from: Account): Plan => {
    const f = fields(from, rng.pick(senders).address, 0n, EMPTY, 0n)
    f.accessList = []
    f.gasLimit = 21_000n
    f.fee = 2n * GWEI
    f.tip = f.type === 2 ? GWEI / 2n : 0n
    return { fields: f, kind: 'transfer' }
  }

  /** Plans a valid transaction that `from` can afford (a lower-bound check), or undefined. */
  const planAffordable = (from: Account): Plan | undefined => {
    for (let tries = 0; tries < 4; tries++) {
      const plan = planValid(from)
      if (upfront(plan.fields) <= from.balance) return plan
      plan.fields.value = 0n
      if (plan.credit !== undefined) plan.credit.value = 0n
      if (upfront(plan.fields) <= from.balance) return plan
    }
    const cheap = planCheap(from)
    return upfront(cheap.fields) <= from.balance ? cheap : undefined
  }

  const include = (from: Account, raw: string, cost: bigint, kind: string): AdversarialLine => {
    from.nonce += 1n
    from.balance -= cost
    included.push(raw)
    const line = { raw, kind }
    lines.push(line)
    return line
  }

  const emitPlan = (from: Account, plan: Plan, kind = plan.kind): AdversarialLine => {
    const raw = signEncode(plan.fields, from.key)
    const line = include(from, raw, upfront(plan.fields), kind)
    if (plan.credit !== undefined) plan.credit.to.balance += plan.credit.value
    plan.onInclude?.()
    return line
  }

  const emitInvalid = (raw: string, kind: InvalidKind): AdversarialLine => {
    const line = { raw, kind }
    lines.push(line)
    return line
  }

  const pickSender = (needNonce = false): Account | undefined => {
    if (lastSender !== undefined && lastSender.regular && rng.chance(0.35) && (!needNonce || lastSender.nonce > 0n)) return lastSender
    const pool = needNonce ? senders.filter((s) => s.nonce > 0n) : senders
    if (pool.length === 0) return undefined
    return rng.pick(pool)
  }

  /** The next valid line of a regular sender (a pending gap fill first). */
  const validFor = (s: Account): AdversarialLine | undefined => {
    if (s.gap !== undefined && s.nonce > s.gap.nonce) s.gap = undefined
    if (s.gap !== undefined && s.gap.fill && s.gap.nonce === s.nonce && s.gap.cost <= s.balance) {
      const gap = s.gap
      s.gap = undefined
      return include(s, gap.raw, gap.cost, 'gap-filled')
    }
    const plan = planAffordable(s)
    if (plan === undefined) return undefined
    lastSender = s
    return emitPlan(s, plan)
  }

  const validLine = (): AdversarialLine | undefined => {
    for (let tries = 0; tries < 8; tries++) {
      const s = pickSender()!
      const line = validFor(s)
      if (line !== undefined) {
        lastSender = s
        return line
      }
    }
    return undefined
  }

  /** A would-be-valid transaction of `s` (signed fields), to corrupt. */
  const basis = (s: Account): TxFields => planAffordable(s)?.fields ?? planCheap(s).fields

  const typedPrefix = (t: number, items: RlpItem[]): string => to0x(concatBytes(Uint8Array.of(t), RLP.encode(items as never)))

  const invalidLine = (kind: InvalidKind, i: number): AdversarialLine | undefined => {
    switch (kind) {
      case 'bad-signature': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        const sig = sign(f, s.key)
        const variant = rng.int(f.type === 0 ? 5 : 6)
        if (variant === 0) sig.r = 0n
        else if (variant === 1) sig.s = 0n
        else if (variant === 2) sig.r = SECP256K1_N + BigInt(rng.range(0, 1000))
        else if (variant === 3) sig.s = SECP256K1_N - sig.s // high s (EIP-2)
        else if (variant === 4) sig.s = SECP256K1_N + BigInt(rng.range(0, 1000))
        else sig.v = BigInt(rng.range(2, 40)) // yParity out of range
        lastSender = s
        return emitInvalid(to0x(encode(f, sig)), kind)
      }
      case 'wrong-sender': {
        // A signature with the wrong recovery bit: it recovers to a stranger without funds.
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        const sig = sign(f, s.key)
        if (f.type === 0) sig.v = sig.v % 2n === 0n ? sig.v - 1n : sig.v + 1n
        else sig.v = 1n - sig.v
        lastSender = s
        return emitInvalid(to0x(encode(f, sig)), kind)
      }
      case 'wrong-chain-id': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        f.chainId = rng.chance(0.5) ? chainId + 1n : 1n
        lastSender = s
        return emitInvalid(signEncode(f, s.key), kind)
      }
      case 'malformed-truncated': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const raw = fromHex(signEncode(basis(s), s.key))
        return emitInvalid(to0x(raw.subarray(0, rng.range(1, raw.length - 1))), kind)
      }
      case 'malformed-random': {
        let bytes = rng.bytes(rng.range(1, 200))
        if (bytes[0]! <= 0x7f && rng.chance(0.5)) bytes[0] = 0xc0 + rng.int(64)
        if (bytes[0]! >= 1 && bytes[0]! <= 4) bytes = concatBytes(Uint8Array.of(0xff), bytes)
        return emitInvalid(to0x(bytes), kind)
      }
      case 'malformed-typed-garbage': {
        const t = rng.chance(0.7) ? 2 : 1
        if (rng.chance(0.5)) return emitInvalid(to0x(concatBytes(Uint8Array.of(t), rng.bytes(rng.range(0, 120)))), kind)
        // A well-formed RLP list with the wrong number of fields.
        return emitInvalid(typedPrefix(t, [big(chainId), big(0n), big(GWEI), big(21_000n), rng.bytes(20)]), kind)
      }
      case 'unsupported-type-3':
        return emitInvalid(typedPrefix(3, [big(chainId), big(0n), rng.bytes(rng.range(1, 40)), [EMPTY]]), kind)
      case 'unsupported-type-4': {
        // A well-formed, signed EIP-7702 shape: not active on Cancun.
        const s = pickSender(true)
        if (s === undefined) return undefined
        const items: RlpItem[] = [big(chainId), big(s.nonce), big(GWEI), big(3n * GWEI), big(60_000n), fromHex(C.counter), EMPTY, EMPTY, [], [[big(chainId), fromHex(C.token), big(0n), big(0n), rng.bytes(32), rng.bytes(32)]]]
        const hash = keccak256(concatBytes(Uint8Array.of(4), RLP.encode(items as never)))
        const out = ecsign()(hash, s.key)
        items.push(big(BigInt(out[0]!)), big(bytesToBigint(out.subarray(1, 33))), big(bytesToBigint(out.subarray(33, 65))))
        return emitInvalid(typedPrefix(4, items), kind)
      }
      case 'unsupported-type-7f':
        return emitInvalid(to0x(concatBytes(Uint8Array.of(0x7f), rng.bytes(rng.range(0, 80)))), kind)
      case 'not-hex':
        return emitInvalid(rng.pick(['0xzz', 'not hex at all', '0x', `0x${'gg'.repeat(rng.range(1, 40))}`, 'deadbeefzz', '0x02f8zz00']), kind)
      case 'odd-length-hex': {
        const s = pickSender(true)
        const raw = s === undefined ? to0x(rng.bytes(30)) : signEncode(basis(s), s.key)
        return emitInvalid(rng.chance(0.5) ? raw.slice(0, -1) : `${raw}0`, kind)
      }
      case 'intrinsic-gas-too-low': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        if (f.to === undefined || rng.chance(0.5)) {
          f.to = rng.pick(senders).address
          f.data = EMPTY
          f.accessList = []
          f.gasLimit = 20_000n
        } else {
          f.data = concatBytes(f.data, Uint8Array.of(1, 2, 3))
          f.gasLimit = 21_000n + accessListGas(f.accessList)
        }
        f.value = 0n
        lastSender = s
        return emitInvalid(signEncode(f, s.key), kind)
      }
      case 'gas-above-block-limit': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        f.gasLimit = blockGasLimit + 1n + BigInt(rng.int(1000))
        f.fee = 2n * GWEI
        f.tip = f.type === 2 ? GWEI : 0n
        f.value = 0n
        if (upfront(f) > s.balance) return undefined
        lastSender = s
        return emitInvalid(signEncode(f, s.key), kind)
      }
      case 'fee-cap-below-base-fee': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        f.type = 2
        f.fee = 1n
        f.tip = rng.chance(0.5) ? 1n : 0n
        lastSender = s
        return emitInvalid(signEncode(f, s.key), kind)
      }
      case 'gas-price-below-base-fee': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        f.type = rng.chance(0.6) ? 0 : 1
        if (f.type === 0) f.accessList = []
        f.fee = 1n
        f.tip = 0n
        lastSender = s
        return emitInvalid(signEncode(f, s.key), kind)
      }
      case 'tip-above-fee-cap': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        f.type = 2
        f.fee = 3n * GWEI
        f.tip = f.fee + BigInt(rng.range(1, 1000)) * GWEI
        lastSender = s
        return emitInvalid(signEncode(f, s.key), kind)
      }
      case 'nonce-max': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        f.nonce = 2n ** 64n - 1n
        lastSender = s
        return emitInvalid(signEncode(f, s.key), kind)
      }
      case 'replay': {
        if (included.length === 0) return undefined
        const raw = rng.chance(0.3) ? included[included.length - 1]! : rng.pick(included)
        return emitInvalid(raw, kind)
      }
      case 'replacement': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        f.nonce = rng.chance(0.6) ? s.nonce - 1n : BigInt(rng.int(Number(s.nonce)))
        f.fee += GWEI
        lastSender = s
        return emitInvalid(signEncode(f, s.key), kind)
      }
      case 'nonce-gap':
      case 'nonce-gap-never': {
        const candidates = senders.filter((a) => a.gap === undefined)
        if (candidates.length === 0) return undefined
        const s = rng.pick(candidates)
        const f = planCheap(s).fields
        f.nonce = s.nonce + 2n
        f.value = BigInt(rng.range(1, 1000)) * GWEI
        const raw = signEncode(f, s.key)
        s.gap = { nonce: f.nonce, raw, cost: upfront(f), fill: kind === 'nonce-gap' }
        lastSender = s
        return emitInvalid(raw, kind)
      }
      case 'insufficient-funds': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const f = basis(s)
        if (rng.chance(0.5)) f.value = 100n * ETH + BigInt(rng.int(1000))
        else {
          // The fee alone exceeds the balance.
          f.fee = 10n ** 15n
          f.tip = f.type === 2 ? GWEI : 0n
          f.gasLimit = f.gasLimit < 100_000n ? 100_000n : f.gasLimit
        }
        lastSender = s
        return emitInvalid(signEncode(f, s.key), kind)
      }
      case 'underfunded-nonce0': {
        // Its nonce-0 transaction costs more than it has; then nonce 0 again, validly, then 1, 2, 3.
        const u = account(`underfunded-${specialCount++}`, UNDERFUNDED_BALANCE, false, true)
        const f = planCheap(u).fields
        f.value = UNDERFUNDED_BALANCE * 5n
        const line = emitInvalid(signEncode(f, u.key), kind)
        const steps: Step[] = []
        for (let n = 0; n < 4; n++) {
          steps.push({
            notBefore: 0,
            run: () => {
              const plan = planAffordable(u)
              return plan === undefined ? undefined : emitPlan(u, plan, n === 0 ? 'underfunded-retry' : 'underfunded-next')
            },
          })
        }
        queueScript(i, steps)
        return line
      }
      case 'unfunded-until-funded': {
        // An account with nothing sends; another sender funds it; the same line again is valid.
        const fAcct = account(`unfunded-${specialCount++}`, 0n, false, false)
        const f = planCheap(fAcct).fields
        f.fee = 3n * GWEI
        f.tip = f.type === 2 ? GWEI : 0n
        f.value = BigInt(rng.range(1, 1_000_000)) * GWEI
        const raw = signEncode(f, fAcct.key)
        const cost = upfront(f)
        const line = emitInvalid(raw, kind)
        queueScript(i, [
          {
            notBefore: 0,
            run: () => {
              const funders = senders.filter((s) => s.gap === undefined && s.balance >= FUNDING + ETH / 10n)
              if (funders.length === 0) return undefined
              const s = rng.pick(funders)
              const ff = fields(s, fAcct.address, FUNDING, EMPTY, 0n)
              lastSender = s
              const out = emitPlan(s, { fields: ff, kind: 'fund', credit: { to: fAcct, value: FUNDING } })
              return out
            },
          },
          { notBefore: 0, run: () => include(fAcct, raw, cost, 'funded-retry') },
          {
            notBefore: 0,
            run: () => {
              const plan = planAffordable(fAcct)
              return plan === undefined ? undefined : emitPlan(fAcct, plan, 'funded-next')
            },
          },
        ])
        return line
      }
      case 'sender-has-code': {
        const f = basis(codeSender)
        return emitInvalid(signEncode(f, codeSender.key), kind)
      }
      case 'initcode-too-large':
      case 'oversize': {
        const s = pickSender(true)
        if (s === undefined) return undefined
        const size = kind === 'oversize' ? 150_000 + rng.int(4000) : MAX_INITCODE + 1 + rng.int(4000)
        const data = new Uint8Array(size)
        data.set(DEPLOY_INITCODE, 0)
        for (let k = DEPLOY_INITCODE.length; k < size; k += 97) data[k] = 0xaa
        const f = fields(s, undefined, 0n, data, 100_000n)
        f.fee = 2n * GWEI
        f.tip = f.type === 2 ? GWEI : 0n
        if (upfront(f) > s.balance) return undefined
        lastSender = s
        return emitInvalid(signEncode(f, s.key), kind)
      }
    }
  }

  function queueScript(i: number, steps: Step[]): void {
    if (steps.length === 0) return
    steps[0]!.notBefore = i + 1 + rng.int(4)
    scripts.push({ steps })
  }

  /** Runs the next step of a ready script; the step after it becomes ready a few lines later. */
  const scriptLine = (i: number): AdversarialLine | undefined => {
    for (const script of scripts) {
      const step = script.steps[0]
      if (step === undefined || step.notBefore > i) continue
      const line = step.run()
      if (line === undefined) continue
      script.steps.shift()
      if (script.steps.length > 0) script.steps[0]!.notBefore = i + 1 + rng.int(6)
      return line
    }
    return undefined
  }

  // --- the invalid classes: each once (shuffled), then drawn by weight ------------------------

  const weights: Record<InvalidKind, number> = {
    'bad-signature': 4,
    'wrong-sender': 1,
    'wrong-chain-id': 3,
    'malformed-truncated': 2,
    'malformed-random': 2,
    'malformed-typed-garbage': 2,
    'unsupported-type-3': 1,
    'unsupported-type-4': 1,
    'unsupported-type-7f': 1,
    'not-hex': 1,
    'odd-length-hex': 1,
    'intrinsic-gas-too-low': 2,
    'gas-above-block-limit': 2,
    'fee-cap-below-base-fee': 2,
    'gas-price-below-base-fee': 2,
    'tip-above-fee-cap': 2,
    'nonce-max': 1,
    replay: 5,
    replacement: 4,
    'nonce-gap': 4,
    'nonce-gap-never': 2,
    'insufficient-funds': 3,
    'underfunded-nonce0': 1,
    'unfunded-until-funded': 1,
    'sender-has-code': 1,
    'initcode-too-large': 1,
    oversize: 0,
  }
  const deck: InvalidKind[] = rng.shuffle([...INVALID_KINDS])
  const weightedKinds = INVALID_KINDS.map((k) => [k, weights[k]] as const).filter(([, w]) => w > 0)
  const nextInvalidKind = (): InvalidKind => deck.shift() ?? rng.weighted(weightedKinds)

  // --- the lines -------------------------------------------------------------------------------

  // The first lines are valid: every class of invalid line sits between valid ones.
  const warmup = Math.min(senderCount, Math.floor(lineCount / 10))
  for (let i = 0; i < lineCount; i++) {
    const wantInvalid = i >= warmup && rng.next() < invalidShare
    if (!wantInvalid) {
      const scripted = rng.chance(0.6) ? scriptLine(i) : undefined
      if (scripted !== undefined) continue
      if (validLine() !== undefined) continue
    }
    let done = false
    const deferred: InvalidKind[] = []
    for (let tries = 0; tries < 6 && !done; tries++) {
      const kind = nextInvalidKind()
      if (invalidLine(kind, i) !== undefined) done = true
      else deferred.push(kind)
    }
    deck.unshift(...deferred)
    if (!done && validLine() === undefined) emitInvalid('0xzz', 'not-hex')
  }

  const genesisFile = parseGenesis({
    config: { chainId: Number(chainId), hardfork: 'cancun' },
    alloc,
    gasLimit: bigintToHex(blockGasLimit),
    baseFeePerGas: bigintToHex(GWEI),
    coinbase: ADVERSARIAL_COINBASE,
    timestamp: bigintToHex(ADVERSARIAL_TIMESTAMP),
    difficulty: '0x0',
    mixHash: to0x(keccak256(new TextEncoder().encode(`parevm-adversarial:${seed}:mixHash`))),
    extraData: '0x',
  })
  return { genesisFile, lines, chainId }
}

/** Lines by kind, most frequent first: "transfer=120 call-token=40 ...". */
export function summarizeKinds(lines: readonly AdversarialLine[]): string {
  const counts = new Map<string, number>()
  for (const l of lines) counts.set(l.kind, (counts.get(l.kind) ?? 0) + 1)
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k}=${n}`)
    .join(' ')
}
