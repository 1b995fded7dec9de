// Writes a sweep's chart to bench/charts/NAME.svg and hands it, with its points as a table and
// what it showed, to the group's section of BENCHMARKS.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { GroupContext } from '../group.js';
import { renderChart, tickText, type Chart } from './svg.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CHARTS_DIR = 'bench/charts';

export interface Published {
  name: string;
  chart: Chart;
  notes: string;
  head: string[];
  rows: string[][];
  /** Tick labels of the x axis (default: 1, 16, 1k, ...). */
  xTicks?: (v: number) => string;
}

export function publish(ctx: GroupContext, p: Published): void {
  const file = `${CHARTS_DIR}/${p.name}.svg`;
  mkdirSync(`${ROOT}${CHARTS_DIR}`, { recursive: true });
  writeFileSync(`${ROOT}${file}`, renderChart(p.chart, p.xTicks ?? tickText));
  ctx.charts.push({ file, title: p.chart.title, notes: p.notes, head: p.head, rows: p.rows });
  ctx.log(`wrote ${file}`);
}

/** Bytes as 64 B, 1 KiB, 16 KiB, 1 MiB. */
export function sizeText(bytes: number): string {
  if (bytes >= 2 ** 20) return `${bytes / 2 ** 20} MiB`;
  if (bytes >= 1024) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** A figure with three significant digits, or '—' when it was not measured. */
export function fig(v: number | undefined, digits = 3): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (Math.abs(v) >= 10 ** digits) return Math.round(v).toLocaleString('en');
  return String(Number(v.toPrecision(digits)));
}

/** Least-squares slope of y over x. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}
