/**
 * `--export <dir>`: what was sealed, in standard shapes.
 *   genesis.json          the geth-style genesis that was used
 *   chain.json            chain id, hardfork, genesis hash and state root, first and last block
 *   blocks/<n>.json       eth_getBlockByNumber(n, true)
 *   receipts/<n>.json     eth_getTransactionReceipt for every transaction of block n, in order
 *   rejections.json       every rejection record (id, code, reason, sender, nonce, block)
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { to0x } from '../hex.ts'
import { rpcBlock, rpcReceipts } from './rpc-shapes.ts'

import type { GenesisFile, GenesisState } from '../chain/genesis.ts'
import type { SealedBlock } from '../coordinator/coordinator.ts'
import type { Rejection } from '../intake/rejection.ts'
import type { Common } from '@ethereumjs/common'

export class Exporter {
  private readonly rejections: Rejection[] = []
  private first: string | undefined
  private last: string | undefined

  constructor(
    private readonly dir: string,
    private readonly genesisFile: GenesisFile,
    private readonly genesis: GenesisState,
    private readonly common: Common,
  ) {
    mkdirSync(join(dir, 'blocks'), { recursive: true })
    mkdirSync(join(dir, 'receipts'), { recursive: true })
    writeFileSync(join(dir, 'genesis.json'), `${JSON.stringify(genesisFile, null, 2)}\n`)
  }

  addBlock(sealed: SealedBlock): void {
    const n = sealed.record.number
    this.first ??= n
    this.last = n
    writeFileSync(join(this.dir, 'blocks', `${n}.json`), `${JSON.stringify(rpcBlock(sealed, this.common), null, 1)}\n`)
    writeFileSync(join(this.dir, 'receipts', `${n}.json`), `${JSON.stringify(rpcReceipts(sealed.receipts), null, 1)}\n`)
    this.rejections.push(...sealed.rejections)
  }

  addRejections(rejections: readonly Rejection[]): void {
    this.rejections.push(...rejections)
  }

  finish(head: { number: string; hash: string; stateRoot: string }): void {
    writeFileSync(join(this.dir, 'rejections.json'), `${JSON.stringify(this.rejections, null, 1)}\n`)
    const chain = {
      chainId: Number(this.genesis.chainId),
      hardfork: this.genesis.hardfork,
      genesisHash: to0x(this.genesis.hash),
      genesisStateRoot: to0x(this.genesis.stateRoot),
      firstBlock: this.first === undefined ? null : Number(this.first),
      lastBlock: this.last === undefined ? null : Number(this.last),
      head,
      layout: {
        'blocks/<n>.json': 'eth_getBlockByNumber(n, true)',
        'receipts/<n>.json': 'eth_getTransactionReceipt of each transaction of block n, in order',
        'rejections.json': 'rejection records',
      },
    }
    writeFileSync(join(this.dir, 'chain.json'), `${JSON.stringify(chain, null, 2)}\n`)
  }
}
