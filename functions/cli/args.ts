/** Command-line parsing: node:util parseArgs for the syntax, zod for the values. */
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'

import { z } from 'zod'

import { ConfigError } from '../../shared/errors.ts'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

export function parseCommand<S extends z.ZodType>(argv: string[], options: OptionSpec, schema: S, command: string): z.infer<S> {
  let values: Record<string, unknown>
  let positionals: string[]
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: true, allowNegative: true, strict: true })
    values = parsed.values as Record<string, unknown>
    positionals = parsed.positionals
  } catch (error) {
    throw new ConfigError(`parevm ${command}: ${(error as Error).message}`, { hint: `run: parevm ${command} --help` })
  }
  const result = schema.safeParse({ ...values, positionals })
  if (!result.success) {
    const issue = result.error.issues[0]!
    const name = issue.path.join('.')
    throw new ConfigError(`parevm ${command}: --${name}: ${issue.message}`, { hint: `run: parevm ${command} --help` })
  }
  return result.data
}

/** A number option given as a string on the command line. */
export const intOption = (min: number, max: number) =>
  z.coerce.number({ error: 'expected a number' }).int('expected an integer').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`)

/** A file named on the command line, as text; a clear error naming it where it cannot be read. */
export function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError(`cannot read the ${what} file ${path}: ${(error as Error).message}`)
  }
}

/** A JSON file named on the command line; a clear error where it cannot be read or parsed. */
export function readJsonFile(path: string, what: string): unknown {
  const text = readTextFile(path, what)
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new ConfigError(`the ${what} file ${path} is not JSON: ${(error as Error).message}`)
  }
}
