import { MerklePatriciaTrie } from '@ethereumjs/mpt'
import { MerkleTrie, orderedTrieRoot } from './shared/trie/mpt.ts'
import { toHex } from './shared/hex.ts'
import { keccak256 } from './shared/crypto/keccak.ts'
import { RLP } from '@ethereumjs/rlp'
let seed = 1; const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
for (let round = 0; round < 30; round++) {
  const ref = new MerklePatriciaTrie(); const mine = new MerkleTrie()
  const keys: Uint8Array[] = []
  const n = Math.floor(rnd() * 300) + 1
  for (let i = 0; i < n; i++) {
    const klen = round % 3 === 0 ? 32 : 1 + Math.floor(rnd() * 4)
    const k = Uint8Array.from({ length: klen }, () => Math.floor(rnd() * (round % 2 ? 4 : 256)))
    const v = Uint8Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256))
    await ref.put(k, v); mine.put(k, v); keys.push(k)
    if (rnd() < 0.3) { const d = keys[Math.floor(rnd() * keys.length)]!; await ref.del(d); mine.del(d) }
  }
  const live = new Map<string, Uint8Array>(); for (const k of keys) { const v = mine.get(k); if (v) live.set(toHex(k), v) }
  const rebuilt = new MerklePatriciaTrie(); for (const k of keys) { const v = mine.get(k); if (v) await rebuilt.put(k, v) }
  if (toHex(rebuilt.root()) !== toHex(mine.root())) { console.log('MISMATCH', round); process.exit(1) }
}
console.log('random tries match')
const vals = Array.from({ length: 300 }, (_, i) => RLP.encode([i, 'x'.repeat(i % 50)]))
const r = new MerklePatriciaTrie(); for (let i = 0; i < vals.length; i++) await r.put(RLP.encode(i), vals[i]!)
console.log('ordered', toHex(r.root()) === toHex(orderedTrieRoot(vals)))
// speed: 10k accounts
const t = new MerkleTrie(); let t0 = performance.now()
for (let i = 0; i < 10000; i++) t.put(keccak256(Uint8Array.of(i & 255, i >> 8, 1)), RLP.encode([i, 10n ** 18n, new Uint8Array(32), new Uint8Array(32)]))
const t1 = performance.now(); t.root(); const t2 = performance.now()
for (let i = 0; i < 10000; i++) t.put(keccak256(Uint8Array.of(i & 255, i >> 8, 1)), RLP.encode([i + 1, 10n ** 18n, new Uint8Array(32), new Uint8Array(32)]))
t.root(); const t3 = performance.now()
console.log('10k insert ms', (t1 - t0).toFixed(1), 'root ms', (t2 - t1).toFixed(1), 'update+root ms', (t3 - t2).toFixed(1))
