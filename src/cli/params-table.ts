// The params columns of `llmwire status` and `llmwire params status`: what a worker holds, and
// each rollout with how many of the model's workers have loaded it.
import type { RolloutStatus } from '../llm/gateway/rollouts.js';
import type { HeldParams } from '../protocol/index.js';

/** `sim@fr:v2 sim@fr:v1(loading)`: each held version, its state when not loaded. */
export function heldColumn(held: readonly HeldParams[]): string {
  if (held.length === 0) return '-';
  return held
    .map((p) => {
      const name = `${p.model}${p.adapter === undefined ? '' : `@${p.adapter}`}:${p.version}`;
      return p.state === 'loaded' ? name : `${name}(${p.state}${p.error ? ` ${p.error}` : ''})`;
    })
    .join(' ');
}

export function rolloutRows(rollouts: readonly RolloutStatus[]): string[][] {
  return [
    ['ROLLOUT', 'VERSION', 'SHARE', 'PREVIOUS', 'LOADED', 'LOADING', 'FAILED', 'SIZE'],
    ...rollouts.map((r) => [
      `${r.model}${r.adapter === null ? '' : `@${r.adapter}`}`,
      r.version,
      `${Math.round(r.share * 1000) / 10}%`,
      r.previous ?? '-',
      `${r.loaded}/${r.workers}`,
      String(r.loading),
      String(r.failed),
      String(r.size),
    ]),
  ];
}
