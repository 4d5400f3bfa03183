/**
 * Template learning after a seal: teach the prediction templates what mispredicted calls
 * actually touched - at most LEARN_PER_TEMPLATE_PER_BLOCK calls of each (contract, selector)
 * per block (the first one usually fixes the template, and learning a call costs hundreds of
 * hashes). The lesson is queued (`TemplateRegistry.learnLater`): it runs when the coordinator's
 * thread is next idle, or before the templates are next read, so it is not on the seal's path.
 */
import { toHex } from '../hex.ts'
import { txFieldsFromRaw } from '../intake/tx-fields.ts'
import { learnFromExecution, type TemplateRegistry } from '../predict/templates.ts'

import type { Mispredicted } from './settle.ts'

const LEARN_PER_TEMPLATE_PER_BLOCK = 2

export function learnTemplates(templates: TemplateRegistry, mispredicted: readonly Mispredicted[], coinbaseHex: string): void {
  if (mispredicted.length === 0) return
  // Off the seal's critical path: it runs when the thread is next idle, or before the next read.
  templates.learnLater(() => learnNow(templates, mispredicted, coinbaseHex))
}

function learnNow(templates: TemplateRegistry, mispredicted: readonly Mispredicted[], coinbaseHex: string): void {
  const coinbase = coinbaseHex.slice(2).toLowerCase()
  const learned = new Map<string, number>()
  for (const { planned, exec } of mispredicted) {
    if (!exec.valid) continue
    const to = planned.fields.to
    if (to === undefined) continue
    // The calldata is read from the raw transaction here, for mispredicted calls only.
    const data = txFieldsFromRaw(planned.raw).data
    if (data.length < 4) continue
    const id = `${toHex(to)}:${toHex(data.subarray(0, 4))}`
    const count = learned.get(id) ?? 0
    if (count >= LEARN_PER_TEMPLATE_PER_BLOCK) continue
    learned.set(id, count + 1)
    learnFromExecution(templates, { caller: toHex(planned.sender), to: toHex(to), data }, exec.access, Number(exec.gasUsed), coinbase)
  }
}
