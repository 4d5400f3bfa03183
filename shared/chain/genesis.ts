/**
 * Geth-style genesis files: `config` (chain id, fork activation), `alloc`, header defaults.
 * parevm runs a chain on one hardfork: the latest one active at genesis. A fork scheduled for a
 * later block or time is refused with a clear error rather than silently ignored.
 */
import { createBlockHeader } from '@ethereumjs/block'
import { Account, KECCAK256_NULL } from '@ethereumjs/util'
import { z } from 'zod'

import { keccak256 } from '../crypto/keccak.ts'
import { ConfigError } from '../errors.ts'
import { bigintToHex, fromHex, to0x, toHex } from '../hex.ts'
import { makeVersion, POSITION_BLOCK_END, storageKey, type StateKey } from '../state/keys.ts'
import { normalizeStorageValue } from '../state/values.ts'
import { EMPTY_TRIE_ROOT } from '../trie/mpt.ts'
import { WorldStateTrie } from '../trie/world-state.ts'
import { createChainCommon, SUPPORTED_HARDFORKS, type SupportedHardfork } from './common.ts'

import type { ChainSpec } from '../exec/block-env.ts'

export const GENESIS_VERSION = makeVersion(0, POSITION_BLOCK_END)

const hexOrNumber = z.union([z.string().regex(/^(0x[0-9a-fA-F]+|[0-9]+)$/), z.number().int().nonnegative()])
const toBig = (v: string | number): bigint => BigInt(v)

export const genesisSchema = z.object({
  config: z
    .object({
      chainId: z.number().int().positive(),
      /** parevm shortcut: name the hardfork directly instead of activation fields. */
      hardfork: z.enum(SUPPORTED_HARDFORKS).optional(),
    })
    .passthrough(),
  alloc: z.record(
    z.string().regex(/^(0x)?[0-9a-fA-F]{40}$/, 'alloc keys are 20-byte addresses'),
    z.object({
      balance: hexOrNumber,
      nonce: hexOrNumber.optional(),
      code: z.string().regex(/^0x[0-9a-fA-F]*$/).optional(),
      storage: z.record(z.string().regex(/^0x[0-9a-fA-F]{1,64}$/), z.string().regex(/^0x[0-9a-fA-F]{1,64}$/)).optional(),
    }),
  ),
  gasLimit: hexOrNumber,
  baseFeePerGas: hexOrNumber.optional(),
  coinbase: z.string().regex(/^0x[0-9a-fA-F]{40}$/).optional(),
  timestamp: hexOrNumber.optional(),
  extraData: z.string().regex(/^0x[0-9a-fA-F]*$/).optional(),
  difficulty: hexOrNumber.optional(),
  mixHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/).optional(),
})
export type GenesisFile = z.infer<typeof genesisSchema>

/** geth activation field for each hardfork (block-based before the Merge, time-based after). */
const ACTIVATION: [SupportedHardfork, string][] = [
  ['byzantium', 'byzantiumBlock'],
  ['constantinople', 'constantinopleBlock'],
  ['petersburg', 'petersburgBlock'],
  ['istanbul', 'istanbulBlock'],
  ['muirGlacier', 'muirGlacierBlock'],
  ['berlin', 'berlinBlock'],
  ['london', 'londonBlock'],
  ['arrowGlacier', 'arrowGlacierBlock'],
  ['grayGlacier', 'grayGlacierBlock'],
  ['paris', 'mergeNetsplitBlock'],
  ['shanghai', 'shanghaiTime'],
  ['cancun', 'cancunTime'],
  ['prague', 'pragueTime'],
]

export function hardforkOf(genesis: GenesisFile): SupportedHardfork {
  const config = genesis.config as Record<string, unknown>
  if (genesis.config.hardfork !== undefined) return genesis.config.hardfork
  let active: SupportedHardfork | undefined
  const timestamp = Number(toBig(genesis.timestamp ?? 0))
  for (const [fork, field] of ACTIVATION) {
    const at = config[field]
    if (at === undefined || at === null) continue
    if (typeof at !== 'number') throw new ConfigError(`genesis config.${field} must be a number`)
    const activeAtGenesis = field.endsWith('Time') ? at <= timestamp : at === 0
    if (!activeAtGenesis) {
      throw new ConfigError(`genesis schedules ${fork} at ${field}=${at}`, {
        hint: 'parevm runs a chain on one hardfork: activate every fork at genesis (0), or set config.hardfork',
      })
    }
    active = fork
  }
  if (config['terminalTotalDifficulty'] === 0 && active !== undefined && SUPPORTED_HARDFORKS.indexOf(active) < SUPPORTED_HARDFORKS.indexOf('paris')) {
    active = 'paris'
  }
  if (active === undefined) {
    throw new ConfigError('genesis config activates no supported hardfork', {
      hint: `add e.g. "cancunTime": 0 (and the earlier forks), or "hardfork": "cancun"; supported: ${SUPPORTED_HARDFORKS.join(', ')}`,
    })
  }
  return active
}

