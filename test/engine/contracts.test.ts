import { describe, expect, it } from 'vitest'

import committed from '../../shared/workload/contracts/artifacts.json' with { type: 'json' }
import { compileContracts } from '../../scripts/compile-contracts.ts'

describe('workload contracts', () => {
  it('the committed artefacts are what solc 0.8.37 compiles from the committed sources', () => {
    const fresh = compileContracts()
    expect(fresh.compiler).toBe(committed.compiler)
    expect(Object.keys(fresh.contracts).sort()).toEqual(Object.keys(committed.contracts).sort())
    for (const [name, artifact] of Object.entries(fresh.contracts)) {
      const stored = (committed.contracts as Record<string, { bytecode: string; deployedBytecode: string }>)[name]!
      expect(artifact.bytecode, `${name} bytecode`).toBe(stored.bytecode)
      expect(artifact.deployedBytecode, `${name} runtime bytecode`).toBe(stored.deployedBytecode)
    }
  })
})
