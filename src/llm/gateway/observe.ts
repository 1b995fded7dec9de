// The gateway's observer hooks: what metrics (and tracing) see of each request. Each request's
// RequestObservation (observation.ts) calls them; without an observer it calls nothing, so the
// token path costs one undefined check per token.
// Implementations live in ops/ (GatewayMetrics); several can be combined.
import type { RequestEnd, RequestStart as MetricsStart } from '../../ops/index.js';

export type { RequestEnd };

/** A request whose model is known: what metrics see of it, and its id. */
export interface RequestStart extends MetricsStart {
  requestId: string;
}

/** One request, from admission to its end; `end` is called exactly once. */
export interface RequestObserver {
  /** A slot was granted after `queuedMs` in the admission queue. */
  admitted(queuedMs: number): void;
  /** A worker was picked (again after a failover). */
  attempt(worker: string): void;
  /** `n` token deltas reached the gateway together. */
  tokens(n: number): void;
  /** The worker failed with a code that lets another take over. */
  failover(worker: string, code: string): void;
  end(outcome: RequestEnd): void;
}

export interface GatewayObserver {
  request(start: RequestStart): RequestObserver;
  /** A request refused before its model was known (bad body, no key, unknown route). */
  rejected(endpoint: string, tenant: string, code: string): void;
}

/** One observer that calls each of `observers` in turn. */
export function combineObservers(
  observers: readonly GatewayObserver[],
): GatewayObserver | undefined {
  if (observers.length === 0) return undefined;
  if (observers.length === 1) return observers[0];
  return {
    request(start) {
      const each = observers.map((o) => o.request(start));
      return {
        admitted: (ms) => each.forEach((o) => o.admitted(ms)),
        attempt: (w) => each.forEach((o) => o.attempt(w)),
        tokens: (n) => each.forEach((o) => o.tokens(n)),
        failover: (w, c) => each.forEach((o) => o.failover(w, c)),
        end: (e) => each.forEach((o) => o.end(e)),
      };
    },
    rejected: (endpoint, tenant, code) =>
      observers.forEach((o) => o.rejected(endpoint, tenant, code)),
  };
}
