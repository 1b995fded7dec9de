// Durable queue metrics: depth by state, read from the queue on every scrape, and what its
// consumers did (deliveries, redeliveries, retries, acks, rejections to the dead-letter store).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BusQueue, QueueEvent } from '../bus/index.js';
import type { QueueStats } from '../transport/transport.js';
import { LabelGuard } from './metrics-labels.js';

/** What metrics need of a queue: its name, its stats, and its consumer events. */
export type WatchedQueue = Pick<BusQueue, 'name' | 'stats' | 'observe'>;

export interface QueueCounts {
  queue: string;
  depth: QueueStats | undefined;
  delivered: number;
  redelivered: number;
  retried: number;
  acked: number;
  rejected: number;
}

export class QueueMetrics {
  private readonly watched = new Map<string, { queue: WatchedQueue; counts: QueueCounts }>();
  private readonly names = new LabelGuard(200, 128);
  private readonly events: Counter<string>;

  constructor(registry: Registry) {
    const registers = [registry];
    const refresh = () => this.refresh();
    new Gauge({
      name: 'llmwire_queue_depth',
      help: 'Messages in a durable queue by state: ready, delayed, leased, dead (dead letters).',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const c of await refresh()) {
          if (c.depth === undefined) continue;
          for (const state of ['ready', 'delayed', 'leased', 'dead'] as const)
            this.set({ queue: c.queue, state }, c.depth[state]);
        }
      },
    });
    this.events = new Counter({
      name: 'llmwire_queue_events_total',
      help:
        'What consumers of a durable queue did: delivered, redelivered (attempt > 1), retried ' +
        '(nack), acked, rejected (dead-lettered by the consumer).',
      labelNames: ['queue', 'event'],
      registers,
    });
  }

  watch(queue: WatchedQueue): () => void {
    const name = this.names.value(queue.name);
    const counts: QueueCounts = {
      queue: name,
      depth: undefined,
      delivered: 0,
      redelivered: 0,
      retried: 0,
      acked: 0,
      rejected: 0,
    };
    for (const event of ['delivered', 'redelivered', 'retried', 'acked', 'rejected'])
      this.events.inc({ queue: name, event }, 0);
    const stop = queue.observe((e: QueueEvent) => {
      counts[e.type]++;
      this.events.inc({ queue: name, event: e.type });
      if (e.type === 'delivered' && e.attempt > 1) {
        counts.redelivered++;
        this.events.inc({ queue: name, event: 'redelivered' });
      }
    });
    this.watched.set(name, { queue, counts });
    return () => {
      stop();
      this.watched.delete(name);
    };
  }

  /** Reads every watched queue's depth; a queue whose stats fail keeps its last reading. */
  async refresh(): Promise<QueueCounts[]> {
    const all = [...this.watched.values()];
    await Promise.all(
      all.map(async (w) => {
        try {
          w.counts.depth = await w.queue.stats();
        } catch {
          // A broker that cannot answer now leaves the last reading in place.
        }
      }),
    );
    return all.map((w) => w.counts);
  }
}
