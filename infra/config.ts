/**
 * Deployment parameters, read from CDK context (`cdk deploy -c shards=16 -c maxWorkers=32`) and
 * validated with zod at synth time. Values given with `-c` arrive as strings, values from
 * cdk.json as JSON: both are accepted. Every problem is reported at once, naming the context
 * key and the bad value.
 */
import { z } from 'zod'

import { ConfigError } from '../shared/errors.ts'

/**
 * x86-64 EC2 instance families with NVIDIA GPUs that the ECS GPU-optimised AMI (x86-64) supports.
 * Graviton GPU families (g5g) are left out: the native secp256k1 prebuild and the AMI are x86-64.
 */
export const GPU_INSTANCE_FAMILIES = ['g4dn', 'g5', 'g6', 'g6e', 'gr6', 'p3', 'p3dn', 'p4d', 'p4de', 'p5', 'p5e', 'p5en'] as const

const HARDFORKS = ['byzantium', 'constantinople', 'petersburg', 'istanbul', 'muirGlacier', 'berlin', 'london', 'arrowGlacier', 'grayGlacier', 'paris', 'mergeNetsplitBlock', 'shanghai', 'cancun', 'prague'] as const

/** A boolean from a context value: true/false as JSON or as the strings `-c key=true` gives. */
function flag() {
  return z.preprocess(
    (value) => (value === 'true' ? true : value === 'false' ? false : value),
    z.boolean({ error: 'expected true or false' }),
  )
}

/** An integer from a context value that may be a number or a decimal string. */
function integer(min: number, max: number) {
  return z.preprocess(
    (value) => (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value),
    z.number({ error: `expected an integer ${min}..${max}` }).int({ error: `expected an integer ${min}..${max}` }).min(min, { error: `expected an integer ${min}..${max}` }).max(max, { error: `expected an integer ${min}..${max}` }),
  )
}

const instanceFamilyPattern = new RegExp(`^(${GPU_INSTANCE_FAMILIES.join('|')})\\.[0-9a-z]+$`)

export const deployConfigSchema = z
  .object({
    /** Prefix of every physical resource name (tables, queues, cluster); one deployment per prefix and region. */
    prefix: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,23}$/, { error: 'expected 2-24 characters: lower-case letters, digits and -, starting with a letter' })
      .default('parevm'),
    /** Most shards a block is cut into. */
    shards: integer(1, 256).default(8),
    /** Most transactions per block. */
    blockSize: integer(1, 100_000).default(1000),
    /** Seconds between consecutive block timestamps (and the sequencer's pace). */
    blockIntervalSec: integer(1, 60).default(2),
    /** EC2 instance type of the workers: an NVIDIA GPU type. */
    instanceType: z
      .string()
      .regex(instanceFamilyPattern, { error: `expected an NVIDIA GPU instance type of a family in ${GPU_INSTANCE_FAMILIES.join(', ')} (for example g4dn.xlarge)` })
      .default('g4dn.xlarge'),
    /** Fewest worker tasks (at least one: scaling divides the backlog by the running tasks). */
    minWorkers: integer(1, 256).default(1),
    /** Most worker tasks (one GPU each). */
    maxWorkers: integer(1, 256).default(8),
    /** Shard messages waiting per running worker that the scaling policy aims at. */
    backlogPerWorker: integer(1, 1000).default(4),
    /** EIP-155 chain id of the chain the cluster builds. */
    chainId: integer(1, 2 ** 48).default(7777),
    /** The block beneficiary (0x-prefixed 20-byte address); the genesis default is the zero address. */
    coinbase: z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/, { error: 'expected a 0x-prefixed 20-byte address' })
      .default(`0x${'00'.repeat(20)}`),
    /** The hardfork the chain runs on (one for the whole chain). */
    hardfork: z.enum(HARDFORKS, { error: `expected one of ${HARDFORKS.join(', ')}` }).default('cancun'),
    /** `destroy` (default: `cdk destroy` removes tables and their data) or `retain`. */
    dataRemoval: z.enum(['destroy', 'retain'], { error: 'expected destroy or retain' }).default('destroy'),
    /**
     * A pre-built worker image (`<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>` or any
     * registry the instances can pull from without credentials) instead of building
     * infra/worker.Dockerfile at deploy time (which needs Docker where `cdk deploy` runs).
     */
    workerImage: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._\-/:@]{2,254}$/, { error: 'expected an image reference such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/parevm-worker:v1' })
      .optional(),
    /**
     * Intake off the sequencer (functions/ingress.ts): when true, the ingress function is the one
     * consumer of the ingress queue and forwards judged transactions to the decoded queue, which
     * the sequencer reads instead; when false (default), the sequencer reads the ingress queue
     * itself. Never both (infra/access.ts, deployedAccess).
     */
    ingressFunction: flag().default(false),
    /**
     * Most concurrent ingress function invocations the event source starts (its maximum
     * concurrency, 2..1000). The default is what the scale model (bench/model.ts,
     * `ingressConcurrencyNeeded`; bench/results/2-core-vm-model.md) finds enough for the function
     * not to limit: each invocation packs its batch's transactions into one decoded message and
     * sends it in one call (about 40 ms for 10 transactions, some 240 tx/s an invocation), so 5
     * keep up with the projected best of the block path (about 1,000 tx/s at one transaction a
     * message; 4 would cap it at about 960). test/bench/bench.test.ts fails if the default falls
     * below the model's answer.
     */
    ingressConcurrency: integer(2, 1000).default(5),
    /** Optional e-mail address subscribed to the alarms' SNS topic. */
    alarmEmail: z.email({ error: 'expected an e-mail address' }).optional(),
  })
  .superRefine((config, ctx) => {
    if (config.maxWorkers < config.minWorkers) {
      ctx.addIssue({ code: 'custom', path: ['maxWorkers'], message: `must be at least minWorkers (${config.minWorkers})` })
    }
  })

export type DeployConfig = z.infer<typeof deployConfigSchema>

export const CONTEXT_KEYS = Object.keys(deployConfigSchema.shape) as (keyof DeployConfig)[]

/** Context reader: `(key) => app.node.tryGetContext(key)`. */
export type ContextReader = (key: string) => unknown

/**
 * Reads and validates the deployment parameters. Throws a ConfigError that names every bad
 * key with the value given and what was expected.
 */
export function readDeployConfig(context: ContextReader): DeployConfig {
  const raw: Record<string, unknown> = {}
  for (const key of CONTEXT_KEYS) {
    const value = context(key)
    if (value !== undefined) raw[key] = value
  }
  const parsed = deployConfigSchema.safeParse(raw)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '?')
    return `-c ${key}=${JSON.stringify(raw[key] ?? null)}: ${issue.message}`
  })
  throw new ConfigError(`invalid deployment parameter${problems.length > 1 ? 's' : ''}: ${problems.join('; ')}`, {
    details: problems.join('\n'),
    hint: `pass parameters as CDK context, for example \`npx cdk deploy -c shards=16 -c maxWorkers=32\`; known keys: ${CONTEXT_KEYS.join(', ')}`,
  })
}
