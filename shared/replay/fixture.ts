/**
 * Replay fixtures: one real mainnet block per folder (`block.json.gz` as eth_getBlockByNumber
 * returns it with full transactions, `pre_state.json.gz` with every account the block touches,
 * `block_hashes.json.gz` for BLOCKHASH where the block uses it).
 *
 * What the pre-state means, decided from the data (every one of the 47 fixtures):
 * - an account absent from `pre_state` does not exist before the block (no fixture lists an
 *   empty account, so a new recipient or a created contract is simply absent);
 * - the storage map of an account lists every slot the block reads, zero-valued ones included
 *   (about a quarter of all listed slots are 0x0). A slot of an account *with code* that is not
 *   listed is therefore not supplied: reading it is a `MissingStateError`, never a silent zero;
 * - accounts without code never list storage (their storage is empty), and an absent account
 *   has none, so their slots are supplied as zero;
 * - `code.bytecode` is zero-padded: the code is its first `original_len` bytes (its keccak then
 *   equals `code_hash`, which is checked here).
 */
import { existsSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { gunzipSync } from 'node:zlib'

import { createTxFromRPC, type TypedTransaction } from '@ethereumjs/tx'
import { Account, KECCAK256_NULL } from '@ethereumjs/util'
import { z } from 'zod'

import { keccak256 } from '../crypto/keccak.ts'
import { publicKeyToAddress } from '../crypto/secp256k1.ts'
import { ConfigError } from '../errors.ts'
import { commonFor, sharedTxCommon } from '../exec/common-for.ts'
import { bytesEqual, fromHex, to0x, toHex } from '../hex.ts'
import { ACCOUNT_KEY_LENGTH, storageKey, type AddressHex, type StateKey } from '../state/keys.ts'
import { normalizeStorageValue } from '../state/values.ts'
import { EMPTY_TRIE_ROOT } from '../trie/mpt.ts'
import { WorldStateTrie } from '../trie/world-state.ts'

import type { BlockEnv, ChainSpec } from '../exec/block-env.ts'
import type { DecodedTx } from '../intake/decode.ts'

export const MAINNET: ChainSpec = { kind: 'mainnet' }

const quantity = z.string().regex(/^0x[0-9a-fA-F]+$/, 'expected a 0x-prefixed hex quantity')
const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'expected 32 bytes of 0x-prefixed hex')
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'expected a 0x-prefixed address')
const hex = z.string().regex(/^0x[0-9a-fA-F]*$/, 'expected 0x-prefixed hex')

const rpcTxSchema = z
  .object({
    hash: bytes32,
    from: address,
    type: quantity.optional(),
    nonce: quantity,
  })
  .passthrough()

export const rpcBlockSchema = z
  .object({
    number: quantity,
    hash: bytes32,
    parentHash: bytes32,
    miner: address,
    timestamp: quantity,
    gasLimit: quantity,
    gasUsed: quantity,
    difficulty: quantity,
    mixHash: bytes32,
    nonce: z.string().regex(/^0x[0-9a-fA-F]{16}$/),
    extraData: hex,
    receiptsRoot: bytes32,
    logsBloom: z.string().regex(/^0x[0-9a-fA-F]{512}$/, 'expected a 256-byte bloom'),
    baseFeePerGas: quantity.optional(),
    excessBlobGas: quantity.optional(),
    blobGasUsed: quantity.optional(),
    parentBeaconBlockRoot: bytes32.optional(),
    withdrawals: z.array(z.object({ index: quantity, validatorIndex: quantity, address, amount: quantity })).optional(),
    uncles: z.array(bytes32),
    transactions: z.array(rpcTxSchema),
  })
  .passthrough()
export type RpcBlock = z.infer<typeof rpcBlockSchema>

const preStateSchema = z.record(
  address,
  z.object({
    basic: z.object({ balance: quantity, nonce: z.union([z.number().int().nonnegative(), quantity]) }),
    code: z.object({ bytecode: hex, original_len: z.number().int().nonnegative() }).passthrough().nullable(),
    code_hash: bytes32.nullable(),
    storage: z.record(quantity, quantity),
  }),
)

const blockHashesSchema = z.record(z.string().regex(/^[0-9]+$/), bytes32)

/** The pre-state as flat state, and what it supplies. */
export interface PreState {
  /** Accounts (with their storage root over the supplied slots) and non-zero slots. */
  entries: Map<StateKey, Uint8Array>
  /** Code by hash (hex without 0x). */
  codes: Map<string, Uint8Array>
  /** Accounts that have code: their unlisted slots are not supplied. */
  accountsWithCode: Set<AddressHex>
  /** Every listed slot of those accounts, zero-valued ones included. */
  suppliedSlots: Set<StateKey>
  accounts: number
  slots: number
}

