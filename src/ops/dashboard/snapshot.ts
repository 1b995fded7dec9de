// What the dashboard shows, built once a second from the gateway's metrics: workers with their
// tokens/s, admission and durable queues with their rates, latency percentiles over time, and
// the most recent errors.
import type { GatewayMetrics, RecentError } from '../metrics-gateway.js';
import { delta, quantile, type BucketCounts } from '../metrics-histogram.js';

export interface LatencyPoint {
  /** ms since the epoch. */
  t: number;
  /** Milliseconds; null when nothing was observed in that second. */
  p50: number | null;
  p90: number | null;
  p99: number | null;
  count: number;
}

export interface Snapshot {
  time: number;
  totals: {
    requests: number;
    errors: number;
    inflight: number;
    requestsPerSec: number;
    tokensPerSec: number;
  };
  workers: {
    id: string;
    status: string;
    models: readonly string[];
    capacity: number;
    inflight: number;
    tokensPerSec: number;
    tokens: number;
    lastSeenMs: number;
    heartbeats: number;
  }[];
  models: { model: string; capacity: number; inflight: number; queued: number; apis?: string[] }[];
  queues: {
    queue: string;
    ready: number | null;
    delayed: number | null;
    leased: number | null;
    dead: number | null;
    deliveredPerSec: number;
    retriedPerSec: number;
    rejected: number;
  }[];
  latency: { ttft: LatencyPoint[]; itl: LatencyPoint[] };
  errors: RecentError[];
}

const ms = (s: number | undefined) => (s === undefined ? null : Math.round(s * 100_000) / 100);

function point(t: number, window: BucketCounts): LatencyPoint {
  return {
    t,
    p50: ms(quantile(0.5, window)),
    p90: ms(quantile(0.9, window)),
    p99: ms(quantile(0.99, window)),
    count: window.count,
  };
}

/** Keeps the previous reading of every counter so each snapshot carries per-second rates. */
export class SnapshotBuilder {
  private readonly ttft: LatencyPoint[] = [];
  private readonly itl: LatencyPoint[] = [];
  private prevTtft: BucketCounts | undefined;
  private prevItl: BucketCounts | undefined;
  private prevAt = 0;
  private prevRequests = 0;
  private prevTokens = new Map<string, number>();
  private prevQueue = new Map<string, { delivered: number; retried: number }>();

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly historyPoints: number,
  ) {}

  async build(): Promise<Snapshot> {
    const m = this.metrics;
    const now = Date.now();
    const seconds = this.prevAt === 0 ? 0 : (now - this.prevAt) / 1000;
    const rate = (value: number, before: number | undefined) =>
      seconds > 0 && before !== undefined ? Math.max(0, (value - before) / seconds) : 0;

    const ttftNow = m.ttft.total();
    const itlNow = m.itl.total();
    // The first reading has no window before it: it starts the history instead of claiming
    // every observation since start for one second.
    if (this.prevAt !== 0) {
      this.push(this.ttft, point(now, delta(ttftNow, this.prevTtft)));
      this.push(this.itl, point(now, delta(itlNow, this.prevItl)));
    }
    this.prevTtft = ttftNow;
    this.prevItl = itlNow;

    let tokensPerSec = 0;
    const tokens = new Map<string, number>();
    for (const [id, cell] of m.streamed) tokens.set(id, cell.n);
    const workers = m.workers().map((w) => {
      const n = tokens.get(w.id) ?? 0;
      const r = rate(n, this.prevTokens.get(w.id) ?? (this.prevAt === 0 ? undefined : 0));
      tokensPerSec += r;
      return {
        id: w.id,
        status: w.status,
        models: w.models,
        capacity: w.capacity,
        inflight: w.inflight,
        tokensPerSec: Math.round(r),
        tokens: n,
        lastSeenMs: w.lastSeenMs,
        heartbeats: w.heartbeats,
      };
    });
    this.prevTokens = tokens;

    const queues = (await m.queues.refresh()).map((c) => {
      const before = this.prevQueue.get(c.queue);
      this.prevQueue.set(c.queue, { delivered: c.delivered, retried: c.retried });
      return {
        queue: c.queue,
        ready: c.depth?.ready ?? null,
        delayed: c.depth?.delayed ?? null,
        leased: c.depth?.leased ?? null,
        dead: c.depth?.dead ?? null,
        deliveredPerSec: Math.round(rate(c.delivered, before?.delivered) * 10) / 10,
        retriedPerSec: Math.round(rate(c.retried, before?.retried) * 10) / 10,
        rejected: c.rejected,
      };
    });

    const { requests, errors, inflight } = m.totals;
    const snapshot: Snapshot = {
      time: now,
      totals: {
        requests,
        errors,
        inflight,
        requestsPerSec: Math.round(rate(requests, this.prevRequests) * 10) / 10,
        tokensPerSec: Math.round(tokensPerSec),
      },
      workers,
      models: m.admission(),
      queues,
      latency: { ttft: [...this.ttft], itl: [...this.itl] },
      errors: [...m.recentErrors].reverse(),
    };
    this.prevRequests = requests;
    this.prevAt = now;
    return snapshot;
  }

  private push(series: LatencyPoint[], p: LatencyPoint): void {
    series.push(p);
    if (series.length > this.historyPoints) series.shift();
  }
}
