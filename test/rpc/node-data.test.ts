/**
 * `parevm node --data DIR`: the chain survives a restart. The node keeps the genesis, the header
 * time step and every sealed block's transactions; a restart executes those blocks again and
 * must reach the stored head hash, with balances, nonces, blocks and receipts as they were.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { parseEther, createWalletClient, createPublicClient, defineChain, http, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'

import { startNode, type RunningNode } from '../../functions/cli/node.ts'

const RECIPIENT = `0x${'42'.repeat(20)}` as Hex

function clients(node: RunningNode) {
  const chain = defineChain({ id: Number(node.chainId), name: 'parevm dev', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [node.url] } } })
  const account = privateKeyToAccount(node.accounts[0]!.privateKey as Hex)
  return { pub: createPublicClient({ chain, transport: http(node.url) }), wallet: createWalletClient({ chain, account, transport: http(node.url) }) }
}

describe('parevm node --data', () => {
  it('keeps the chain across a restart: same head hash, balances, nonces, receipts; then goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parevm-node-data-'))
    const start = () => startNode({ port: 0, threads: false, workers: 1, verify: true, dataDir: dir })
    let node = await start()
    let before: { number: bigint; hash: Hex; balance: bigint; nonce: number; receiptBlock: bigint }
    try {
      const { pub, wallet } = clients(node)
      const first = await wallet.sendTransaction({ to: RECIPIENT, value: parseEther('1') })
      await pub.waitForTransactionReceipt({ hash: first })
      const second = await wallet.sendTransaction({ to: RECIPIENT, value: parseEther('2') })
      const receipt = await pub.waitForTransactionReceipt({ hash: second })
      const block = await pub.getBlock()
      before = {
        number: block.number,
        hash: block.hash,
        balance: await pub.getBalance({ address: RECIPIENT }),
        nonce: await pub.getTransactionCount({ address: node.accounts[0]!.address as Hex }),
        receiptBlock: receipt.blockNumber,
      }
      expect(before.balance).toBe(parseEther('3'))
    } finally {
      await node.stop()
    }

    node = await start()
    try {
      const { pub, wallet } = clients(node)
      const block = await pub.getBlock()
      expect(block.number).toBe(before.number)
      expect(block.hash).toBe(before.hash)
      expect(await pub.getBalance({ address: RECIPIENT })).toBe(before.balance)
      expect(await pub.getTransactionCount({ address: node.accounts[0]!.address as Hex })).toBe(before.nonce)
      const third = await wallet.sendTransaction({ to: RECIPIENT, value: parseEther('4') })
      await pub.waitForTransactionReceipt({ hash: third })
      expect(await pub.getBalance({ address: RECIPIENT })).toBe(parseEther('7'))
    } finally {
      await node.stop()
    }

    // A kept chain that does not rebuild to its stored head is refused, not served.
    const blocks = join(dir, 'blocks.jsonl')
    const lines = readFileSync(blocks, 'utf8').trim().split('\n')
    const last = JSON.parse(lines[lines.length - 1]!) as { hash: string }
    lines[lines.length - 1] = JSON.stringify({ ...last, hash: `0x${'00'.repeat(32)}` })
    writeFileSync(blocks, `${lines.join('\n')}\n`)
    await expect(start()).rejects.toThrow(/rebuilt to block/)
  }, 120_000)
})
