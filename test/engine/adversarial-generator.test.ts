import { createBlock, createBlockHeader } from '@ethereumjs/block'
import { createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'
import { createVM, runTx, type VM } from '@ethereumjs/vm'
import { describe, expect, it } from 'vitest'

import { createChainCommon } from '../../shared/chain/common.ts'
import { buildGenesis, parseGenesis, type GenesisState } from '../../shared/chain/genesis.ts'
import { bytesEqual, fromHex, to0x } from '../../shared/hex.ts'
import {
  BEACON_ROOTS_ADDRESS,
  generateAdversarial,
  INVALID_KINDS,
  isIntendedValid,
  VALID_KINDS,
  type AdversarialWorkload,
} from '../../shared/workload/adversarial.ts'

import type { Common } from '@ethereumjs/common'
import { putGenesisState } from '../../shared/verify/genesis-state.ts'

const BLOCK_LINES = 50

async function vmFromGenesis(genesis: GenesisState, common: Common): Promise<VM> {
  const vm = await createVM({ common })
  const sm = vm.stateManager
  await putGenesisState(sm, genesis)
  expect(bytesEqual(await sm.getStateRoot(), genesis.stateRoot)).toBe(true)
  return vm
}

interface SerialOutcome {
  included: boolean[]
  errors: (string | undefined)[]
  gasUsed: bigint[]
  txs: (TypedTransaction | undefined)[]
}

/** Runs every line serially with @ethereumjs/vm, in blocks of 50 consecutive lines. */
async function runSerially(w: AdversarialWorkload): Promise<SerialOutcome> {
  const genesis = buildGenesis(parseGenesis(w.genesisFile))
  const common = createChainCommon(genesis.chainId, genesis.hardfork)
  const vm = await vmFromGenesis(genesis, common)
  const out: SerialOutcome = { included: [], errors: [], gasUsed: [], txs: [] }
  let parent = genesis.header
  for (let start = 0, number = 1n; start < w.lines.length; start += BLOCK_LINES, number++) {
    const header = {
      number,
      parentHash: parent.hash(),
      timestamp: parent.timestamp + 12n,
      gasLimit: genesis.gasLimit,
      baseFeePerGas: parent.calcNextBaseFee(),
      coinbase: genesis.coinbase as `0x${string}`,
      mixHash: to0x(new Uint8Array(32).fill(Number(number & 0xffn))),
    }
    const block = createBlock({ header }, { common, setHardfork: false })
    let used = 0n
    for (const line of w.lines.slice(start, start + BLOCK_LINES)) {
      let tx: TypedTransaction | undefined
      try {
        tx = createTxFromRLP(fromHex(line.raw), { common })
        const result = await runTx(vm, { tx, block, blockGasUsed: used })
        used += result.totalGasSpent
        out.included.push(true)
        out.errors.push(undefined)
        out.gasUsed.push(result.totalGasSpent)
      } catch (error) {
        out.included.push(false)
        out.errors.push((error as Error).message.slice(0, 160))
        out.gasUsed.push(0n)
      }
      out.txs.push(tx)
    }
    parent = createBlockHeader({ ...header, gasUsed: used }, { common, setHardfork: false })
  }
  return out
}

const cache = new Map<number, AdversarialWorkload>()
/** Default-option workloads, generated once per seed for the whole file. */
function workload(seed: number): AdversarialWorkload {
  let w = cache.get(seed)
  if (w === undefined) {
    w = generateAdversarial({ seed })
    cache.set(seed, w)
  }
  return w
}

describe('adversarial workload generator', () => {
  it('is a pure function of its options', () => {
    const a = generateAdversarial({ seed: 11, lines: 200 })
    const b = generateAdversarial({ seed: 11, lines: 200 })
    expect(JSON.stringify(b.genesisFile)).toBe(JSON.stringify(a.genesisFile))
    expect(b.lines).toEqual(a.lines)
    expect(b.chainId).toBe(a.chainId)
    const c = generateAdversarial({ seed: 12, lines: 200 })
    expect(c.lines.map((l) => l.raw)).not.toEqual(a.lines.map((l) => l.raw))
    expect(a.lines).toHaveLength(200)
  })

  it('has every invalid class, valid kinds of every family, and a parseable genesis', () => {
    for (const seed of [8]) {
      const other = new Set(workload(seed).lines.map((l) => l.kind))
      for (const kind of INVALID_KINDS) expect(other, `seed ${seed}: ${kind}`).toContain(kind)
    }
    const w = workload(7)
    expect(w.lines).toHaveLength(600)
    const kinds = new Set(w.lines.map((l) => l.kind))
    for (const kind of INVALID_KINDS) expect(kinds, kind).toContain(kind)
    for (const kind of ['transfer', 'call-context', 'create', 'create2', 'call-selfdestruct', 'call-transient', 'call-revert', 'call-oog', 'call-token', 'deploy', 'gap-filled', 'underfunded-retry', 'fund', 'funded-retry']) {
      expect(kinds, kind).toContain(kind)
    }
    for (const l of w.lines) expect(isIntendedValid(l.kind) || (INVALID_KINDS as readonly string[]).includes(l.kind), l.kind).toBe(true)
    const invalid = w.lines.filter((l) => !isIntendedValid(l.kind)).length
    expect(invalid / w.lines.length).toBeGreaterThan(0.15)
    expect(invalid / w.lines.length).toBeLessThan(0.4)
    // The oversize line is ~300 KB of hex.
    expect(Math.max(...w.lines.map((l) => l.raw.length))).toBeGreaterThan(300_000)

    const file = parseGenesis(JSON.parse(JSON.stringify(w.genesisFile)))
    const genesis = buildGenesis(file)
    expect(genesis.chainId).toBe(w.chainId)
    expect(genesis.hardfork).toBe('cancun')
    expect(genesis.gasLimit).toBe(30_000_000n)
    expect(Object.keys(file.alloc).map((a) => a.toLowerCase())).toContain(BEACON_ROOTS_ADDRESS.toLowerCase())
    const noBeacon = generateAdversarial({ seed: 7, lines: 50, beaconRoots: false })
    expect(Object.keys(noBeacon.genesisFile.alloc).map((a) => a.toLowerCase())).not.toContain(BEACON_ROOTS_ADDRESS.toLowerCase())
  })

  it('interleaves valid and invalid lines of the same sender', () => {
    const w = workload(7)
    const common = createChainCommon(w.chainId, 'cancun')
    const bySender = new Map<string, boolean[]>()
    for (const l of w.lines) {
      let sender: string
      try {
        sender = createTxFromRLP(fromHex(l.raw), { common }).getSenderAddress().toString()
      } catch {
        continue
      }
      bySender.set(sender, [...(bySender.get(sender) ?? []), isIntendedValid(l.kind)])
    }
    // Senders whose lines go valid → invalid → valid.
    const interleaved = [...bySender.values()].filter((seq) => {
      const first = seq.indexOf(true)
      const bad = seq.indexOf(false, first + 1)
      return first >= 0 && bad > 0 && seq.indexOf(true, bad + 1) > 0
    })
    expect(interleaved.length).toBeGreaterThanOrEqual(8)
  })

  it('keeps the gas of valid lines per 50 consecutive lines well below the block gas limit', () => {
    const w = workload(7)
    const common = createChainCommon(w.chainId, 'cancun')
    const gas = w.lines.map((l) => (isIntendedValid(l.kind) ? createTxFromRLP(fromHex(l.raw), { common }).gasLimit : 0n))
    let window = 0n
    let worst = 0n
    for (let i = 0; i < gas.length; i++) {
      window += gas[i]!
      if (i >= BLOCK_LINES) window -= gas[i - BLOCK_LINES]!
      if (window > worst) worst = window
    }
    expect(worst).toBeLessThan(30_000_000n / 2n)
  })

  it('sequential @ethereumjs/vm includes every line meant as valid and none meant as invalid', async () => {
    for (const seed of [7]) {
      const w = workload(seed)
      const outcome = await runSerially(w)
      const problems: string[] = []
      w.lines.forEach((l, i) => {
        const meantValid = isIntendedValid(l.kind)
        if (meantValid !== outcome.included[i]) problems.push(`line ${i} (${l.kind}): ${outcome.errors[i] ?? 'included'}`)
      })
      expect(problems, problems.slice(0, 10).join('\n')).toEqual([])
      const included = outcome.included.filter(Boolean).length
      expect(included / w.lines.length).toBeGreaterThanOrEqual(0.5)
      // Reverts and out-of-gas are included, with status 0.
      const statuses = new Set(w.lines.map((l, i) => (outcome.included[i] && (l.kind === 'call-revert' || l.kind === 'call-oog') ? 'failed-included' : '')))
      expect(statuses).toContain('failed-included')
      expect(VALID_KINDS.length).toBeGreaterThan(20)
    }
  })
})
