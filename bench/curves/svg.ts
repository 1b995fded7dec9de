// A line chart as a standalone SVG file: log-scale x axis (a 0 gets its own tick left of the
// first decade), linear or log y axis, one line with markers per series, baselines dashed,
// axis labels and a legend. White background and fixed fonts, so it reads on a GitHub page in
// light and dark themes alike.

export interface Series {
  name: string;
  /** [x, y] pairs; NaN or missing y leaves a gap. */
  points: readonly (readonly [number, number])[];
  /** Drawn dashed and grey-toned: the same-run baseline (or a reference line). */
  baseline?: boolean;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Log-scale y axis (for latencies spanning decades); default linear from 0. */
  logY?: boolean;
}

const W = 760;
const H = 420;
const M = { left: 78, right: 24, top: 44, bottom: 58 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const BASE_COLORS = ['#555555', '#999999', '#777777'];
const MARKERS = ['circle', 'square', 'triangle', 'diamond'] as const;

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Short tick label: 1, 16, 1k, 4k, 1M, 256 KiB-style values stay plain numbers. */
export function tickText(v: number): string {
  const abs = Math.abs(v);
  const trim = (x: number) => (x >= 10 ? x.toFixed(0) : x.toFixed(1).replace(/\.0$/, ''));
  if (abs >= 1e9) return `${trim(v / 1e9)}G`;
  if (abs >= 1e6) return `${trim(v / 1e6)}M`;
  if (abs >= 1e3) return `${trim(v / 1e3)}k`;
  if (abs === 0) return '0';
  return abs < 1 ? String(Number(v.toPrecision(2))) : trim(v);
}

interface Axis {
  pos(v: number): number;
  ticks: { v: number; label: string }[];
}

/** Log x over the distinct x values; 0 sits one step left of the smallest positive value. */
function xAxis(xs: number[], label: (v: number) => string): Axis {
  const positive = xs.filter((x) => x > 0);
  const lo = Math.log10(Math.min(...positive));
  const hi = Math.log10(Math.max(...positive));
  const hasZero = xs.some((x) => x === 0);
  const step = Math.max((hi - lo) / 8, 0.3);
  const from = hasZero ? lo - step : lo;
  const span = Math.max(hi - from, 1e-9);
  const pos = (v: number) => {
    const l = v > 0 ? Math.log10(v) : lo - step;
    return M.left + ((l - from) / span) * PW;
  };
  const distinct = [...new Set(xs)].sort((a, b) => a - b);
  return { pos, ticks: distinct.map((v) => ({ v, label: label(v) })) };
}

function niceStep(range: number): number {
  const raw = range / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
}

function yAxis(ys: number[], log: boolean): Axis {
  if (log) {
    const positive = ys.filter((y) => y > 0);
    const lo = Math.floor(Math.log10(Math.min(...positive)));
    const hi = Math.ceil(Math.log10(Math.max(...positive)));
    const top = hi === lo ? lo + 1 : hi;
    const pos = (v: number) => M.top + PH - ((Math.log10(v) - lo) / (top - lo)) * PH;
    const ticks = [];
    for (let e = lo; e <= top; e++) ticks.push({ v: 10 ** e, label: tickText(10 ** e) });
    return { pos, ticks };
  }
  const max = Math.max(...ys, 0) || 1;
  const step = niceStep(max);
  const top = Math.ceil((max * 1.05) / step) * step;
  const pos = (v: number) => M.top + PH - (v / top) * PH;
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push({ v, label: tickText(v) });
  return { pos, ticks };
}

function marker(kind: (typeof MARKERS)[number], x: number, y: number, color: string): string {
  const f = `fill="${color}" stroke="#ffffff" stroke-width="1"`;
  switch (kind) {
    case 'circle':
      return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4" ${f}/>`;
    case 'square':
      return `<rect x="${(x - 3.6).toFixed(1)}" y="${(y - 3.6).toFixed(1)}" width="7.2" height="7.2" ${f}/>`;
    case 'triangle':
      return `<path d="M${x.toFixed(1)} ${(y - 5).toFixed(1)} l4.5 8 h-9 z" ${f}/>`;
    case 'diamond':
      return `<path d="M${x.toFixed(1)} ${(y - 5).toFixed(1)} l5 5 l-5 5 l-5 -5 z" ${f}/>`;
  }
}

/** Splits a series at gaps (NaN or non-positive on a log axis) into drawable runs. */
function runs(points: readonly (readonly [number, number])[], logY: boolean) {
  const out: (readonly [number, number])[][] = [[]];
  for (const p of points) {
    if (!Number.isFinite(p[1]) || (logY && p[1] <= 0)) out.push([]);
    else out[out.length - 1]!.push(p);
  }
  return out.filter((r) => r.length > 0);
}

export function renderChart(chart: Chart, xLabel: (v: number) => string = tickText): string {
  const all = chart.series.flatMap((s) => s.points);
  const logY = chart.logY === true;
  const ys = all.map((p) => p[1]).filter((y) => Number.isFinite(y) && (!logY || y > 0));
  const x = xAxis(
    all.map((p) => p[0]),
    xLabel,
  );
  const y = yAxis(ys.length > 0 ? ys : [1], logY);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold" fill="#111111">${esc(chart.title)}</text>`,
  ];
  for (const t of y.ticks) {
    const py = y.pos(t.v).toFixed(1);
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`,
      `<text x="${M.left - 8}" y="${py}" dy="4" text-anchor="end" fill="#333333">${esc(t.label)}</text>`,
    );
  }
  for (const t of x.ticks) {
    const px = x.pos(t.v).toFixed(1);
    out.push(
      `<line x1="${px}" x2="${px}" y1="${M.top}" y2="${M.top + PH}" stroke="#f0f0f0"/>`,
      `<text x="${px}" y="${M.top + PH + 18}" text-anchor="middle" fill="#333333">${esc(t.label)}</text>`,
    );
  }
  out.push(
    `<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#888888"/>`,
    `<text x="${M.left + PW / 2}" y="${H - 14}" text-anchor="middle" fill="#111111">${esc(chart.xLabel)}</text>`,
    `<text transform="translate(18 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle" fill="#111111">${esc(chart.yLabel)}</text>`,
  );
  let lead = 0;
  let base = 0;
  chart.series.forEach((s, i) => {
    const color = s.baseline
      ? BASE_COLORS[base++ % BASE_COLORS.length]!
      : COLORS[lead++ % COLORS.length]!;
    const kind = MARKERS[i % MARKERS.length]!;
    const dash = s.baseline ? ' stroke-dasharray="6 4"' : '';
    for (const run of runs(s.points, logY)) {
      const d = run.map((p) => `${x.pos(p[0]).toFixed(1)},${y.pos(p[1]).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      for (const p of run) out.push(marker(kind, x.pos(p[0]), y.pos(p[1]), color));
    }
    // Legend: top-left inside the plot, one row per series.
    const ly = M.top + 14 + i * 18;
    const lx = M.left + 12;
    out.push(
      `<rect x="${lx - 6}" y="${ly - 11}" width="${Math.min(PW - 12, 40 + s.name.length * 6.4)}" height="17" fill="#ffffff" fill-opacity="0.85"/>`,
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly - 3}" y2="${ly - 3}" stroke="${color}" stroke-width="2"${dash}/>`,
      marker(kind, lx + 12, ly - 3, color),
      `<text x="${lx + 32}" y="${ly + 1}" fill="#111111">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
