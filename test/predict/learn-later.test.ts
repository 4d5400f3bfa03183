import { describe, expect, it } from 'vitest'

import { TemplateRegistry } from '../../shared/predict/templates.ts'

const TOKEN = '0a'.repeat(20)
const call = (selector: string) => ({ caller: '01'.repeat(20), to: TOKEN, data: Uint8Array.from(Buffer.from(selector + '00'.repeat(32), 'hex')) })

describe('TemplateRegistry.learnLater', () => {
  it('a queued lesson is applied before the next read, in order, and not twice', () => {
    const registry = new TemplateRegistry()
    const order: string[] = []
    registry.learnLater(() => {
      order.push('first')
      registry.learn(call('a9059cbb'), [TOKEN], [TOKEN], 50_000)
    })
    registry.learnLater(() => {
      order.push('second')
      registry.learn(call('23b872dd'), [TOKEN], [], 40_000)
    })
    expect(order).toEqual([])
    // A read applies every queued lesson first.
    expect(registry.predict(call('a9059cbb'))?.writes).toEqual([TOKEN])
    expect(order).toEqual(['first', 'second'])
    expect(registry.size).toBe(2)
    expect(registry.stats.learned).toBe(2)
    expect(order).toEqual(['first', 'second'])
  })

  it('a direct learn waits for the queued lessons before it (the order of lessons is kept)', () => {
    const registry = new TemplateRegistry()
    registry.learnLater(() => registry.learn(call('a9059cbb'), [TOKEN], [], 1))
    registry.learn(call('a9059cbb'), [TOKEN], [TOKEN], 2)
    // Queued first (read-only), then the direct one (a write): the template ends with the write.
    expect(registry.predict(call('a9059cbb'))?.writes).toEqual([TOKEN])
    expect(registry.stats).toEqual({ learned: 1, relearned: 1 })
  })

  it('with nothing reading, the lessons run when the thread is idle', async () => {
    const registry = new TemplateRegistry()
    let ran = false
    registry.learnLater(() => {
      ran = true
    })
    expect(ran).toBe(false)
    await new Promise((resolve) => setImmediate(resolve))
    expect(ran).toBe(true)
  })

  it('clear() drops queued lessons too (cold benchmark runs)', () => {
    const registry = new TemplateRegistry()
    registry.learnLater(() => registry.learn(call('a9059cbb'), [TOKEN], [], 1))
    registry.clear()
    expect(registry.size).toBe(0)
  })
})
