/**
 * viem and ethers v6 as real clients against `parevm node` (in-process, 127.0.0.1, a free
 * port): deploy and read code, send and wait, call and estimate, revert reasons, logs by
 * address and topic, events through filters, refused nonces and funds with the clients' own
 * error types, exact balances, pending nonces.
 */
import { ContractFactory, Contract, JsonRpcProvider, Wallet, id as ethersId, zeroPadValue, isError } from 'ethers'
import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  http,
  InsufficientFundsError,
  NonceTooLowError,
  parseAbiItem,
  parseEther,
  type Abi,
  type Chain,
  type Hex,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import artifacts from '../../shared/workload/contracts/artifacts.json' with { type: 'json' }
import { startNode, type RunningNode } from '../../functions/cli/node.ts'

const token = artifacts.contracts.Token as { abi: Abi; bytecode: Hex; deployedBytecode: Hex }
const transferEvent = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)')

let node: RunningNode
let chain: Chain

beforeAll(async () => {
  node = await startNode({ port: 0, host: '127.0.0.1', threads: false, workers: 2, verify: true })
  chain = defineChain({ id: Number(node.chainId), name: 'parevm dev', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [node.url] } } })
})

afterAll(async () => {
  await node?.stop()
})

function viemClients(keyIndex: number) {
  const account = privateKeyToAccount(node.accounts[keyIndex]!.privateKey as Hex)
  const transport = http(node.url)
  return {
    account,
    pub: createPublicClient({ chain, transport, pollingInterval: 50 }),
    wallet: createWalletClient({ account, chain, transport, pollingInterval: 50 }),
  }
}

function errorOf<T>(error: unknown, type: new (...args: never[]) => T): T | undefined {
  if (!(error instanceof BaseError)) return undefined
  return (error.walk((e) => e instanceof type) as T | null) ?? undefined
}

