import { configDefaults, defineConfig } from 'vitest/config'

/** Tests that talk to AWS APIs (local servers, or whatever endpoint is configured). */
const AWS_TESTS = 'test/**/*.aws.test.ts'

export default defineConfig({
  test: {
    // Worker threads and native modules: separate processes are the robust choice.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, AWS_TESTS] },
      },
      {
        // Its globalSetup starts DynamoDB Local and local-aws-sqs only when one of these files
        // runs and no AWS endpoint is configured (test/setup/aws-global-setup.ts).
        extends: true,
        test: { name: 'aws', include: [AWS_TESTS], globalSetup: ['test/setup/aws-global-setup.ts'] },
      },
    ],
  },
})
