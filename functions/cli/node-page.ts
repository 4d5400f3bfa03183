/**
 * The live page `parevm node` serves at GET /: the latest blocks with their shards,
 * re-executed transactions, prediction accuracy, stage times and throughput, polled once a
 * second through the node's own JSON-RPC (parevm_blocks, eth_chainId). Self-contained: no
 * scripts or styles from elsewhere.
 */
export const NODE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>parevm node</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d232a; background: #fafbfc; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
  .meta { color: #57606a; margin-bottom: 1rem; }
  .cards { display: flex; gap: 1rem; flex-wrap: wrap; margin-bottom: 1rem; }
  .card { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: .6rem .9rem; min-width: 9rem; }
  .card b { display: block; font-size: 1.3rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { border-bottom: 1px solid #eaeef2; padding: .3rem .5rem; text-align: right; white-space: nowrap; }
  th { background: #f6f8fa; position: sticky; top: 0; }
  td.l, th.l { text-align: left; }
  .bar { display: inline-block; height: .7rem; background: #54aeff; vertical-align: middle; margin-right: 1px; }
  .bar.w { background: #2da44e; } .bar.c { background: #bf8700; } .bar.r { background: #cf222e; }
  .hash { font-family: ui-monospace, monospace; color: #57606a; }
  #status.err { color: #cf222e; }
</style>
</head>
<body>
<h1>parevm node</h1>
<div class="meta">chain id <span id="chain">?</span> &middot; head <span id="head">?</span> &middot; <span id="status">connecting</span></div>
<div class="cards">
  <div class="card">blocks shown<b id="c-blocks">0</b></div>
  <div class="card">transactions<b id="c-txs">0</b></div>
  <div class="card">re-executed<b id="c-reexec">0</b></div>
  <div class="card">prediction (keys)<b id="c-pred">-</b></div>
  <div class="card">throughput (tx/s of pipeline time)<b id="c-tps">-</b></div>
</div>
<table>
  <thead><tr>
    <th>block</th><th>txs</th><th>rejected</th><th>shards</th><th>re-executed</th><th>fully predicted</th>
    <th>pipeline ms</th><th class="l">stages (sequencer / workers / coordinator)</th><th class="l">hash</th>
  </tr></thead>
  <tbody id="blocks"></tbody>
</table>
<script>
(() => {
  let id = 0
  const rpc = async (method, params) => {
    const res = await fetch('/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }) })
    const body = await res.json()
    if (body.error) throw new Error(body.error.message)
    return body.result
  }
  const el = (id) => document.getElementById(id)
  const fmt = (n, d = 0) => Number(n).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
  const cell = (text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td }
  const bar = (ms, cls, scale) => { const s = document.createElement('span'); s.className = 'bar ' + cls; s.style.width = Math.max(1, Math.round(ms * scale)) + 'px'; s.title = cls + ' ' + fmt(ms, 1) + ' ms'; return s }
  async function refresh() {
    try {
      const [chain, head, blocks] = await Promise.all([rpc('eth_chainId', []), rpc('eth_blockNumber', []), rpc('parevm_blocks', ['0x32'])])
      el('chain').textContent = String(parseInt(chain, 16))
      el('head').textContent = String(parseInt(head, 16))
      el('status').textContent = 'live'
      el('status').className = ''
      let txs = 0, reexec = 0, kp = 0, ka = 0, wall = 0
      const tbody = el('blocks')
      const rows = []
      const maxWall = Math.max(1, ...blocks.map((b) => b.wallMs || 0))
      for (const b of blocks.slice().reverse()) {
        txs += b.txs; reexec += b.reexecuted; kp += b.keysPredicted || 0; ka += b.keysActual || 0; wall += b.wallMs || 0
        const tr = document.createElement('tr')
        tr.dataset.block = b.number
        tr.append(cell(b.number), cell(fmt(b.txs)), cell(fmt(b.rejected || 0)), cell(String(b.shards)), cell(fmt(b.reexecuted)),
          cell(b.txs ? fmt(b.txsFullyPredicted) + '/' + fmt(b.txs) : '-'), cell(b.wallMs === undefined ? '-' : fmt(b.wallMs, 1)))
        const stages = cell('', 'l')
        const t = b.timings || {}
        const scale = 240 / maxWall
        stages.append(bar((t.intakeMs || 0) + (t.predictMs || 0) + (t.partitionMs || 0), 's', scale), bar((t.workerPrefetchMsMax || 0) + (t.workerExecuteMsMax || 0), 'w', scale),
          bar((t.loadMs || 0) + (t.validateMs || 0) + (t.reexecuteMs || 0) + (t.stateRootMs || 0) + (t.applyMs || 0) + (t.sealMs || 0), 'c', scale))
        tr.append(stages, cell(b.hash.slice(0, 18) + '…', 'l hash'))
        rows.push(tr)
      }
      tbody.replaceChildren(...rows)
      el('c-blocks').textContent = fmt(blocks.length)
      el('c-txs').textContent = fmt(txs)
      el('c-reexec').textContent = txs ? fmt(reexec) + ' (' + fmt(100 * reexec / txs, 1) + '%)' : '0'
      el('c-pred').textContent = ka ? fmt(100 * kp / ka, 1) + '%' : '-'
      el('c-tps').textContent = wall ? fmt(txs / (wall / 1000)) : '-'
    } catch (error) {
      el('status').textContent = 'disconnected (' + error.message + ')'
      el('status').className = 'err'
    }
  }
  refresh()
  setInterval(refresh, 1000)
})()
</script>
</body>
</html>
`
