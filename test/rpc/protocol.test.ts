/**
 * The JSON-RPC handler on bad input and at its edges, through parevm node's HTTP server:
 * malformed JSON, invalid requests, unknown methods, bad params naming the parameter,
 * oversize bodies and batches, notifications, slow clients; block tags, state at old blocks,
 * state overrides, fee history, the wrong chain id, the live page.
 */
import { connect } from 'node:net'

import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { startNode, type RunningNode } from '../../functions/cli/node.ts'

import type { Hex } from 'viem'

let node: RunningNode

beforeAll(async () => {
  node = await startNode({ port: 0, threads: false, workers: 1, verify: false, limits: { maxBodyBytes: 64 * 1024, maxBatch: 20 } })
})
afterAll(async () => {
  await node?.stop()
})

async function post(body: string): Promise<{ status: number; json: any }> {
  const res = await fetch(node.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  const text = await res.text()
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) }
}

async function rpc(method: string, params: unknown[] = []): Promise<any> {
  return (await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }))).json
}

async function signed(keyIndex: number, tx: Record<string, unknown>): Promise<Hex> {
  const account = privateKeyToAccount(node.accounts[keyIndex]!.privateKey as Hex)
  return account.signTransaction({ chainId: 31337, type: 'eip1559', gas: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n, nonce: 0, to: node.accounts[9]!.address as Hex, value: 1n, ...tx } as never)
}

