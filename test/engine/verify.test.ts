import { RLP } from '@ethereumjs/rlp'
import { createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx'
import { beforeAll, describe, expect, it } from 'vitest'

import { createChainCommon } from '../../shared/chain/common.ts'
import { keccak256 } from '../../shared/crypto/keccak.ts'
import { bigintToHex, fromHex, to0x } from '../../shared/hex.ts'
import { judgeStatelessRejection } from '../../shared/verify/stateless.ts'
import { SequentialVerifier } from '../../shared/verify/sequential.ts'
import { addressOf, CHAIN_ID, GWEI, key, runInline, signTx, testGenesis, type TestChainOptions } from '../helpers/chain.ts'

import type { SealedBlock } from '../../shared/coordinator/coordinator.ts'
import type { Rejection, RejectionCode } from '../../shared/intake/rejection.ts'
import type { ReceiptRecord } from '../../shared/store/records.ts'

/** Emits LOG1(topic 0x11) with 32 bytes of data, then returns. */
const LOGGER = '0x7f00000000000000000000000000000000000000000000000000000000000000aa60005260116020600' + '0a100'
const LOGGER_ADDRESS = `0x${'10'.repeat(20)}`

/**
 * Every block-context value, each stored to its own slot and put in memory at slot*32, then all
 * of them LOG0'd: BLOCKHASH(number-1), BLOCKHASH(0), TIMESTAMP, COINBASE, BASEFEE, PREVRANDAO,
 * GASLIMIT, CHAINID, GASPRICE, SELFBALANCE, BALANCE(COINBASE), NUMBER, BLOBBASEFEE,
 * BLOCKHASH(number-2).
 */
function contextContract(): string {
  const values = [
    '6001' + '43' + '03' + '40', // PUSH1 1 NUMBER SUB BLOCKHASH
    '6000' + '40', // PUSH1 0 BLOCKHASH
    '42', // TIMESTAMP
    '41', // COINBASE
    '48', // BASEFEE
    '44', // PREVRANDAO
    '45', // GASLIMIT
    '46', // CHAINID
    '3a', // GASPRICE
    '47', // SELFBALANCE
    '41' + '31', // COINBASE BALANCE
    '43', // NUMBER
    '4a', // BLOBBASEFEE
    '6002' + '43' + '03' + '40', // PUSH1 2 NUMBER SUB BLOCKHASH
  ]
  const byte = (n: number): string => n.toString(16).padStart(2, '0')
  let code = ''
  values.forEach((value, slot) => {
    code += value + '80' + '60' + byte(slot) + '55' + '61' + (slot * 32).toString(16).padStart(4, '0') + '52' // DUP1 PUSH1 slot SSTORE PUSH2 off MSTORE
  })
  const size = values.length * 32
  code += '61' + size.toString(16).padStart(4, '0') + '6000' + 'a0' + '00' // PUSH2 size PUSH1 0 LOG0 STOP
  return `0x${code}`
}
const CONTEXT_ADDRESS = `0x${'20'.repeat(20)}`

const chain: TestChainOptions = {
  accounts: 6,
  extraAlloc: {
    [LOGGER_ADDRESS]: { balance: '0x0', code: LOGGER },
    [CONTEXT_ADDRESS]: { balance: '0x0', code: contextContract() },
  },
}
const genesis = (): ReturnType<typeof testGenesis> => testGenesis(chain)

/** A fresh verifier over the chain's genesis: verify the blocks before `sealed`, then `sealed`. */
async function verifyAfter(before: SealedBlock[], sealed: SealedBlock): Promise<string | undefined> {
  const verifier = await SequentialVerifier.fromGenesis(genesis())
  for (const b of before) {
    const r = await verifier.verify(b)
    if (!r.ok) return `earlier block ${r.block}: ${r.difference}`
  }
  const result = await verifier.verify(sealed)
  return result.ok ? undefined : result.difference
}

const hash32 = (n: number): string => `0x${n.toString(16).padStart(64, '0')}`

describe('the sequential check', () => {
  let block: SealedBlock
  let creation: number
  let logging: number

  beforeAll(async () => {
    const txs = [
      signTx({ from: 0, nonce: 0, to: addressOf(3), value: 5n }),
      signTx({ from: 1, nonce: 0, to: addressOf(3), value: 6n, type: 0 }),
      signTx({ from: 2, nonce: 0, to: addressOf(4), value: 7n, type: 1 }),
      // A contract creation (init code returning one byte of runtime).
      signTx({ from: 3, nonce: 0, data: '0x600160005360016000f3', gasLimit: 100_000n }),
      signTx({ from: 4, nonce: 0, to: LOGGER_ADDRESS, gasLimit: 100_000n, priorityFee: 2n * GWEI }),
    ]
    const { events } = await runInline(genesis(), txs, { verify: false })
    expect(events).toHaveLength(1)
    block = events[0]!.sealed
    expect(block.receipts).toHaveLength(5)
    creation = block.receipts.findIndex((r) => r.contractAddress !== null)
    logging = block.receipts.findIndex((r) => r.logs.length > 0)
    expect(creation).toBeGreaterThanOrEqual(0)
    expect(logging).toBeGreaterThanOrEqual(0)
  })

  const check = (mutate: (b: SealedBlock) => void): Promise<string | undefined> => {
    const copy = structuredClone(block)
    mutate(copy)
    return verifyAfter([], copy)
  }

  it('accepts the engine\'s block, and a second verify of the same number is refused without harm', async () => {
    expect(await check(() => {})).toBeUndefined()
    const verifier = await SequentialVerifier.fromGenesis(genesis())
    const wrongNumber = structuredClone(block)
    wrongNumber.record.number = '2'
    expect((await verifier.verify(wrongNumber)).difference).toMatch(/block number/)
    expect((await verifier.verify(block)).ok).toBe(true)
  })

  it('names every tampered header field, the hash and the parent link', async () => {
    const h = block.record.header
    const tampered: Record<string, string> = {
      parentHash: hash32(1),
      uncleHash: hash32(2),
      coinbase: `0x${'ab'.repeat(20)}`,
      stateRoot: hash32(3),
      transactionsTrie: hash32(4),
      receiptTrie: hash32(5),
      logsBloom: `0x${'ff'.repeat(256)}`,
      difficulty: '0x1',
      number: '0x2',
      gasLimit: bigintToHex(BigInt(h.gasLimit!) + 1n),
      gasUsed: bigintToHex(BigInt(h.gasUsed!) + 1n),
      timestamp: bigintToHex(BigInt(h.timestamp!) + 1n),
      extraData: '0x01',
      mixHash: hash32(6),
      nonce: '0x0000000000000001',
      baseFeePerGas: bigintToHex(BigInt(h.baseFeePerGas!) + 1n),
      withdrawalsRoot: hash32(7),
      blobGasUsed: '0x20000',
      excessBlobGas: '0x20000',
      parentBeaconBlockRoot: hash32(8),
    }
    for (const [field, value] of Object.entries(tampered)) {
      expect(h[field], field).toBeDefined()
      expect(await check((b) => void (b.record.header[field] = value)), field).toMatch(new RegExp(`^header ${field}: engine`))
    }
    expect(await check((b) => void (b.record.hash = hash32(9)))).toMatch(/^block hash/)
    expect(await check((b) => void (b.head.hash = hash32(9)))).toMatch(/^head hash/)
    expect(await check((b) => void (b.head.stateRoot = hash32(9)))).toMatch(/^head stateRoot/)
    expect(await check((b) => void (b.head.gasUsed = '0x1'))).toMatch(/^head gasUsed/)
    expect(await check((b) => void (b.head.baseFeePerGas = '0x1'))).toMatch(/^head baseFeePerGas/)
    expect(await check((b) => void (b.head.recentHashes['0'] = hash32(9)))).toMatch(/^head recentHashes\[0\]/)
    expect(await check((b) => void (b.record.number = '2'))).toMatch(/block number/)
    // The parent link of the environment the engine executed under.
    expect(await check((b) => void (b.env.parentHash = hash32(1)))).toMatch(/^env parentHash/)
    expect(await check((b) => void (b.env.baseFeePerGas = '0x1'))).toMatch(/^env baseFeePerGas/)
    // Record transaction hashes: wrong, reordered, missing.
    expect(await check((b) => void (b.record.txHashes[1] = hash32(9)))).toMatch(/^record txHashes\[1\]/)
    expect(await check((b) => void b.record.txHashes.reverse())).toMatch(/^record txHashes\[0\]/)
    expect(await check((b) => void b.record.txHashes.pop())).toMatch(/^record txHashes count/)
    expect(await check((b) => void b.record.rejected.push(hash32(9)))).toMatch(/^record rejected/)
  })

  it('refuses producer choices that break the parent rules', async () => {
    // The block producer's timestamp must be after the parent's; its gas limit within bound.
    expect(await check((b) => void (b.env.timestamp = '0x1'))).toMatch(/^header timestamp: engine 0x1 is not after the parent's/)
    expect(await check((b) => void (b.env.gasLimit = bigintToHex(BigInt(b.env.gasLimit) * 2n)))).toMatch(/^header gasLimit: .*increased too much/)
  })

  it('names every tampered receipt field', async () => {
    const tamperReceipt = (i: number, change: (r: ReceiptRecord) => void) => check((b) => change(b.receipts[i]!))
    const at = (i: number, field: string): RegExp => new RegExp(`^receipt ${i} \\(0x[0-9a-f]{64}\\) ${field.replace(/[[\]]/g, '\\$&')}: engine`)
    expect(await tamperReceipt(1, (r) => void (r.gasUsed = '0x5209'))).toMatch(at(1, 'gasUsed'))
    expect(await tamperReceipt(logging, (r) => void (r.effectiveGasPrice = bigintToHex(BigInt(r.effectiveGasPrice) + 1n)))).toMatch(at(logging, 'effectiveGasPrice'))
    expect(await tamperReceipt(0, (r) => void (r.from = addressOf(5)))).toMatch(at(0, 'from'))
    expect(await tamperReceipt(0, (r) => void (r.to = addressOf(5)))).toMatch(at(0, 'to'))
    expect(await tamperReceipt(creation, (r) => void (r.contractAddress = addressOf(5)))).toMatch(at(creation, 'contractAddress'))
    expect(await tamperReceipt(creation, (r) => void (r.to = addressOf(5)))).toMatch(at(creation, 'to'))
    expect(await tamperReceipt(0, (r) => void (r.contractAddress = addressOf(5)))).toMatch(at(0, 'contractAddress'))
    expect(await tamperReceipt(1, (r) => void (r.status = 0))).toMatch(at(1, 'status'))
    expect(await tamperReceipt(1, (r) => void (r.cumulativeGasUsed = '0x5208'))).toMatch(at(1, 'cumulativeGasUsed'))
    expect(await tamperReceipt(logging, (r) => void (r.logs[0]!.data = '0x'))).toMatch(at(logging, 'logs[0].data'))
    expect(await tamperReceipt(logging, (r) => void (r.logs[0]!.topics[0] = hash32(1)))).toMatch(at(logging, 'logs[0].topics[0]'))
    expect(await tamperReceipt(logging, (r) => void (r.logs[0]!.address = addressOf(5)))).toMatch(at(logging, 'logs[0].address'))
    expect(await tamperReceipt(logging, (r) => void r.logs.pop())).toMatch(at(logging, 'logs count'))
    expect(await tamperReceipt(logging, (r) => void (r.logsBloom = `0x${'00'.repeat(256)}`))).toMatch(at(logging, 'logsBloom'))
    expect(await tamperReceipt(2, (r) => void (r.index = 3))).toMatch(at(2, 'index'))
    expect(await tamperReceipt(2, (r) => void (r.blockHash = hash32(1)))).toMatch(at(2, 'blockHash'))
    expect(await tamperReceipt(2, (r) => void (r.block = '2'))).toMatch(at(2, 'block'))
    expect(await tamperReceipt(2, (r) => void (r.txHash = hash32(1)))).toMatch(at(2, 'txHash'))
    expect(await tamperReceipt(2, (r) => void (r.type = 2))).toMatch(at(2, 'type'))
    expect(await tamperReceipt(2, (r) => void (r.blobGasUsed = '0x20000'))).toMatch(at(2, 'blobGasUsed'))
    expect(await check((b) => void b.receipts.pop())).toMatch(/^receipt count/)
  })

  describe('rejections at their positions', () => {
    const rejection = (raw: string, code: RejectionCode, position: number): Rejection => ({
      id: to0x(keccak256(fromHex(raw))),
      code,
      reason: 'test',
      block: '1',
      position,
      raw,
      atMs: 0,
    })
    /** The block with an extra rejection recorded at `position` (the record lists its id). */
    const withRejection = (raw: string, code: RejectionCode, position: number) =>
      check((b) => {
        b.rejections.push(rejection(raw, code, position))
        b.record.rejected.push(rejection(raw, code, position).id)
      })

    it('fails when a valid transaction is recorded as rejected', async () => {
      for (const code of ['nonce-gap', 'invalid-at-execution'] as const) {
        const difference = await check((b) => {
          const raw = to0x(b.raws[2]!)
          b.raws.splice(2, 1)
          b.receipts.splice(2, 1)
          b.record.txHashes.splice(2, 1)
          b.rejections.push(rejection(raw, code, 2))
          b.record.rejected.push(rejection(raw, code, 2).id)
        })
        expect(difference).toMatch(new RegExp(`^rejection at position 2 \\(0x[0-9a-f]{64}\\): recorded ${code}, but @ethereumjs/vm includes it`))
      }
    })

    it('passes a truly invalid transaction with its class and fails it with another', async () => {
      const gap = signTx({ from: 5, nonce: 3, to: addressOf(1) })
      expect(await withRejection(gap, 'nonce-gap', 0)).toBeUndefined()
      expect(await withRejection(gap, 'nonce-gap', 5)).toBeUndefined()
      expect(await withRejection(gap, 'invalid-at-execution', 3)).toBeUndefined()
      expect(await withRejection(gap, 'insufficient-balance', 1)).toMatch(/^rejection at position 1 \(0x[0-9a-f]{64}\): recorded insufficient-balance, but @ethereumjs\/vm rejects it as nonce-gap/)
      // Sender 0's nonce 0 is used by the block's first transaction: too low after it, fine before.
      const reuse = signTx({ from: 0, nonce: 0, to: addressOf(2), value: 1n })
      expect(await withRejection(reuse, 'nonce-too-low', 1)).toBeUndefined()
      expect(await withRejection(reuse, 'duplicate', 1)).toBeUndefined()
      expect(await withRejection(reuse, 'nonce-gap', 1)).toMatch(/recorded nonce-gap, but @ethereumjs\/vm rejects it as nonce-too-low/)
      expect(await withRejection(reuse, 'nonce-too-low', 0)).toMatch(/^rejection at position 0 .*recorded nonce-too-low, but @ethereumjs\/vm includes it/)
      const rich = signTx({ from: 5, nonce: 0, to: addressOf(1), value: 10n ** 30n })
      expect(await withRejection(rich, 'insufficient-balance', 2)).toBeUndefined()
      const cheap = signTx({ from: 5, nonce: 0, to: addressOf(1), maxFeePerGas: 1n, priorityFee: 1n })
      expect(await withRejection(cheap, 'fee-cap-below-base-fee', 2)).toBeUndefined()
      const short = signTx({ from: 5, nonce: 0, to: addressOf(1), gasLimit: 20_000n })
      expect(await withRejection(short, 'intrinsic-gas', 2)).toBeUndefined()
      const huge = signTx({ from: 5, nonce: 0, to: addressOf(1), gasLimit: 200_000_000n })
      expect(await withRejection(huge, 'gas-above-block-limit', 2)).toBeUndefined()
      // Positions must be inside the block and distinct; the id must be the raw's hash.
      expect(await withRejection(gap, 'nonce-gap', 9)).toMatch(/outside the block's 6 planned transactions/)
      expect(await check((b) => void b.rejections.push({ ...rejection(gap, 'nonce-gap', 1), id: hash32(1) }))).toMatch(/id is not the hash/)
      // The record must list it.
      expect(await check((b) => void b.rejections.push(rejection(gap, 'nonce-gap', 1)))).toMatch(/^record rejected: engine 0x[0-9a-f]{64} missing/)
    })
  })

  it('re-judges intake rejections without state', () => {
    const common = createChainCommon(CHAIN_ID, 'cancun')
    const transfer = signTx({ from: 0, nonce: 0, to: addressOf(1) })
    expect(judgeStatelessRejection('0xzz', 'malformed-hex', common).ok).toBe(true)
    expect(judgeStatelessRejection('0x0', 'malformed-hex', common).ok).toBe(true)
    expect(judgeStatelessRejection(transfer, 'malformed-hex', common)).toEqual({ ok: false, reference: 'valid: no stateless reason applies' })
    expect(judgeStatelessRejection(`0x02${'00'.repeat(130 * 1024)}`, 'oversize', common).ok).toBe(true)
    expect(judgeStatelessRejection('0x03c0', 'unsupported-type', common).ok).toBe(true)
    expect(judgeStatelessRejection('0x04c0', 'unsupported-type', common).ok).toBe(true)
    expect(judgeStatelessRejection('0x03c0', 'malformed-transaction', common).ok).toBe(false)
    expect(judgeStatelessRejection('0x02c0', 'malformed-transaction', common).ok).toBe(true)
    const unprotected = to0x(createLegacyTx({ nonce: 0n, gasPrice: GWEI, gasLimit: 21_000n, to: addressOf(1) as `0x${string}`, v: 27n, r: 1n, s: 1n }, { common }).serialize())
    expect(judgeStatelessRejection(unprotected, 'unprotected', common).ok).toBe(true)
    expect(judgeStatelessRejection(unprotected, 'intrinsic-gas', common).ok).toBe(false)
    const otherChain = signTx({ from: 0, nonce: 0, to: addressOf(1), chainId: 1n })
    expect(judgeStatelessRejection(otherChain, 'wrong-chain-id', common).ok).toBe(true)
    expect(judgeStatelessRejection(otherChain, 'bad-signature', common).ok).toBe(false)
    const eip1559 = (maxPriority: bigint, maxFee: bigint, r: bigint): string => {
      const q = (n: bigint): Uint8Array => (n === 0n ? new Uint8Array(0) : fromHex(n.toString(16).padStart(n.toString(16).length + (n.toString(16).length % 2), '0')))
      const body = RLP.encode([q(CHAIN_ID), q(0n), q(maxPriority), q(maxFee), q(21_000n), fromHex(addressOf(1)), q(0n), new Uint8Array(0), [], q(0n), q(r), q(1n)])
      return `0x02${Buffer.from(body).toString('hex')}`
    }
    expect(judgeStatelessRejection(eip1559(2n * GWEI, GWEI, 1n), 'tip-above-fee-cap', common).ok).toBe(true)
    expect(judgeStatelessRejection(eip1559(GWEI, 2n * GWEI, 0n), 'bad-signature', common).ok).toBe(true)
    expect(judgeStatelessRejection(eip1559(GWEI, 2n * GWEI, 0n), 'tip-above-fee-cap', common).ok).toBe(false)
    const initcode = to0x(
      createFeeMarket1559Tx({ chainId: CHAIN_ID, nonce: 0n, maxFeePerGas: 100n * GWEI, maxPriorityFeePerGas: GWEI, gasLimit: 5_000_000n, data: `0x${'00'.repeat(50_000)}` }, { common, allowUnlimitedInitCodeSize: true })
        .sign(key(0))
        .serialize(),
    )
    expect(judgeStatelessRejection(initcode, 'initcode-too-large', common).ok).toBe(true)
    const short = signTx({ from: 0, nonce: 0, to: addressOf(1), gasLimit: 20_000n })
    expect(judgeStatelessRejection(short, 'intrinsic-gas', common).ok).toBe(true)
    expect(judgeStatelessRejection(short, 'nonce-gap', common).ok).toBe(false)
    expect(judgeStatelessRejection(short, 'invalid-at-execution', common).ok).toBe(true)
    const huge = signTx({ from: 0, nonce: 0, to: addressOf(1), gasLimit: 50_000n })
    expect(judgeStatelessRejection(huge, 'gas-above-block-limit', common, { blockGasLimit: 30_000n }).ok).toBe(true)
    expect(judgeStatelessRejection(huge, 'gas-above-block-limit', common, { blockGasLimit: 60_000n }).ok).toBe(false)
    expect(judgeStatelessRejection(huge, 'fee-cap-below-base-fee', common, { baseFeePerGas: 1000n * GWEI }).ok).toBe(true)
    // Codes that need state stand when no stateless reason applies.
    for (const code of ['nonce-gap', 'nonce-too-low', 'duplicate', 'insufficient-balance', 'sender-not-eoa'] as const) {
      expect(judgeStatelessRejection(transfer, code, common).ok, code).toBe(true)
    }
  })

  describe('block context (BLOCKHASH and the rest), blocks 1 to 3', () => {
    let blocks: SealedBlock[]

    beforeAll(async () => {
      const txs = [0, 1, 2].map((nonce) => signTx({ from: 0, nonce, to: CONTEXT_ADDRESS, value: 7n, gasLimit: 1_000_000n }))
      const { events, summary } = await runInline(genesis(), txs, { verify: true, blockSize: 1 })
      expect(summary.verifiedBlocks).toBe(3)
      blocks = events.map((e) => e.sealed)
      expect(blocks.map((b) => b.receipts.length)).toEqual([1, 1, 1])
    })

    it('passes the engine\'s blocks (BLOCKHASH of genesis and of sealed blocks)', async () => {
      const verifier = await SequentialVerifier.fromGenesis(genesis())
      for (const b of blocks) expect((await verifier.verify(b)).difference).toBeUndefined()
      const logged = blocks[2]!.receipts[0]!.logs[0]!.data.slice(2)
      const word = (i: number): string => `0x${logged.slice(i * 64, i * 64 + 64)}`
      expect(word(0)).toBe(blocks[1]!.record.hash)
      expect(word(1)).toBe(to0x(genesis().hash))
      expect(word(13)).toBe(blocks[0]!.record.hash)
      expect(to0x(fromHex(blocks[0]!.receipts[0]!.logs[0]!.data).subarray(0, 64))).toBe(`${to0x(genesis().hash)}${to0x(genesis().hash).slice(2)}`)
    })

    it('fails when a context value differs', async () => {
      // The producer's choices executed differently than the engine's receipts say.
      for (const field of ['timestamp', 'mixHash', 'coinbase'] as const) {
        const b = structuredClone(blocks[1]!)
        const value = field === 'timestamp' ? bigintToHex(BigInt(b.env.timestamp) + 1n) : field === 'mixHash' ? hash32(77) : `0x${'cd'.repeat(20)}`
        b.env[field] = value
        b.record.header[field] = value
        // (A new coinbase also changes the gas of BALANCE and SSTORE.)
        expect(await verifyAfter([blocks[0]!], b), field).toMatch(field === 'coinbase' ? /^receipt 0 \(0x[0-9a-f]{64}\) cumulativeGasUsed: engine 0x[0-9a-f]+, @ethereumjs\/vm 0x/ : /^receipt 0 \(0x[0-9a-f]{64}\) logs\[0\]\.data/)
      }
      // A BLOCKHASH answer that differs: the engine's genesis hash is not what the reference derives.
      const b = structuredClone(blocks[0]!)
      const data = fromHex(b.receipts[0]!.logs[0]!.data)
      data[63] = data[63]! ^ 1
      b.receipts[0]!.logs[0]!.data = to0x(data)
      expect(await verifyAfter([], b)).toMatch(/logs\[0\]\.data/)
      // Blocks out of order or after a failure are refused.
      const verifier = await SequentialVerifier.fromGenesis(genesis())
      expect((await verifier.verify(blocks[1]!)).difference).toMatch(/block number/)
      expect((await verifier.verify(b)).ok).toBe(false)
      expect((await verifier.verify(blocks[1]!)).difference).toMatch(/stopped at block 1/)
    })
  })
})
