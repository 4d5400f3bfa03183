/** Entry point of the `parevm` command (bundled to dist/cli.js). */
import { cli } from './cli/main.ts'

await cli(process.argv.slice(2))
