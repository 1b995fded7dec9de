// The dashboard page: one HTML document with its CSS and JS inline (no build step, nothing
// fetched from elsewhere). It reads /dashboard/feed with EventSource and renders every value
// through textContent or SVG attributes, never as HTML, so names from outside cannot inject.
const CSS = `
:root{--bg:#0f1419;--panel:#171d24;--line:#2a333d;--text:#d8dee6;--dim:#8a96a3;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--p50:#58a6ff;--p90:#d29922;--p99:#f85149}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--text)}
header{display:flex;align-items:center;gap:16px;padding:12px 20px;border-bottom:1px solid var(--line)}
h1{font-size:18px;margin:0}h2{font-size:14px;margin:0 0 8px;color:var(--dim);text-transform:uppercase;letter-spacing:.05em}
#status{font-size:12px;padding:2px 8px;border-radius:10px;background:var(--line)}#status.live{background:#1f3d2a;color:var(--ok)}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px;padding:16px 20px}
section{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:12px 14px;overflow:auto}
.cards{display:flex;gap:12px;flex-wrap:wrap;grid-column:1/-1}.card{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:140px}
.card b{display:block;font-size:22px}.card span{color:var(--dim);font-size:12px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
th{color:var(--dim);font-weight:500;font-size:12px}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ready{color:var(--ok)}.draining{color:var(--warn)}.stopped{color:var(--bad)}.empty{color:var(--dim);font-style:italic}
.bar{display:inline-block;height:8px;background:var(--p50);vertical-align:middle;margin-left:6px;border-radius:2px}
h2 span{text-transform:none;letter-spacing:0;color:var(--text);margin-left:8px}.wide{grid-column:1/-1}
svg{width:100%;height:180px;display:block}svg text{fill:var(--dim);font-size:10px}.legend span{margin-right:12px;font-size:12px}
`;

