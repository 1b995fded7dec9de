// The live dashboard: one self-contained page (page.ts) and its feed, server-sent events with
// one snapshot a second. The timer runs only while a client is connected.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Type } from '@sinclair/typebox';
import { optionsCheck } from '../../protocol/index.js';
import type { GatewayMetrics } from '../metrics-gateway.js';
import { DASHBOARD_HTML } from './page.js';
import { SnapshotBuilder } from './snapshot.js';

export type { Snapshot, LatencyPoint } from './snapshot.js';

export interface DashboardOptions {
  /** Time between snapshots. Default 1000 ms. */
  intervalMs?: number;
  /** Latency points kept for the charts. Default 300 (five minutes at one a second). */
  historyPoints?: number;
  /** Feed clients at once; more get 503. Default 32. */
  maxClients?: number;
}

const checkOptions = optionsCheck(
  'dashboard',
  Type.Object(
    {
      intervalMs: Type.Optional(Type.Integer({ minimum: 1 })),
      historyPoints: Type.Optional(Type.Integer({ minimum: 1 })),
      maxClients: Type.Optional(Type.Integer({ minimum: 1 })),
    },
    { additionalProperties: false },
  ),
);

export class Dashboard {
  private readonly clients = new Set<ServerResponse>();
  private readonly builder: SnapshotBuilder;
  private readonly intervalMs: number;
  private readonly maxClients: number;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(metrics: GatewayMetrics, options: DashboardOptions = {}) {
    checkOptions(options);
    this.intervalMs = options.intervalMs ?? 1000;
    this.maxClients = options.maxClients ?? 32;
    this.builder = new SnapshotBuilder(metrics, options.historyPoints ?? 300);
  }

  /** Feed clients connected now. */
  get connected(): number {
    return this.clients.size;
  }

  /** Whether the snapshot timer runs (only while a client is connected). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  page(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(DASHBOARD_HTML),
      'cache-control': 'no-store',
      // Everything is inline; nothing may load from elsewhere.
      'content-security-policy':
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
      'x-content-type-options': 'nosniff',
    });
    res.end(DASHBOARD_HTML);
  }

  feed(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= this.maxClients) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
      res.end(`dashboard feed is full (${this.maxClients} clients)\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    this.clients.add(res);
    const gone = () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stop();
    };
    res.once('close', gone);
    req.once('error', gone);
    void this.tick();
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Ends every feed and stops the timer. */
  close(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.stop();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    // A slow queue broker must not pile snapshots up behind it.
    if (this.ticking || this.clients.size === 0) return;
    this.ticking = true;
    try {
      const snapshot = await this.builder.build();
      // JSON.stringify escapes CR and LF inside strings: one event is one `data:` line.
      const event = `data: ${JSON.stringify(snapshot)}\n\n`;
      for (const res of this.clients) if (!res.writableEnded) res.write(event);
    } catch {
      // A failed snapshot is skipped; the next second tries again.
    } finally {
      this.ticking = false;
    }
  }
}