describe('viem', () => {
  it('deploys a contract, reads its code, calls, estimates, writes and finds its logs', async () => {
    const { account, pub, wallet } = viemClients(0)
    expect(await pub.getChainId()).toBe(31337)
    const deployHash = await wallet.deployContract({ abi: token.abi, bytecode: token.bytecode })
    const deployed = await pub.waitForTransactionReceipt({ hash: deployHash, pollingInterval: 50 })
    expect(deployed.status).toBe('success')
    const address = deployed.contractAddress!
    expect(address).toMatch(/^0x[0-9a-fA-F]{40}$/)
    expect((await pub.getCode({ address }))?.toLowerCase()).toBe(token.deployedBytecode.toLowerCase())

    expect(await pub.readContract({ address, abi: token.abi, functionName: 'totalSupply' })).toBe(0n)
    const recipient = node.accounts[5]!.address as Hex
    const gas = await pub.estimateContractGas({ address, abi: token.abi, functionName: 'transfer', args: [recipient, 0n], account })
    expect(gas).toBeGreaterThan(21_000n)

    // A reverted call's reason, decoded by viem.
    const revert = await pub.simulateContract({ address, abi: token.abi, functionName: 'transfer', args: [recipient, 1n], account }).catch((e: unknown) => e)
    const reverted = errorOf(revert, ContractFunctionRevertedError)
    expect(reverted?.reason).toBe('balance')
    const estimateRevert = await pub.estimateContractGas({ address, abi: token.abi, functionName: 'transfer', args: [recipient, 1n], account }).catch((e: unknown) => e)
    expect(errorOf(estimateRevert, ContractFunctionRevertedError)?.reason).toBe('balance')

    // Events through a filter installed before the transaction.
    const filter = await pub.createEventFilter({ address, event: transferEvent })
    const blockFilter = await pub.createBlockFilter()
    const hash = await wallet.writeContract({ address, abi: token.abi, functionName: 'transfer', args: [recipient, 0n] })
    const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 50 })
    expect(receipt.logs).toHaveLength(1)
    expect(receipt.logs[0]!.logIndex).toBe(0)
    expect(receipt.effectiveGasPrice).toBeGreaterThan(0n)
    const changes = await pub.getFilterChanges({ filter })
    expect(changes.map((l) => l.transactionHash)).toEqual([hash])
    expect(changes[0]!.args).toEqual({ from: account.address, to: getAddress(recipient), value: 0n })
    expect(await pub.getFilterChanges({ filter })).toEqual([])
    expect(await pub.getFilterChanges({ filter: blockFilter })).toContain(receipt.blockHash)
    expect(await pub.uninstallFilter({ filter })).toBe(true)

    // Logs by address and by indexed topic.
    const byAddress = await pub.getLogs({ address, fromBlock: 0n, toBlock: 'latest' })
    expect(byAddress.map((l) => l.transactionHash)).toEqual([hash])
    const byTopic = await pub.getLogs({ event: transferEvent, args: { to: recipient }, fromBlock: 0n })
    expect(byTopic.map((l) => l.transactionHash)).toEqual([hash])
    expect(await pub.getLogs({ event: transferEvent, args: { to: node.accounts[6]!.address as Hex }, fromBlock: 0n })).toEqual([])
    const block = await pub.getBlock({ blockHash: receipt.blockHash, includeTransactions: true })
    expect(block.transactions.map((t) => t.hash)).toContain(hash)
  })

  it('transfers ETH with exact balances, and refuses a stale nonce and an unfunded sender with viem error types', async () => {
    const { account, pub, wallet } = viemClients(1)
    const to = privateKeyToAccount(generatePrivateKey()).address
    const before = await pub.getBalance({ address: account.address })
    const hash = await wallet.sendTransaction({ to, value: parseEther('1.25') })
    const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 50 })
    expect(await pub.getBalance({ address: to })).toBe(parseEther('1.25'))
    expect(await pub.getBalance({ address: account.address })).toBe(before - parseEther('1.25') - receipt.gasUsed * receipt.effectiveGasPrice)
    const tx = await pub.getTransaction({ hash })
    expect(tx.from.toLowerCase()).toBe(account.address.toLowerCase())

    const stale = await wallet.sendTransaction({ to, value: 1n, nonce: 0 }).catch((e: unknown) => e)
    expect(errorOf(stale, NonceTooLowError)).toBeDefined()

    const poor = createWalletClient({ account: privateKeyToAccount(generatePrivateKey()), chain, transport: http(node.url) })
    const unfunded = await poor.sendTransaction({ to, value: 1n, gas: 21_000n }).catch((e: unknown) => e)
    expect(errorOf(unfunded, InsufficientFundsError)).toBeDefined()
  })
})

