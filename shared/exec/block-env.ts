/**
 * The header fields a block executes under, in a JSON-friendly form (0x-hex strings) so the
 * same object travels in queue messages, the store and worker threads.
 */
import { z } from 'zod'

const hex = z.string().regex(/^0x[0-9a-fA-F]*$/, 'expected 0x-prefixed hex')
const quantity = z.string().regex(/^0x[0-9a-fA-F]+$/, 'expected a 0x-prefixed hex quantity')
const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'expected 32 bytes of 0x-prefixed hex')
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'expected a 0x-prefixed 20-byte address')

export const withdrawalSchema = z.object({
  index: quantity,
  validatorIndex: quantity,
  address,
  /** In gwei, as in the consensus layer. */
  amount: quantity,
})
export type WithdrawalData = z.infer<typeof withdrawalSchema>

/** How the chain's rules are chosen: a fixed hardfork with its own chain id, or mainnet's schedule. */
export const chainSpecSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('custom'), chainId: quantity, hardfork: z.string() }),
  z.object({ kind: z.literal('mainnet') }),
])
export type ChainSpec = z.infer<typeof chainSpecSchema>

export const blockEnvSchema = z.object({
  number: quantity,
  parentHash: bytes32,
  timestamp: quantity,
  coinbase: address,
  gasLimit: quantity,
  difficulty: quantity,
  /** prevRandao after the Merge. */
  mixHash: bytes32,
  nonce: z.string().regex(/^0x[0-9a-fA-F]{16}$/).optional(),
  extraData: hex,
  baseFeePerGas: quantity.optional(),
  excessBlobGas: quantity.optional(),
  parentBeaconBlockRoot: bytes32.optional(),
  withdrawals: z.array(withdrawalSchema).optional(),
  /** Number of ommers and their (coinbase, number), for pre-Merge rewards where known. */
  uncles: z.array(z.object({ coinbase: address, number: quantity })).optional(),
})
export type BlockEnv = z.infer<typeof blockEnvSchema>

type Hex = `0x${string}`

/** Header fields for `@ethereumjs/block` from a BlockEnv (execution fields only). */
export function headerDataFromEnv(env: BlockEnv): Record<string, Hex> {
  const data: Record<string, Hex> = {
    number: env.number as Hex,
    parentHash: env.parentHash as Hex,
    timestamp: env.timestamp as Hex,
    coinbase: env.coinbase as Hex,
    gasLimit: env.gasLimit as Hex,
    difficulty: env.difficulty as Hex,
    mixHash: env.mixHash as Hex,
    extraData: env.extraData as Hex,
  }
  if (env.nonce !== undefined) data.nonce = env.nonce as Hex
  if (env.baseFeePerGas !== undefined) data.baseFeePerGas = env.baseFeePerGas as Hex
  if (env.excessBlobGas !== undefined) data.excessBlobGas = env.excessBlobGas as Hex
  if (env.parentBeaconBlockRoot !== undefined) data.parentBeaconBlockRoot = env.parentBeaconBlockRoot as Hex
  return data
}
