/** Small chains for tests: keys, a funded genesis, signing, an inline embedded cluster. */
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx'

import { createChainCommon, type SupportedHardfork } from '../../shared/chain/common.ts'
import { buildGenesis, parseGenesis, type GenesisFile, type GenesisState } from '../../shared/chain/genesis.ts'
import { EmbeddedCluster, type BlockEvent, type ClusterOptions, type RunSummary } from '../../shared/cluster/embedded.ts'
import { privateKeyToAddress } from '../../shared/crypto/secp256k1.ts'
import { bigintToHex, to0x } from '../../shared/hex.ts'

export const CHAIN_ID = 7777n
export const COINBASE = `0x${'c0'.repeat(20)}`
export const GWEI = 10n ** 9n
export const ETH = 10n ** 18n

export function key(i: number): Uint8Array {
  const k = new Uint8Array(32)
  k[30] = (i >> 8) & 0xff
  k[31] = (i & 0xff) + 1
  return k
}

export function addressOf(i: number): string {
  return to0x(privateKeyToAddress(key(i)))
}

export interface TestChainOptions {
  accounts?: number
  balance?: bigint
  hardfork?: SupportedHardfork
  extraAlloc?: GenesisFile['alloc']
  gasLimit?: bigint
}

export function testGenesisFile(o: TestChainOptions = {}): GenesisFile {
  const alloc: GenesisFile['alloc'] = {}
  for (let i = 0; i < (o.accounts ?? 10); i++) alloc[addressOf(i)] = { balance: bigintToHex(o.balance ?? 1000n * ETH) }
  Object.assign(alloc, o.extraAlloc ?? {})
  return parseGenesis({
    config: { chainId: Number(CHAIN_ID), hardfork: o.hardfork ?? 'cancun' },
    alloc,
    gasLimit: bigintToHex(o.gasLimit ?? 100_000_000n),
    baseFeePerGas: bigintToHex(GWEI),
    coinbase: COINBASE,
    timestamp: '0x6553f100',
  })
}

export function testGenesis(o: TestChainOptions = {}): GenesisState {
  return buildGenesis(testGenesisFile(o))
}

export interface TxSpec {
  from: number
  nonce: number | bigint
  to?: string
  value?: bigint
  data?: string
  gasLimit?: bigint
  maxFeePerGas?: bigint
  priorityFee?: bigint
  type?: 0 | 1 | 2
  chainId?: bigint
  hardfork?: SupportedHardfork
}

export function signTx(spec: TxSpec): string {
  const common = createChainCommon(spec.chainId ?? CHAIN_ID, spec.hardfork ?? 'cancun')
  const base = {
    nonce: BigInt(spec.nonce),
    gasLimit: spec.gasLimit ?? 21_000n,
    ...(spec.to !== undefined ? { to: spec.to as `0x${string}` } : {}),
    value: spec.value ?? 0n,
    data: (spec.data ?? '0x') as `0x${string}`,
  }
  const maxFee = spec.maxFeePerGas ?? 100n * GWEI
  const type = spec.type ?? 2
  const tx =
    type === 0
      ? createLegacyTx({ ...base, gasPrice: maxFee }, { common })
      : type === 1
        ? createAccessList2930Tx({ ...base, chainId: spec.chainId ?? CHAIN_ID, gasPrice: maxFee, accessList: [] }, { common })
        : createFeeMarket1559Tx({ ...base, chainId: spec.chainId ?? CHAIN_ID, maxFeePerGas: maxFee, maxPriorityFeePerGas: spec.priorityFee ?? GWEI }, { common })
  return to0x(tx.sign(key(spec.from)).serialize())
}

export interface RunResult {
  summary: RunSummary
  events: BlockEvent[]
  cluster: EmbeddedCluster
}

/** Run raw transactions through an inline cluster (verification on) and stop it. */
export async function runInline(
  genesis: GenesisState,
  rawTxs: readonly string[],
  options: Partial<Omit<ClusterOptions, 'genesis'>> & {
    perMessage?: number
    beforeRun?: (c: EmbeddedCluster) => Promise<void>
    /** Called after the run, before the cluster stops. */
    onStop?: (c: EmbeddedCluster) => void
  } = {},
): Promise<RunResult> {
  const { perMessage, beforeRun, onStop, ...rest } = options
  const cluster = await EmbeddedCluster.start({ genesis, workers: 2, threads: false, blockSize: 50, verify: true, visibilityTimeoutMs: 2_000, ...rest })
  const events: BlockEvent[] = []
  try {
    await cluster.submit(rawTxs, perMessage ?? 1)
    await beforeRun?.(cluster)
    const summary = await cluster.runUntilIdle((e) => {
      events.push(e)
    })
    onStop?.(cluster)
    return { summary, events, cluster }
  } finally {
    await cluster.stop()
  }
}
