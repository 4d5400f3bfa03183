/**
 * Where the mainnet block fixtures live: `test/fixtures/mainnet-blocks/` in the repository (47
 * blocks, see its README.md). Found by walking up from this module, so the same answer comes
 * from the TypeScript sources (`shared/replay/`) and from the bundle (`dist/cli.js`).
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** The fixtures folder relative to the repository root. */
export const MAINNET_FIXTURES_PATH = join('test', 'fixtures', 'mainnet-blocks')

/** The repository's fixtures folder, or undefined when this copy has none (a bundle on its own). */
export function mainnetFixturesDir(from: string = import.meta.dirname): string | undefined {
  let dir = from
  for (;;) {
    const candidate = join(dir, MAINNET_FIXTURES_PATH)
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}