describe('ethers v6', () => {
  let provider: JsonRpcProvider
  beforeAll(() => {
    provider = new JsonRpcProvider(node.url, Number(node.chainId), { staticNetwork: true, pollingInterval: 50, cacheTimeout: -1 })
  })
  afterAll(() => provider?.destroy())

  it('deploys, reads code, calls, estimates, decodes a revert, finds logs and watches events', async () => {
    const wallet = new Wallet(node.accounts[2]!.privateKey, provider)
    const factory = new ContractFactory(token.abi as never, token.bytecode, wallet)
    const contract = (await factory.deploy()) as Contract
    await contract.waitForDeployment()
    const address = await contract.getAddress()
    expect((await provider.getCode(address)).toLowerCase()).toBe(token.deployedBytecode.toLowerCase())
    expect(await contract.getFunction('totalSupply').staticCall()).toBe(0n)
    const recipient = node.accounts[7]!.address
    expect(await contract.getFunction('transfer').estimateGas(recipient, 0n)).toBeGreaterThan(21_000n)

    const revert = await contract.getFunction('transfer').staticCall(recipient, 1n).catch((e: unknown) => e)
    expect(isError(revert, 'CALL_EXCEPTION')).toBe(true)
    expect((revert as { reason?: string }).reason).toBe('balance')

    // contract.on: eth_newFilter + eth_getFilterChanges.
    const seen = new Promise<string>((resolve) => {
      void contract.on('Transfer', (_from: string, to: string) => resolve(to))
    })
    await new Promise((r) => setTimeout(r, 300))
    const tx = await contract.getFunction('transfer')(recipient, 0n)
    const receipt = await tx.wait()
    expect(receipt!.status).toBe(1)
    expect((await seen).toLowerCase()).toBe(recipient.toLowerCase())
    await contract.removeAllListeners()

    const byTopic = await provider.getLogs({ fromBlock: 0, toBlock: 'latest', topics: [ethersId('Transfer(address,address,uint256)'), null, zeroPadValue(recipient, 32)] })
    expect(byTopic.map((l) => l.transactionHash)).toEqual([receipt!.hash])
    const byAddress = await provider.getLogs({ address, fromBlock: 0 })
    expect(byAddress).toHaveLength(1)
    const queried = await contract.queryFilter(contract.filters.Transfer!(null, recipient))
    expect(queried).toHaveLength(1)
  })

  it('sends ETH with exact balances and maps a stale nonce and an unfunded sender', async () => {
    const wallet = new Wallet(node.accounts[3]!.privateKey, provider)
    const to = Wallet.createRandom().address
    const before = await provider.getBalance(wallet.address)
    const tx = await wallet.sendTransaction({ to, value: 12345n })
    const receipt = (await tx.wait())!
    expect(await provider.getBalance(to)).toBe(12345n)
    expect(await provider.getBalance(wallet.address)).toBe(before - 12345n - receipt.gasUsed * receipt.gasPrice)
    expect((await provider.getTransactionReceipt(tx.hash))!.blockNumber).toBe(receipt.blockNumber)

    const stale = await wallet.sendTransaction({ to, value: 1n, nonce: 0 }).catch((e: unknown) => e)
    expect(isError(stale, 'NONCE_EXPIRED')).toBe(true)
    const poor = Wallet.createRandom().connect(provider)
    const unfunded = await poor.sendTransaction({ to, value: 1n, gasLimit: 21_000n }).catch((e: unknown) => e)
    expect(isError(unfunded, 'INSUFFICIENT_FUNDS')).toBe(true)
  })
})

describe('pending nonces', () => {
  it('counts accepted, unsealed transactions in the pending nonce until their block seals', async () => {
    const slow = await startNode({ port: 0, threads: false, workers: 1, verify: false, blockTimeSec: 2 })
    try {
      const account = privateKeyToAccount(slow.accounts[4]!.privateKey as Hex)
      const pub = createPublicClient({ chain: { ...chain, rpcUrls: { default: { http: [slow.url] } } }, transport: http(slow.url), pollingInterval: 50 })
      const wallet = createWalletClient({ account, chain, transport: http(slow.url) })
      // Seal one block first so that the next ones wait for --block-time.
      await pub.waitForTransactionReceipt({ hash: await wallet.sendTransaction({ to: slow.accounts[5]!.address as Hex, value: 1n }), pollingInterval: 50 })
      const start = await pub.getTransactionCount({ address: account.address })
      const hashes: Hex[] = []
      for (let i = 0; i < 3; i++) {
        const nonce = await pub.getTransactionCount({ address: account.address, blockTag: 'pending' })
        expect(nonce).toBe(start + i)
        hashes.push(await wallet.sendTransaction({ to: slow.accounts[5]!.address as Hex, value: 1n, nonce, gas: 21_000n }))
      }
      expect(await pub.getTransactionCount({ address: account.address, blockTag: 'pending' })).toBe(start + 3)
      expect(await pub.getTransactionCount({ address: account.address })).toBe(start)
      const waiting = await pub.getTransaction({ hash: hashes[0]! })
      expect(waiting.blockNumber).toBeNull()
      // The same nonce again: refused as an underpriced replacement.
      const again = await wallet.sendTransaction({ to: slow.accounts[6]!.address as Hex, value: 2n, nonce: start, gas: 21_000n }).catch((e: unknown) => e)
      expect(String((again as Error).message)).toMatch(/replacement transaction underpriced/)
      for (const hash of hashes) expect((await pub.waitForTransactionReceipt({ hash, pollingInterval: 50 })).status).toBe('success')
      expect(await pub.getTransactionCount({ address: account.address })).toBe(start + 3)
      expect(await pub.getTransactionCount({ address: account.address, blockTag: 'pending' })).toBe(start + 3)
    } finally {
      await slow.stop()
    }
  })
})
