import { buildGenesis, parseGenesis } from './shared/chain/genesis.ts'
import { EmbeddedCluster } from './shared/cluster/embedded.ts'
import { generateWorkload } from './shared/workload/generator.ts'
const threads = process.argv[2] === 'threads'
const mix = (process.argv[3] ?? 'mixed') as never
let t = performance.now()
const w = generateWorkload({ txs: 600, mix, accounts: 200, hotShare: 0.1, pools: 20, seed: 1 })
console.log('generate ms', (performance.now() - t).toFixed(0))
t = performance.now()
const genesis = buildGenesis(parseGenesis(w.genesis))
console.log('genesis ms', (performance.now() - t).toFixed(0))
const cluster = await EmbeddedCluster.start({ genesis, workers: 2, threads, blockSize: 200, verify: true })
await cluster.submit(w.rawTxs)
const summary = await cluster.runUntilIdle((e) => console.log('block', e.sealed.record.number, 'txs', e.sealed.report.included, 'reexec', e.sealed.report.reexecuted, 'pred', e.sealed.report.prediction.txsFullyPredicted, 'rej', e.sealed.rejections.length, 'ms', e.wallMs.toFixed(0), 'verify', e.verify?.ok, e.verify?.ms.toFixed(0)))
console.log(summary)
await cluster.stop()
