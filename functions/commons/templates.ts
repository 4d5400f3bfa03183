/**
 * Learned prediction templates, shared between the coordinator (which learns them from what
 * each call really touched) and the sequencer (which predicts with them) through one item of
 * the meta table: meta / templates / - (JSON, version = the block that last changed them).
 * In the embedded cluster both roles share one in-memory registry; on AWS they are separate
 * functions, and without this the sequencer would never learn (more mispredicted keys, more
 * remote reads on the workers, more re-execution - never a wrong result).
 */
import { STORE_LIMITS, type ItemKey, type KeyValueStore } from '../../shared/ports/kv-store.ts'

import type { Template, TemplateRegistry } from '../../shared/predict/templates.ts'

const KEY: ItemKey = { table: 'meta', pk: 'templates', sk: '-' }
/** Leave room under DynamoDB's 400 KB item limit for keys and attributes. */
export const TEMPLATES_BYTES_MAX = STORE_LIMITS.itemBytes - 16 * 1024

export type TemplateSaveResult = 'saved' | 'unchanged' | 'too-large'

/** The coordinator's side: save the registry if it changed since `last` (returns the new text). */
export async function saveTemplates(kv: KeyValueStore, registry: TemplateRegistry, block: bigint, last: string | undefined): Promise<{ result: TemplateSaveResult; text: string }> {
  const text = JSON.stringify(registry.toJSON())
  if (text === last) return { result: 'unchanged', text }
  const value = new TextEncoder().encode(text)
  if (value.length > TEMPLATES_BYTES_MAX) return { result: 'too-large', text }
  await kv.write([{ op: 'put', item: { ...KEY, value, version: Number(block) } }])
  return { result: 'saved', text }
}

/** The sequencer's side: load the templates if the stored ones are newer than `version`. */
export async function loadTemplates(kv: KeyValueStore, registry: TemplateRegistry, version: number): Promise<number> {
  const [item] = await kv.get([KEY])
  if (item === undefined || item.version <= version) return version
  registry.load(JSON.parse(new TextDecoder().decode(item.value)) as Record<string, Template>)
  return item.version
}
