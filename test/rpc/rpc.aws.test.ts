/**
 * The JSON-RPC Lambda handler (functions/rpc.ts) against the AWS APIs (DynamoDB Local and
 * local-aws-sqs by default): transactions sent with eth_sendRawTransaction go to the SQS ingress
 * queue, the pipeline seals them over DynamoDB, and the handler reads receipts, code, state,
 * logs and calls back from the tables.
 */
import { Logger } from '@aws-lambda-powertools/logger'
import { encodeFunctionData, type Abi, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import artifacts from '../../shared/workload/contracts/artifacts.json' with { type: 'json' }
import { buildGenesis } from '../../shared/chain/genesis.ts'
import { EmbeddedCluster } from '../../shared/cluster/embedded.ts'
import { devAccounts, devGenesisFile } from '../../functions/cli/node.ts'
import { openCliAwsBackend, type CliAwsBackend } from '../../functions/commons/cli-backend.ts'
import { loadEnv, rpcEnvSchema } from '../../functions/commons/config.ts'
import { createRpcRuntime, handleHttp, type RpcRuntime } from '../../functions/rpc.ts'
import { deleteResources } from '../../shared/adapters/aws/provision.ts'
import { testClients, uniquePrefix } from '../helpers/aws.ts'

process.env.POWERTOOLS_METRICS_DISABLED = 'true'

const token = artifacts.contracts.Token as { abi: Abi; bytecode: Hex; deployedBytecode: Hex }
const accounts = devAccounts(3)
const genesis = buildGenesis(devGenesisFile(accounts, 1_700_000_000))
let aws: CliAwsBackend
let cluster: EmbeddedCluster
let rt: RpcRuntime

async function rpc(method: string, params: unknown[]): Promise<{ result?: any; error?: { code: number; message: string } }> {
  const res = await handleHttp(rt, { requestContext: { http: { method: 'POST' } }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })
  return JSON.parse(res.body)
}

// Its own prefix: `parevm-run-` tables are what test/integration/cli-backend.aws.test.ts counts
// before and after its run, and this file's would come and go under it.
const prefix = uniquePrefix('rpc')

beforeAll(async () => {
  aws = await openCliAwsBackend({ prefix })
  cluster = await EmbeddedCluster.start({ genesis, workers: 1, threads: false, blockSize: 50, verify: true, backends: aws.backends })
  const env = loadEnv(rpcEnvSchema, 'rpc', { PAREVM_PREFIX: aws.backend.prefix, AWS_REGION: 'us-east-1', PAREVM_CHAIN_ID: '31337', PAREVM_HARDFORK: 'cancun', PAREVM_COINBASE: genesis.coinbase })
  rt = await createRpcRuntime(env, { backend: aws.backend, logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }) })
}, 120_000)

afterAll(async () => {
  await cluster?.stop()
  await aws?.close()
  await deleteResources(testClients(), prefix)
})

describe('the JSON-RPC handler over DynamoDB and SQS', () => {
  it('accepts transactions into the SQS ingress queue and answers from the tables once they are sealed', async () => {
    const account = privateKeyToAccount(accounts[0]!.privateKey as Hex)
    const sign = (nonce: number, tx: Record<string, unknown>) =>
      account.signTransaction({ chainId: 31337, type: 'eip1559', maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n, nonce, ...tx } as never)
    const deploy = await rpc('eth_sendRawTransaction', [await sign(0, { gas: 1_000_000n, data: token.bytecode })])
    expect(deploy.result).toMatch(/^0x[0-9a-f]{64}$/)
    expect((await rpc('eth_getTransactionCount', [account.address, 'pending'])).result).toBe('0x1')
    await cluster.runUntilIdle()
    const receipt = (await rpc('eth_getTransactionReceipt', [deploy.result])).result
    expect(receipt.status).toBe('0x1')
    const address = receipt.contractAddress as Hex
    expect((await rpc('eth_getCode', [address, 'latest'])).result).toBe(token.deployedBytecode.toLowerCase())

    const recipient = accounts[1]!.address as Hex
    const transfer = await rpc('eth_sendRawTransaction', [await sign(1, { gas: 100_000n, to: address, data: encodeFunctionData({ abi: token.abi, functionName: 'transfer', args: [recipient, 0n] }) })])
    expect(transfer.result).toMatch(/^0x/)
    await cluster.runUntilIdle()
    const logs = (await rpc('eth_getLogs', [{ fromBlock: '0x0', address }])).result
    expect(logs.map((l: { transactionHash: string }) => l.transactionHash)).toEqual([transfer.result])
    expect((await rpc('eth_call', [{ to: address, data: encodeFunctionData({ abi: token.abi, functionName: 'totalSupply' }) }, 'latest'])).result).toBe(`0x${'00'.repeat(32)}`)
    const reverted = await rpc('eth_call', [{ from: account.address, to: address, data: encodeFunctionData({ abi: token.abi, functionName: 'transfer', args: [recipient, 1n] }) }])
    expect(reverted.error).toMatchObject({ code: 3, message: 'execution reverted: balance' })
    const stale = await rpc('eth_sendRawTransaction', [await sign(0, { gas: 21_000n, to: recipient, value: 1n })])
    expect(stale.error?.message).toMatch(/^nonce too low/)
    const block = (await rpc('eth_getBlockByHash', [receipt.blockHash, false])).result
    expect(block.transactions).toEqual([deploy.result])
  })
})