export interface GenesisState {
  /** The genesis file it was built from. */
  file: GenesisFile
  chain: ChainSpec
  chainId: bigint
  hardfork: SupportedHardfork
  /** Flat state entries (accounts with storageRoot set, storage slots). */
  entries: Map<StateKey, Uint8Array>
  codes: Map<string, Uint8Array>
  stateRoot: Uint8Array
  header: ReturnType<typeof createBlockHeader>
  hash: Uint8Array
  trie: WorldStateTrie
  coinbase: string
  gasLimit: bigint
}

export function parseGenesis(input: unknown): GenesisFile {
  const parsed = genesisSchema.safeParse(input)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new ConfigError(`invalid genesis file at ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  return parsed.data
}

export function buildGenesis(genesis: GenesisFile): GenesisState {
  const hardfork = hardforkOf(genesis)
  const chainId = BigInt(genesis.config.chainId)
  const common = createChainCommon(chainId, hardfork)
  const entries = new Map<StateKey, Uint8Array>()
  const codes = new Map<string, Uint8Array>()
  const writes: [StateKey, Uint8Array | null][] = []
  for (const [rawAddress, account] of Object.entries(genesis.alloc)) {
    const address = rawAddress.replace(/^0x/, '').toLowerCase()
    let codeHash = KECCAK256_NULL
    if (account.code !== undefined && account.code !== '0x') {
      const code = fromHex(account.code)
      codeHash = keccak256(code)
      codes.set(toHex(codeHash), code)
    }
    for (const [slot, value] of Object.entries(account.storage ?? {})) {
      const normalized = normalizeStorageValue(fromHex(value.replace(/^0x/, '').padStart(64, '0')))
      if (normalized === null) continue
      const key = storageKey(address, slot.replace(/^0x/, '').toLowerCase().padStart(64, '0'))
      entries.set(key, normalized)
      writes.push([key, normalized])
    }
    const value = new Account(toBig(account.nonce ?? 0), toBig(account.balance), EMPTY_TRIE_ROOT, codeHash).serialize()
    entries.set(address, value)
    writes.push([address, value])
  }
  const trie = new WorldStateTrie()
  const { root } = trie.apply(writes)
  // Flat account values carry their genesis storage root (EIP-7610 checks it).
  for (const key of [...entries.keys()]) {
    if (key.length !== 40) continue
    const live = trie.account(key)
    if (live !== undefined) entries.set(key, live.serialize())
  }
  const coinbase = genesis.coinbase ?? `0x${'00'.repeat(20)}`
  const gasLimit = toBig(genesis.gasLimit)
  const header = createBlockHeader(
    {
      number: 0n,
      gasLimit,
      timestamp: toBig(genesis.timestamp ?? 0),
      extraData: (genesis.extraData ?? '0x') as `0x${string}`,
      difficulty: toBig(genesis.difficulty ?? (common.gteHardfork('paris') ? 0 : 1)),
      mixHash: (genesis.mixHash ?? to0x(new Uint8Array(32))) as `0x${string}`,
      coinbase: coinbase as `0x${string}`,
      stateRoot: root,
      ...(common.isActivatedEIP(1559) ? { baseFeePerGas: toBig(genesis.baseFeePerGas ?? 1_000_000_000) } : {}),
      ...(common.isActivatedEIP(4895) ? { withdrawalsRoot: EMPTY_TRIE_ROOT } : {}),
      ...(common.isActivatedEIP(4844) ? { blobGasUsed: 0n, excessBlobGas: 0n, parentBeaconBlockRoot: new Uint8Array(32) } : {}),
    },
    { common, setHardfork: false },
  )
  return {
    file: genesis,
    chain: { kind: 'custom', chainId: bigintToHex(chainId), hardfork },
    chainId,
    hardfork,
    entries,
    codes,
    stateRoot: root,
    header,
    hash: header.hash(),
    trie,
    coinbase,
    gasLimit,
  }
}