const JS = `
'use strict';
const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
function fmt(n, digits) { if (n === null || n === undefined) return '-'; return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits ?? 0 }); }
function table(id, headers, rows, empty) {
  const t = $(id); t.replaceChildren();
  const head = el('tr'); for (const h of headers) head.append(el('th', h)); t.append(head);
  if (rows.length === 0) { const r = el('tr'); const c = el('td', empty, 'empty'); c.colSpan = headers.length; r.append(c); t.append(r); return; }
  for (const cells of rows) {
    const r = el('tr');
    for (const c of cells) { const td = typeof c === 'object' && c !== null && c.node ? c.node : el('td', c === null ? '-' : c, typeof c === 'number' ? 'n' : ''); r.append(td); }
    t.append(r);
  }
}
function cell(node) { return { node }; }
function chart(id, points) {
  const svg = $(id); svg.replaceChildren();
  const W = 600, H = 180, L = 44, B = 18;
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  const vals = points.flatMap((p) => [p.p50, p.p90, p.p99]).filter((v) => v !== null);
  const max = Math.max(1, ...vals) * 1.1;
  const n = Math.max(points.length - 1, 1);
  const x = (i) => L + ((W - L - 4) * i) / n;
  const y = (v) => H - B - ((H - B - 6) * v) / max;
  for (const f of [0, 0.5, 1]) {
    const ln = document.createElementNS(SVG, 'line');
    ln.setAttribute('x1', L); ln.setAttribute('x2', W); ln.setAttribute('y1', y(max * f / 1.1)); ln.setAttribute('y2', y(max * f / 1.1)); ln.setAttribute('stroke', '#2a333d');
    const tx = document.createElementNS(SVG, 'text'); tx.setAttribute('x', 2); tx.setAttribute('y', y(max * f / 1.1) + 3); tx.textContent = fmt(max * f / 1.1, 1) + ' ms';
    svg.append(ln, tx);
  }
  const label = document.createElementNS(SVG, 'text'); label.setAttribute('x', L); label.setAttribute('y', H - 4);
  label.textContent = points.length ? points.length + ' s' : 'no data yet'; svg.append(label);
  for (const [key, color] of [['p50', '#58a6ff'], ['p90', '#d29922'], ['p99', '#f85149']]) {
    let d = ''; let pen = false;
    points.forEach((p, i) => { const v = p[key]; if (v === null) { pen = false; return; } d += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1) + ' '; pen = true; });
    if (!d) continue;
    const path = document.createElementNS(SVG, 'path'); path.setAttribute('d', d); path.setAttribute('fill', 'none'); path.setAttribute('stroke', color); path.setAttribute('stroke-width', '1.5');
    path.setAttribute('data-series', key); svg.append(path);
  }
}
function last(points) { for (let i = points.length - 1; i >= 0; i--) if (points[i].p50 !== null) return points[i]; return null; }
function render(s) {
  $('requests').textContent = fmt(s.totals.requests); $('rps').textContent = fmt(s.totals.requestsPerSec, 1);
  $('tps').textContent = fmt(s.totals.tokensPerSec); $('inflight').textContent = fmt(s.totals.inflight);
  $('errors').textContent = fmt(s.totals.errors); $('nworkers').textContent = fmt(s.workers.length);
  const peak = Math.max(1, ...s.workers.map((w) => w.capacity));
  table('workers', ['worker', 'status', 'models', 'load', 'tokens/s', 'tokens', 'last beat'], s.workers.map((w) => {
    const load = el('td', w.inflight + ' / ' + w.capacity, 'n'); const bar = el('span', undefined, 'bar'); bar.style.width = Math.round(60 * w.inflight / peak) + 'px'; load.append(bar);
    return [w.id, cell(el('td', w.status, w.status)), w.models.join(', '), cell(load), w.tokensPerSec, w.tokens, fmt(w.lastSeenMs) + ' ms'];
  }), 'no workers');
  table('models', ['model', 'APIs', 'slots', 'running', 'queued'], s.models.map((m) => [m.model, (m.apis || []).join(', '), m.capacity, m.inflight, m.queued]), 'no models');
  table('queues', ['queue', 'ready', 'delayed', 'leased', 'dead letters', 'delivered/s', 'retried/s', 'rejected'],
    s.queues.map((q) => [q.queue, q.ready, q.delayed, q.leased, q.dead, q.deliveredPerSec, q.retriedPerSec, q.rejected]), 'no durable queues watched');
  chart('ttft', s.latency.ttft); chart('itl', s.latency.itl);
  const t = last(s.latency.ttft); $('ttft-now').textContent = t ? 'p50 ' + fmt(t.p50, 1) + ' ms, p99 ' + fmt(t.p99, 1) + ' ms' : '';
  const i = last(s.latency.itl); $('itl-now').textContent = i ? 'p50 ' + fmt(i.p50, 2) + ' ms, p99 ' + fmt(i.p99, 2) + ' ms' : '';
  table('recent', ['time', 'code', 'endpoint', 'model', 'tenant'], s.errors.map((e) => [new Date(e.time).toLocaleTimeString(), e.code, e.endpoint, e.model, e.tenant]), 'no errors');
  $('updated').textContent = 'updated ' + new Date(s.time).toLocaleTimeString();
}
const feed = new EventSource('/dashboard/feed' + location.search);
feed.onopen = () => { $('status').textContent = 'live'; $('status').className = 'live'; };
feed.onerror = () => { $('status').textContent = 'reconnecting'; $('status').className = ''; };
feed.onmessage = (ev) => { try { render(JSON.parse(ev.data)); } catch (err) { console.error(err); } };
`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>llmwire dashboard</title><style>${CSS}</style></head>
<body>
<header><h1>llmwire</h1><span id="status">connecting</span><span id="updated" class="empty"></span></header>
<main>
<div class="cards">
<div class="card"><b id="requests">-</b><span>requests</span></div>
<div class="card"><b id="rps">-</b><span>requests/s</span></div>
<div class="card"><b id="tps">-</b><span>tokens/s</span></div>
<div class="card"><b id="inflight">-</b><span>in flight</span></div>
<div class="card"><b id="errors">-</b><span>errors</span></div>
<div class="card"><b id="nworkers">-</b><span>workers</span></div>
</div>
<section class="wide"><h2>Workers</h2><table id="workers"></table></section>
<section class="wide"><h2>Admission queues</h2><table id="models"></table><h2 style="margin-top:14px">Durable queues</h2><table id="queues"></table></section>
<section><h2>Time to first token <span id="ttft-now"></span></h2><svg id="ttft" role="img" aria-label="time to first token percentiles"></svg>
<div class="legend"><span style="color:var(--p50)">p50</span><span style="color:var(--p90)">p90</span><span style="color:var(--p99)">p99</span></div></section>
<section><h2>Inter-token latency <span id="itl-now"></span></h2><svg id="itl" role="img" aria-label="inter-token latency percentiles"></svg>
<div class="legend"><span style="color:var(--p50)">p50</span><span style="color:var(--p90)">p90</span><span style="color:var(--p99)">p99</span></div></section>
<section class="wide"><h2>Recent errors</h2><table id="recent"></table></section>
</main>
<script>${JS}</script>
</body></html>
`;