export interface ReplayFixture {
  /** The folder it was read from. */
  dir: string
  number: bigint
  block: RpcBlock
  hardfork: string
  env: BlockEnv
  /** The block's transactions in its order, in canonical serialized form with their senders. */
  txs: DecodedTx[]
  preState: PreState
  /** number → 0x-hash of earlier blocks for BLOCKHASH (the parent included). */
  blockHashes: Record<string, string>
  expected: { receiptsRoot: string; gasUsed: bigint; logsBloom: string }
}

function readGzJson(path: string, what: string): unknown {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (error) {
    throw new ConfigError(`cannot read the ${what} ${path}: ${(error as Error).message}`, {
      hint: 'a replay folder holds block.json.gz and pre_state.json.gz (and block_hashes.json.gz where BLOCKHASH is used)',
    })
  }
  try {
    return JSON.parse(gunzipSync(bytes).toString('utf8'))
  } catch (error) {
    throw new ConfigError(`the ${what} ${path} is not gzip-compressed JSON: ${(error as Error).message}`)
  }
}

function parse<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input)
  if (!result.success) {
    const issue = result.error.issues[0]!
    throw new ConfigError(`invalid ${what} at ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  return result.data
}

const slotHex = (q: string): string => q.slice(2).toLowerCase().padStart(64, '0')
const valueBytes = (q: string): Uint8Array => fromHex(q.slice(2).padStart(64, '0'))

export function buildPreState(input: unknown, where = 'pre_state'): PreState {
  const raw = parse(preStateSchema, input, where)
  const entries = new Map<StateKey, Uint8Array>()
  const codes = new Map<string, Uint8Array>()
  const accountsWithCode = new Set<AddressHex>()
  const suppliedSlots = new Set<StateKey>()
  const writes: [StateKey, Uint8Array | null][] = []
  let slots = 0
  for (const [rawAddress, account] of Object.entries(raw)) {
    const a = rawAddress.slice(2).toLowerCase()
    let codeHash = KECCAK256_NULL
    if (account.code !== null) {
      const padded = fromHex(account.code.bytecode)
      if (account.code.original_len > padded.length) {
        throw new ConfigError(`${where}: code of ${rawAddress} is shorter than its original_len ${account.code.original_len}`)
      }
      const code = padded.slice(0, account.code.original_len)
      codeHash = keccak256(code)
      if (account.code_hash !== null && to0x(codeHash) !== account.code_hash.toLowerCase()) {
        throw new ConfigError(`${where}: code of ${rawAddress} does not hash to its code_hash ${account.code_hash}`)
      }
      if (code.length > 0) {
        codes.set(toHex(codeHash), code)
        accountsWithCode.add(a)
      } else codeHash = KECCAK256_NULL
    } else if (account.code_hash !== null && !bytesEqual(fromHex(account.code_hash), KECCAK256_NULL)) {
      throw new ConfigError(`${where}: ${rawAddress} has code_hash ${account.code_hash} but no code`)
    }
    for (const [slot, value] of Object.entries(account.storage)) {
      const key = storageKey(a, slotHex(slot))
      suppliedSlots.add(key)
      slots++
      const normalized = normalizeStorageValue(valueBytes(value))
      if (normalized === null) continue
      entries.set(key, normalized)
      writes.push([key, normalized])
    }
    const value = new Account(BigInt(account.basic.nonce), BigInt(account.basic.balance), EMPTY_TRIE_ROOT, codeHash).serialize()
    entries.set(a, value)
    writes.push([a, value])
  }
  // Account values carry a storage root (EIP-7610 looks at it): the root of the supplied slots.
  const trie = new WorldStateTrie()
  trie.apply(writes)
  for (const key of entries.keys()) {
    if (key.length !== ACCOUNT_KEY_LENGTH) continue
    entries.set(key, trie.account(key)!.serialize())
  }
  return { entries, codes, accountsWithCode, suppliedSlots, accounts: Object.keys(raw).length, slots }
}

/** A trie over the pre-state, for the coordinator (its root is not mainnet's: the state is partial). */
export function preStateTrie(preState: PreState): WorldStateTrie {
  const trie = new WorldStateTrie()
  trie.apply(preState.entries)
  return trie
}

export function envFromBlock(block: RpcBlock): BlockEnv {
  const env: BlockEnv = {
    number: block.number,
    parentHash: block.parentHash.toLowerCase(),
    timestamp: block.timestamp,
    coinbase: block.miner.toLowerCase(),
    gasLimit: block.gasLimit,
    difficulty: block.difficulty,
    mixHash: block.mixHash.toLowerCase(),
    nonce: block.nonce,
    extraData: block.extraData,
  }
  if (block.baseFeePerGas !== undefined) env.baseFeePerGas = block.baseFeePerGas
  if (block.excessBlobGas !== undefined) env.excessBlobGas = block.excessBlobGas
  if (block.parentBeaconBlockRoot !== undefined) env.parentBeaconBlockRoot = block.parentBeaconBlockRoot.toLowerCase()
  if (block.withdrawals !== undefined) env.withdrawals = block.withdrawals.map((w) => ({ ...w, address: w.address.toLowerCase() }))
  // Ommers: the JSON has their hashes only, not their beneficiaries and numbers, so their
  // rewards (state only, never a receipt) cannot be paid. See docs/replay.md.
  return env
}

/**
 * The block's transactions in its order, each in canonical serialized form (legacy RLP or the
 * typed envelope; blob transactions without sidecars, as blocks carry them) with its sender
 * recovered. The serialized hash must equal the JSON's `hash` and the sender its `from`.
 */
export async function decodeBlockTransactions(block: RpcBlock, where = 'block'): Promise<DecodedTx[]> {
  // Shared: a Common copied and its parameters merged again in every transaction's constructor
  // cost more than the rest of building it.
  const common = sharedTxCommon(commonFor(MAINNET, BigInt(block.number), BigInt(block.timestamp)))
  const out: DecodedTx[] = []
  for (let i = 0; i < block.transactions.length; i++) {
    const json = block.transactions[i]!
    let tx: TypedTransaction
    try {
      tx = (await createTxFromRPC(json as never, { common })) as TypedTransaction
    } catch (error) {
      throw new ConfigError(`${where}: transaction ${i} (${json.hash}) cannot be built: ${(error as Error).message}`)
    }
    const raw = tx.serialize()
    const hash = keccak256(raw)
    if (to0x(hash) !== json.hash.toLowerCase()) {
      throw new ConfigError(`${where}: transaction ${i} serializes to hash ${to0x(hash)}, not ${json.hash}`, {
        hint: 'the JSON fields do not describe the signed transaction (a missing or renamed field?)',
      })
    }
    const senderPubKey = tx.getSenderPublicKey()
    const sender = publicKeyToAddress(senderPubKey)
    if (to0x(sender) !== json.from.toLowerCase()) {
      throw new ConfigError(`${where}: transaction ${i} recovers sender ${to0x(sender)}, not ${json.from}`)
    }
    out.push({ raw, tx, hash, hashHex: to0x(hash), sender, senderHex: toHex(sender), senderPubKey })
  }
  return out
}

/** Is this folder a replay fixture (has block.json.gz)? */
export function isFixtureDir(dir: string): boolean {
  return existsSync(join(dir, 'block.json.gz'))
}

export async function loadFixture(dir: string): Promise<ReplayFixture> {
  const hashesPath = join(dir, 'block_hashes.json.gz')
  return fixtureFromJson(
    {
      block: readGzJson(join(dir, 'block.json.gz'), 'block file'),
      preState: readGzJson(join(dir, 'pre_state.json.gz'), 'pre-state file'),
      ...(existsSync(hashesPath) ? { blockHashes: readGzJson(hashesPath, 'block hashes file') } : {}),
    },
    dir,
  )
}

/** A fixture from its three JSON documents (as the files hold them); `dir` names it in errors. */
export async function fixtureFromJson(input: { block: unknown; preState: unknown; blockHashes?: unknown }, dir: string): Promise<ReplayFixture> {
  const name = basename(dir)
  const block = parse(rpcBlockSchema, input.block, `${name}/block.json.gz`)
  const preState = buildPreState(input.preState, `${name}/pre_state.json.gz`)
  const blockHashes: Record<string, string> = input.blockHashes === undefined ? {} : parse(blockHashesSchema, input.blockHashes, `${name}/block_hashes.json.gz`)
  const number = BigInt(block.number)
  if (/^[0-9]+$/.test(name) && BigInt(name) !== number) {
    throw new ConfigError(`folder ${dir} holds block ${number}, not ${name}`)
  }
  const parentKey = (number - 1n).toString()
  if (blockHashes[parentKey] !== undefined && blockHashes[parentKey]!.toLowerCase() !== block.parentHash.toLowerCase()) {
    throw new ConfigError(`${name}/block_hashes.json.gz gives block ${parentKey} a hash other than the block's parentHash`)
  }
  const hashes: Record<string, string> = {}
  for (const [n, h] of Object.entries(blockHashes)) hashes[n] = h.toLowerCase()
  hashes[parentKey] = block.parentHash.toLowerCase()
  const common = commonFor(MAINNET, number, BigInt(block.timestamp))
  return {
    dir,
    number,
    block,
    hardfork: common.hardfork(),
    env: envFromBlock(block),
    txs: await decodeBlockTransactions(block, name),
    preState,
    blockHashes: hashes,
    expected: { receiptsRoot: block.receiptsRoot.toLowerCase(), gasUsed: BigInt(block.gasUsed), logsBloom: block.logsBloom.toLowerCase() },
  }
}
