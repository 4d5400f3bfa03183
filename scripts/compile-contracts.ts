/**
 * Compile the workload's Solidity contracts with the `solc` npm package (0.8.37, Cancun) and
 * print the artefact JSON. `npm run contracts` writes it to shared/workload/contracts/artifacts.json;
 * a test recompiles and compares, so the committed artefact cannot drift from the source.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const here = dirname(fileURLToPath(import.meta.url))
export const CONTRACTS_DIR = join(here, '..', 'shared', 'workload', 'contracts')
export const SOURCES = ['Token.sol', 'Pool.sol', 'Classifier.sol']

export interface Artifact {
  abi: unknown[]
  bytecode: string
  deployedBytecode: string
}

export function compileContracts(): { compiler: string; evmVersion: string; contracts: Record<string, Artifact> } {
  const solc = require('solc') as { compile(input: string): string; version(): string }
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(SOURCES.map((f) => [f, { content: readFileSync(join(CONTRACTS_DIR, f), 'utf8') }])),
    settings: {
      evmVersion: 'cancun',
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[]
    contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>
  }
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'))
  const contracts: Record<string, Artifact> = {}
  for (const file of SOURCES) {
    for (const [name, c] of Object.entries(output.contracts[file] ?? {})) {
      if (c.evm.bytecode.object === '') continue // interfaces
      contracts[name] = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}`, deployedBytecode: `0x${c.evm.deployedBytecode.object}` }
    }
  }
  return { compiler: solc.version(), evmVersion: 'cancun', contracts }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${JSON.stringify(compileContracts(), null, 2)}\n`)
}