describe('bad input', () => {
  it('answers malformed JSON, invalid requests, unknown methods and bad params with their codes', async () => {
    expect((await post('{"jsonrpc":"2.0","id":1,')).json.error.code).toBe(-32700)
    expect((await post('"hello"')).json.error.code).toBe(-32600)
    expect((await post('{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}')).json.error.code).toBe(-32600)
    expect((await post('{"jsonrpc":"2.0","id":{},"method":"eth_chainId"}')).json.error.code).toBe(-32600)
    expect((await post('{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":{}}')).json.error.code).toBe(-32602)
    expect((await post('[]')).json.error).toMatchObject({ code: -32600, message: 'empty batch' })
    const unknown = await rpc('eth_frobnicate')
    expect(unknown.error).toEqual({ code: -32601, message: 'the method eth_frobnicate does not exist/is not available' })
    expect((await rpc('eth_sendTransaction', [{}])).error.code).toBe(-32601)
    expect((await rpc('eth_getBalance', ['0x1234', 'latest'])).error).toMatchObject({ code: -32602, message: expect.stringContaining('(address)') })
    expect((await rpc('eth_getBlockByNumber', ['0x01', false])).error).toMatchObject({ code: -32602, message: expect.stringContaining('(block)') })
    expect((await rpc('eth_getBlockByNumber', [])).error).toMatchObject({ code: -32602, message: expect.stringContaining('missing value') })
    expect((await rpc('eth_getLogs', [{ topics: ['0x12'] }])).error).toMatchObject({ code: -32602, message: expect.stringContaining('filter.topics[0]') })
    expect((await rpc('eth_chainId', [1, 2])).error.code).toBe(-32602)
    expect((await rpc('eth_sendRawTransaction', ['0xzz'])).error.code).toBe(-32602)
    expect((await rpc('eth_sendRawTransaction', ['0x1234'])).error).toMatchObject({ code: -32000 })
  })

  it('refuses oversize bodies and batches, answers batches in order and stays silent for notifications', async () => {
    const big = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: ['x'.repeat(70 * 1024)] }))
    expect(big.status).toBe(413)
    expect(big.json.error.code).toBe(-32600)
    const tooMany = await post(JSON.stringify(Array.from({ length: 21 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_chainId' }))))
    expect(tooMany.json.error).toMatchObject({ code: -32600, message: expect.stringContaining('limit of 20') })
    const batch = await post(JSON.stringify([{ jsonrpc: '2.0', id: 'a', method: 'eth_chainId' }, { jsonrpc: '2.0', method: 'eth_chainId' }, { jsonrpc: '2.0', id: 7, method: 'nope' }, 5]))
    expect(batch.json).toHaveLength(3)
    expect(batch.json[0]).toEqual({ jsonrpc: '2.0', id: 'a', result: '0x7a69' })
    expect(batch.json[1].error.code).toBe(-32601)
    expect(batch.json[2].error.code).toBe(-32600)
    expect((await post('{"jsonrpc":"2.0","method":"eth_chainId"}')).status).toBe(204)
  })

  it('keeps serving while a slow client holds a half-sent request', async () => {
    const url = new URL(node.url)
    const socket = connect(Number(url.port), url.hostname)
    await new Promise((r) => socket.once('connect', r))
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"jsonrpc":')
    expect((await rpc('eth_chainId')).result).toBe('0x7a69')
    socket.destroy()
    expect((await rpc('eth_blockNumber')).result).toMatch(/^0x/)
  })

  it('names a wrong chain id, a fee cap below the base fee and a nonce gap', async () => {
    const wrongChain = await rpc('eth_sendRawTransaction', [await signed(0, { chainId: 1 })])
    expect(wrongChain.error.message).toMatch(/invalid chain id for signer/)
    const lowFee = await rpc('eth_sendRawTransaction', [await signed(0, { maxFeePerGas: 1n, maxPriorityFeePerGas: 1n })])
    expect(lowFee.error.message).toMatch(/max fee per gas less than block base fee/)
    const tooHigh = await rpc('eth_sendRawTransaction', [await signed(0, { nonce: 1000 })])
    expect(tooHigh.error.message).toMatch(/nonce too high/)
  })
})

describe('blocks, state and fees', () => {
  it('serves block tags, refuses state at old blocks with -32601, and applies state overrides', async () => {
    const account = node.accounts[8]!.address
    const hash = (await rpc('eth_sendRawTransaction', [await signed(8, {})])).result
    expect(hash).toMatch(/^0x[0-9a-f]{64}$/)
    expect((await rpc('eth_sendRawTransaction', [await signed(8, {})])).result).toBe(hash)
    await node.idle()
    const receipt = (await rpc('eth_getTransactionReceipt', [hash])).result
    expect(receipt.status).toBe('0x1')
    for (const tag of ['latest', 'pending', 'safe', 'finalized']) expect((await rpc('eth_getBlockByNumber', [tag, false])).result.number).toBe(receipt.blockNumber)
    expect((await rpc('eth_getBlockByNumber', ['earliest', false])).result.number).toBe('0x0')
    expect((await rpc('eth_getBlockByNumber', ['0xffff', false])).result).toBeNull()
    expect((await rpc('eth_getBlockTransactionCountByHash', [receipt.blockHash])).result).toBe('0x1')
    expect((await rpc('eth_getTransactionByBlockHashAndIndex', [receipt.blockHash, '0x0'])).result.hash).toBe(hash)
    expect((await rpc('eth_getBlockReceipts', [receipt.blockNumber])).result[0].transactionHash).toBe(hash)
    const old = await rpc('eth_getBalance', [account, '0x0'])
    expect(old.error).toMatchObject({ code: -32601, message: expect.stringContaining('eth_getBalance does not exist/is not available') })
    expect((await rpc('eth_getBalance', [account, receipt.blockNumber])).result).toMatch(/^0x/)
    expect((await rpc('eth_getBalance', [account, { blockHash: receipt.blockHash }])).result).toMatch(/^0x/)

    // SLOAD(0) from overridden code and storage.
    const contract = `0x${'11'.repeat(20)}`
    const code = '0x60005460005260206000f3'
    const slot0 = `0x${'00'.repeat(31)}2a`
    const called = await rpc('eth_call', [{ to: contract }, 'latest', { [contract]: { code, stateDiff: { [`0x${'00'.repeat(32)}`]: slot0 } } }])
    expect(called.result).toBe(slot0)
    expect((await rpc('eth_getStorageAt', [contract, '0x0', 'latest'])).result).toBe(`0x${'00'.repeat(32)}`)
    // A revert with a reason: code 3 with the data.
    const reverting = '0x6308c379a060e01b6000526020600452600160245260416044536064' + '6000fd'
    const reverted = await rpc('eth_call', [{ to: contract }, 'latest', { [contract]: { code: reverting } }])
    expect(reverted.error).toMatchObject({ code: 3, message: 'execution reverted: A' })
    expect(reverted.error.data).toMatch(/^0x08c379a0/)
  })

  it('answers fee history, gas price and the limits of eth_getLogs', async () => {
    const history = (await rpc('eth_feeHistory', ['0x4', 'latest', [25, 75]])).result
    expect(history.baseFeePerGas.length).toBe(history.gasUsedRatio.length + 1)
    expect(history.reward.length).toBe(history.gasUsedRatio.length)
    expect(BigInt((await rpc('eth_gasPrice')).result)).toBeGreaterThan(BigInt((await rpc('eth_maxPriorityFeePerGas')).result))
    expect((await rpc('eth_getLogs', [{ fromBlock: '0x0', toBlock: '0x10000' }])).result).toEqual([])
    const limited = await startNode({ port: 0, threads: false, workers: 1, verify: false, limits: { maxLogRange: 1 } })
    try {
      const call = async (method: string, params: unknown[]): Promise<any> =>
        (await fetch(limited.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })).json()
      expect((await call('eth_sendRawTransaction', [await signed(0, {})])).result).toMatch(/^0x/)
      await limited.idle()
      expect((await call('eth_getLogs', [{ fromBlock: '0x0', toBlock: 'latest' }])).error).toMatchObject({ code: -32005, message: expect.stringContaining('max block range 1') })
      expect((await call('eth_getLogs', [{ fromBlock: 'latest' }])).result).toEqual([])
    } finally {
      await limited.stop()
    }
  })

  it('serves the live page on GET', async () => {
    const res = await fetch(node.url)
    expect(res.headers.get('content-type')).toMatch(/text\/html/)
    expect(await res.text()).toContain('parevm node')
    const blocks = await rpc('parevm_blocks', ['0x5'])
    expect(Array.isArray(blocks.result)).toBe(true)
  })
})
