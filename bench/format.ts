// Number formatting shared by the console output and BENCHMARKS.md.
import type { Target } from './harness.js';

function si(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (abs >= 1e3) return `${(value / 1e3).toFixed(2)}k`;
  return value.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2);
}

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return `n/a ${unit}`;
  if (unit === 'bytes') return `${Math.round(value)} bytes`;
  if (unit === 'µs') return `${value.toFixed(value >= 100 ? 0 : 1)} µs`;
  return `${si(value)} ${unit}`;
}

export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return 'n/a';
  return `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}x`;
}

export function formatSpread(spread: number | null): string {
  return spread === null ? '—' : `±${Math.round((spread * 100) / 2)}%`;
}

export function formatTarget(target: Target | null, unit: string): string {
  if (target === null) return '—';
  const show = (n: number) => (target.on === 'ratio' ? formatRatio(n) : formatValue(n, unit));
  const bounds = [
    ...(target.min === undefined ? [] : [`≥ ${show(target.min)}`]),
    ...(target.max === undefined ? [] : [`≤ ${show(target.max)}`]),
  ].join(' and ');
  const text = target.on === 'added' ? `added ${bounds}` : bounds;
  return target.note === undefined ? text : `${text} (${target.note})`;
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(0)} MiB`;
  return `${n} bytes`;
}
