#!/usr/bin/env node
// The `parevm` command: runs the bundle in dist/ (built by `npm install` or `npm run build`).
import { existsSync } from 'node:fs'

const bundle = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(bundle)) {
  process.stderr.write('parevm: dist/cli.js is missing; run `npm run build` (npm install does it)\n')
  process.exit(2)
}
await import(bundle.href)
