/**
 * `parevm models`: the AI model registry. A model is registered by giving it an account whose
 * code is the model's encoding (shared/ai/model.ts): in a genesis (usable from block 1), or by
 * a contract-creation transaction (usable from the block after the one that includes it, since
 * a model deployed earlier in the same block is visible to later transactions). Either way the
 * registry is chain state, so re-executing an old block sees exactly the models it saw.
 */
import { writeFileSync } from 'node:fs'

import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { z } from 'zod'

import { aiGas, AI_PRECOMPILE_ADDRESS } from '../../shared/ai/precompile.ts'
import { decodeModel, encodeModel, modelAddress, modelCodeHash, modelFromFile, modelToFile, randomModel, type Model } from '../../shared/ai/model.ts'
import { createChainCommon } from '../../shared/chain/common.ts'
import { parseGenesis, type GenesisFile } from '../../shared/chain/genesis.ts'
import { ConfigError, ParevmError } from '../../shared/errors.ts'
import { fromHex, to0x } from '../../shared/hex.ts'
import { createRng } from '../../shared/workload/generator.ts'
import { intOption, parseCommand, readJsonFile } from './args.ts'
import { stderr } from './output.ts'

export const MODELS_HELP = `parevm models <subcommand>    the registry of AI models contracts can call

Models are quantized MLPs (int8 weights, int32 biases, integer requantization) called through
the AI precompile at ${AI_PRECOMPILE_ADDRESS}. A model is registered as an account whose code
is the model: its address is the model id, its code hash the content address.

  parevm models register MODEL.json --genesis GENESIS.json [--out FILE] [--address 0x..]
        add the model to a genesis (usable from block 1); the address defaults to one derived
        from the model's content. Writes the genesis to --out (default: stdout).
  parevm models register MODEL.json --deploy --key 0x.. --nonce N --chain-id N [--max-fee-gwei N]
        print a signed contract-creation transaction that deploys the model (usable in the
        blocks after the one that includes it; its address is the creation address).
  parevm models inspect MODEL.json      validate and describe a model (id, hash, MACs, gas)
  parevm models list --genesis FILE     the models registered in a genesis
  parevm models example [--dims 16,32,4] [--seed N] [--out FILE]
        write a random valid model file (weights over the full int8 range)
`

type Sub = (argv: string[]) => Promise<number>

function loadModel(path: string): { model: Model; code: Uint8Array } {
  let model: Model
  try {
    model = modelFromFile(readJsonFile(path, 'model'))
  } catch (error) {
    if (error instanceof ConfigError) throw error
    if (error instanceof ParevmError) throw new ConfigError(`${path}: ${error.message}`, error.hint === undefined ? {} : { hint: error.hint })
    throw error
  }
  let code: Uint8Array
  try {
    code = encodeModel(model)
  } catch (error) {
    if (error instanceof ParevmError) throw new ConfigError(`${path}: ${error.message}`, error.hint === undefined ? {} : { hint: error.hint })
    throw error
  }
  return { model, code }
}

function describeModel(model: Model, code: Uint8Array, address: string): Record<string, unknown> {
  return {
    address,
    codeHash: `0x${modelCodeHash(code)}`,
    bytes: code.length,
    layers: model.layers.map((l) => `${l.inDim}->${l.outDim} shift ${l.shift}${l.relu ? ' relu' : ''}`),
    input: model.inputDim,
    output: model.outputDim,
    macs: model.macs,
    gasPerCall: Number(aiGas(model, code.length)),
  }
}

const addressRe = /^0x[0-9a-fA-F]{40}$/

/** Creation code that returns the model bytes as the new account's code. */
export function deploymentCode(code: Uint8Array): Uint8Array {
  const prefix = Uint8Array.of(0x61, code.length >> 8, code.length & 0xff, 0x80, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3)
  const out = new Uint8Array(prefix.length + code.length)
  out.set(prefix, 0)
  out.set(code, prefix.length)
  return out
}

const registerSchema = z.object({
  genesis: z.string().optional(),
  out: z.string().optional(),
  address: z.string().regex(addressRe, 'must be a 0x-prefixed 20-byte address').optional(),
  deploy: z.boolean().default(false),
  key: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte private key').optional(),
  nonce: intOption(0, 2 ** 53 - 1).optional(),
  'chain-id': intOption(1, 2 ** 53 - 1).optional(),
  'max-fee-gwei': intOption(1, 1_000_000).default(100),
  help: z.boolean().default(false),
  positionals: z.array(z.string()).length(1, 'register takes one model file'),
})

