import { describe, expect, it } from 'vitest'

import { CONTEXT_KEYS, readDeployConfig } from '../../infra/config.ts'
import { ConfigError } from '../../shared/errors.ts'

const fromContext = (context: Record<string, unknown>) => readDeployConfig((key) => context[key])

function configError(context: Record<string, unknown>): ConfigError {
  try {
    fromContext(context)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('deployment parameters from CDK context', () => {
  it('has defaults for every key', () => {
    const config = fromContext({})
    expect(config).toMatchObject({ prefix: 'parevm', shards: 8, blockSize: 1000, blockIntervalSec: 2, instanceType: 'g4dn.xlarge', minWorkers: 1, maxWorkers: 8, chainId: 7777, hardfork: 'cancun', dataRemoval: 'destroy' })
    expect(config.alarmEmail).toBeUndefined()
    expect(CONTEXT_KEYS).toContain('shards')
  })

  it('accepts -c strings and cdk.json numbers alike', () => {
    const fromCli = fromContext({ shards: '16', maxWorkers: '32', minWorkers: '2', chainId: '1337', instanceType: 'g5.2xlarge', blockSize: ' 500 ' })
    const fromJson = fromContext({ shards: 16, maxWorkers: 32, minWorkers: 2, chainId: 1337, instanceType: 'g5.2xlarge', blockSize: 500 })
    expect(fromCli).toEqual(fromJson)
    expect(fromCli).toMatchObject({ shards: 16, maxWorkers: 32, minWorkers: 2, chainId: 1337, blockSize: 500 })
  })

  it('names every bad key with the value given, at once', () => {
    const error = configError({ shards: 'many', maxWorkers: '0', instanceType: 'm5.large', hardfork: 'homer' })
    for (const fragment of ['-c shards="many"', '-c maxWorkers="0"', '-c instanceType="m5.large"', 'NVIDIA GPU instance type', '-c hardfork="homer"']) {
      expect(error.message).toContain(fragment)
    }
    expect(error.hint).toContain('cdk deploy -c')
  })

  it('rejects fractions, out-of-range values and an inverted worker range', () => {
    expect(configError({ shards: '2.5' }).message).toContain('-c shards="2.5": expected an integer 1..256')
    expect(configError({ shards: 0 }).message).toContain('-c shards=0')
    expect(configError({ blockIntervalSec: '61' }).message).toContain('blockIntervalSec')
    expect(configError({ minWorkers: 0 }).message).toContain('-c minWorkers=0')
    expect(configError({ minWorkers: '4', maxWorkers: '2' }).message).toContain('-c maxWorkers="2": must be at least minWorkers (4)')
    expect(configError({ prefix: 'Parevm_1' }).message).toContain('-c prefix="Parevm_1"')
    expect(configError({ alarmEmail: 'ops' }).message).toContain('-c alarmEmail="ops": expected an e-mail address')
    expect(configError({ dataRemoval: 'keep' }).message).toContain('expected destroy or retain')
  })

  it('accepts every NVIDIA x86 family and refuses Graviton GPUs', () => {
    for (const type of ['g4dn.xlarge', 'g5.xlarge', 'g6.2xlarge', 'g6e.xlarge', 'p3.2xlarge', 'p4d.24xlarge', 'p5.48xlarge']) {
      expect(fromContext({ instanceType: type }).instanceType).toBe(type)
    }
    expect(configError({ instanceType: 'g5g.xlarge' }).message).toContain('g5g.xlarge')
  })
})
