// `npm run test:localstack`: the AWS test project (test/**/*.aws.test.ts) against whatever answers
// at AWS_ENDPOINT_URL (default http://localhost:4566, LocalStack's edge port) instead of the
// local servers the tests otherwise start (test/setup/aws-global-setup.ts starts nothing when an
// endpoint is configured). Extra arguments go to vitest, e.g. a file filter.
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const env = { ...process.env }
env.AWS_ENDPOINT_URL ??= 'http://localhost:4566'
env.AWS_REGION ??= 'us-east-1'
env.AWS_ACCESS_KEY_ID ??= 'test'
env.AWS_SECRET_ACCESS_KEY ??= 'test'
env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const endpoint = env.AWS_ENDPOINT_URL
try {
  // Any HTTP answer will do (LocalStack answers 200 on /_localstack/health, moto 404 on /).
  await fetch(endpoint, { signal: AbortSignal.timeout(5_000) })
} catch (error) {
  process.stderr.write(
    `test:localstack: nothing answers at ${endpoint} (${error?.cause?.code ?? error?.message ?? error})\n` +
      'start LocalStack (docker run --rm -p 4566:4566 localstack/localstack) or set AWS_ENDPOINT_URL; see docs/integration-tests.md\n',
  )
  process.exit(2)
}
process.stderr.write(`test:localstack: the aws test project against ${endpoint} (region ${env.AWS_REGION})\n`)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs')
const r = spawnSync(process.execPath, [vitest, 'run', '--project', 'aws', ...process.argv.slice(2)], { cwd: root, env, stdio: 'inherit' })
process.exit(r.status ?? 1)