async function register(argv: string[]): Promise<number> {
  const o = parseCommand(
    argv,
    {
      genesis: { type: 'string' },
      out: { type: 'string' },
      address: { type: 'string' },
      deploy: { type: 'boolean' },
      key: { type: 'string' },
      nonce: { type: 'string' },
      'chain-id': { type: 'string' },
      'max-fee-gwei': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    registerSchema,
    'models register',
  )
  const { model, code } = loadModel(o.positionals[0]!)
  if (o.deploy) {
    if (o.genesis !== undefined) throw new ConfigError('parevm models register: use either --genesis or --deploy, not both')
    if (o.key === undefined || o.nonce === undefined || o['chain-id'] === undefined) {
      throw new ConfigError('parevm models register --deploy needs --key, --nonce and --chain-id', { hint: 'run: parevm models --help' })
    }
    const common = createChainCommon(BigInt(o['chain-id']), 'cancun')
    const data = deploymentCode(code)
    const gasLimit = 53_000n + 16n * BigInt(data.length) + 2n * BigInt(Math.ceil(data.length / 32)) + 200n * BigInt(code.length) + 20_000n
    const tx = createFeeMarket1559Tx(
      { nonce: BigInt(o.nonce), gasLimit, maxFeePerGas: BigInt(o['max-fee-gwei']) * 10n ** 9n, maxPriorityFeePerGas: 10n ** 9n, data, chainId: BigInt(o['chain-id']) },
      { common },
    ).sign(fromHex(o.key))
    const created = tx.getSenderAddress().toString()
    stderr(`deployment of a ${code.length}-byte model from ${created}; the model's id is the creation address of (sender, nonce ${o.nonce})`)
    process.stdout.write(`${to0x(tx.serialize())}\n`)
    return 0
  }
  if (o.genesis === undefined) throw new ConfigError('parevm models register needs --genesis FILE (or --deploy)', { hint: 'run: parevm models --help' })
  const genesis: GenesisFile = parseGenesis(readJsonFile(o.genesis, 'genesis'))
  const address = (o.address ?? modelAddress(code)).toLowerCase()
  const existing = Object.entries(genesis.alloc).find(([a]) => a.toLowerCase().replace(/^0x/, '') === address.slice(2))
  if (existing !== undefined) {
    const same = existing[1].code?.toLowerCase() === to0x(code)
    if (!same) throw new ConfigError(`the genesis already has an account at ${address}`, { hint: 'choose another --address, or leave it out for the content-derived one' })
    stderr(`the model is already registered at ${address}; genesis unchanged`)
  } else {
    genesis.alloc[address] = { balance: '0x0', nonce: '0x1', code: to0x(code) }
  }
  const text = `${JSON.stringify(genesis, null, 2)}\n`
  if (o.out === undefined) process.stdout.write(text)
  else writeFileSync(o.out, text)
  stderr(`registered: ${JSON.stringify(describeModel(model, code, address))}`)
  return 0
}

async function inspect(argv: string[]): Promise<number> {
  const o = parseCommand(argv, { help: { type: 'boolean', short: 'h' } }, z.object({ help: z.boolean().default(false), positionals: z.array(z.string()).length(1, 'inspect takes one model file') }), 'models inspect')
  const { model, code } = loadModel(o.positionals[0]!)
  process.stdout.write(`${JSON.stringify(describeModel(model, code, modelAddress(code)), null, 2)}\n`)
  return 0
}

async function list(argv: string[]): Promise<number> {
  const o = parseCommand(
    argv,
    { genesis: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    z.object({ genesis: z.string({ error: 'is required' }), help: z.boolean().default(false), positionals: z.array(z.string()).max(0) }),
    'models list',
  )
  const genesis = parseGenesis(readJsonFile(o.genesis, 'genesis'))
  const models = []
  for (const [address, account] of Object.entries(genesis.alloc)) {
    if (account.code === undefined) continue
    const code = fromHex(account.code)
    const model = decodeModel(code)
    if (model !== undefined) models.push(describeModel(model, code, `0x${address.replace(/^0x/, '').toLowerCase()}`))
  }
  process.stdout.write(`${JSON.stringify(models, null, 2)}\n`)
  return 0
}

async function example(argv: string[]): Promise<number> {
  const o = parseCommand(
    argv,
    { dims: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    z.object({
      dims: z.string().regex(/^\d+(,\d+)+$/, 'must be comma-separated layer sizes, e.g. 16,32,4').default('16,32,4'),
      seed: intOption(0, 2 ** 31).default(1),
      out: z.string().optional(),
      help: z.boolean().default(false),
      positionals: z.array(z.string()).max(0),
    }),
    'models example',
  )
  const dims = o.dims.split(',').map(Number)
  let model: Model
  try {
    model = randomModel(createRng(o.seed), dims)
    encodeModel(model)
  } catch (error) {
    if (error instanceof ParevmError) throw new ConfigError(`parevm models example: ${error.message}`, error.hint === undefined ? {} : { hint: error.hint })
    throw error
  }
  const text = `${JSON.stringify(modelToFile(model, `example ${o.dims} seed ${o.seed}`))}\n`
  if (o.out === undefined) process.stdout.write(text)
  else writeFileSync(o.out, text)
  return 0
}

const SUBCOMMANDS: Record<string, Sub> = { register, inspect, list, example }

export async function modelsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(MODELS_HELP)
    return sub === undefined ? 2 : 0
  }
  const run = SUBCOMMANDS[sub]
  if (run === undefined) throw new ConfigError(`parevm models: unknown subcommand '${sub}'`, { hint: `one of ${Object.keys(SUBCOMMANDS).join(', ')}` })
  return run(rest)
}
