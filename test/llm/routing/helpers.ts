// Fixtures for the routing tests: crafted worker views, route contexts, a seeded random source
// and a manual clock for admission.
import type { AdmissionClock } from '../../../src/llm/routing/admission.js';
import type { RouteContext, WorkerView } from '../../../src/llm/routing/policy.js';

export function worker(
  id: string,
  state: { inflight?: number; capacity?: number; prefixHashes?: readonly string[] } = {},
): WorkerView {
  return {
    id,
    address: `llm.worker.${id}.chat`,
    models: ['m'],
    capacity: state.capacity ?? 8,
    inflight: state.inflight ?? 0,
    prefixHashes: new Set(state.prefixHashes ?? []),
  };
}

/** The same worker with a different load, as the router's bookkeeping would show it. */
export function withInflight(w: WorkerView, inflight: number): WorkerView {
  return { ...w, inflight };
}

export function ctx(
  state: { sessionKey?: string; prefixHashes?: readonly string[] } = {},
): RouteContext {
  return {
    request: { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
    prefixHashes: state.prefixHashes ?? [],
    sessionKey: state.sessionKey,
  };
}

/** A small deterministic generator, so a failing run can be reproduced from its seed. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** A clock that moves only when told to, firing due timers in time order. */
export class ManualClock implements AdmissionClock {
  private time = 1_000_000;
  private timers: { at: number; fire: () => void; live: boolean }[] = [];

  now(): number {
    return this.time;
  }

  setTimer(delayMs: number, fire: () => void): () => void {
    const timer = { at: this.time + delayMs, fire, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  }

  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const due = this.timers
        .filter((t) => t.live && t.at <= target)
        .sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.live = false;
      this.time = Math.max(this.time, due.at);
      due.fire();
    }
    this.timers = this.timers.filter((t) => t.live);
    this.time = target;
  }
}

/** Lets resolved promises run their callbacks. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
