// Gateway metrics: one prom-client Registry per gateway (never the global one) holding request
// and error counts, token counts, failovers, latency histograms (time to first token, between
// tokens, end to end, admission wait) and, read when scraped, admission queues and workers. It
// observes requests through the gateway's observer hooks; the per-token work is two clock reads
// and an array increment.
import { performance } from 'node:perf_hooks';
import { Type } from '@sinclair/typebox';
import { Counter, Gauge, Registry } from 'prom-client';
import { optionsCheck } from '../protocol/index.js';
import { SeriesHistogram, type HistogramSeries } from './metrics-histogram.js';
import { BUCKETS, LabelGuard } from './metrics-labels.js';
import { QueueMetrics, type WatchedQueue } from './metrics-queue.js';

/** What the gateway tells metrics when a request's model is known. */
export interface RequestStart {
  endpoint: string;
  model: string;
  tenant: string;
  stream: boolean;
  /** ms since the epoch when the request arrived. */
  arrived: number;
}

export interface RequestEnd {
  /** Error code; undefined when the request succeeded. */
  code?: string | undefined;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | undefined;
}

/** One request seen by metrics, from admission to its end. */
export interface RequestMetrics {
  admitted(queuedMs: number): void;
  attempt(worker: string): void;
  /** `n` token deltas reached the gateway together. */
  tokens(n: number): void;
  failover(worker: string, code: string): void;
  end(outcome: RequestEnd): void;
}

/** A model's admission state, read when scraped. */
export interface ModelLoad {
  model: string;
  capacity: number;
  inflight: number;
  queued: number;
  /** The HTTP APIs that serve it (chat.completions, responses, messages, embeddings, ...). */
  apis?: string[];
}

/** A worker as the gateway sees it, read when scraped. */
export interface WorkerLoad {
  id: string;
  status: string;
  models: readonly string[];
  capacity: number;
  inflight: number;
  heartbeats: number;
  /** ms since its last heartbeat. */
  lastSeenMs: number;
  cachedBlocks: number;
}

export interface RecentError {
  /** ms since the epoch. */
  time: number;
  code: string;
  endpoint: string;
  model: string;
  tenant: string;
}

export interface GatewayMetricsOptions {
  /** Distinct model label values kept before the rest become `other`. Default 100. */
  maxModels?: number;
  /** Distinct tenant label values kept. Default 200. */
  maxTenants?: number;
  /** Distinct worker label values kept. Default 500. */
  maxWorkers?: number;
  /** Errors kept for the dashboard. Default 50. */
  recentErrors?: number;
}

const Count = Type.Optional(Type.Integer({ minimum: 1 }));
const checkOptions = optionsCheck(
  'gateway metrics',
  Type.Object(
    { maxModels: Count, maxTenants: Count, maxWorkers: Count, recentErrors: Count },
    { additionalProperties: false },
  ),
);

interface TokenCell {
  n: number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly queues: QueueMetrics;
  readonly recentErrors: RecentError[] = [];
  /** Plain running totals for the dashboard. */
  readonly totals = { requests: 0, errors: 0, inflight: 0 };
  readonly ttft: SeriesHistogram;
  readonly itl: SeriesHistogram;
  readonly duration: SeriesHistogram;
  readonly wait: SeriesHistogram;
  private readonly models: LabelGuard;
  private readonly tenants: LabelGuard;
  private readonly workerIds: LabelGuard;
  private readonly maxErrors: number;
  private readonly requests: Counter<string>;
  private readonly errors: Counter<string>;
  private readonly cancellations: Counter<string>;
  private readonly promptTokens: Counter<string>;
  private readonly completionTokens: Counter<string>;
  private readonly failovers: Counter<string>;
  private readonly denied: Counter<string>;
  private readonly identities: LabelGuard;
  private readonly inflight: Gauge<string>;
  /** Tokens streamed from each worker, counted per token (the dashboard's tokens/s). */
  readonly streamed = new Map<string, TokenCell>();
  private modelSource: () => ModelLoad[] = () => [];
  private workerSource: () => WorkerLoad[] = () => [];

  constructor(options: GatewayMetricsOptions = {}) {
    checkOptions(options);
    this.models = new LabelGuard(options.maxModels ?? 100);
    this.tenants = new LabelGuard(options.maxTenants ?? 200);
    this.workerIds = new LabelGuard(options.maxWorkers ?? 500);
    this.maxErrors = options.recentErrors ?? 50;
    const registers = [this.registry];
    const p = 'llmwire_gateway_';
    this.requests = new Counter({
      name: `${p}requests_total`,
      help: 'Inference requests received, by endpoint, model and tenant.',
      labelNames: ['endpoint', 'model', 'tenant'],
      registers,
    });
    this.errors = new Counter({
      name: `${p}request_errors_total`,
      help: 'Requests that ended with an error, by error code.',
      labelNames: ['endpoint', 'model', 'tenant', 'code'],
      registers,
    });
    this.cancellations = new Counter({
      name: `${p}cancellations_total`,
      help: 'Requests whose client went away before the answer was complete.',
      labelNames: ['model', 'tenant'],
      registers,
    });
    this.promptTokens = new Counter({
      name: `${p}prompt_tokens_total`,
      help: 'Prompt tokens of completed requests, as the workers counted them.',
      labelNames: ['model', 'tenant'],
      registers,
    });
    this.completionTokens = new Counter({
      name: `${p}completion_tokens_total`,
      help: 'Completion tokens of completed requests, as the workers counted them.',
      labelNames: ['model', 'tenant'],
      registers,
    });
    this.identities = new LabelGuard(options.maxTenants ?? 200);
    this.denied = new Counter({
      name: 'llmwire_bus_denied_total',
      help: 'Bus records refused by the permissions of the identity that sent them, by identity, role and action.',
      labelNames: ['identity', 'role', 'action'],
      registers,
    });
    this.failovers = new Counter({
      name: `${p}failovers_total`,
      help: 'Requests moved off a worker that failed, by the worker left and the reason.',
      labelNames: ['model', 'worker', 'reason'],
      registers,
    });
    this.inflight = new Gauge({
      name: `${p}requests_in_flight`,
      help: 'Inference requests being handled (queued or running).',
      labelNames: ['model'],
      registers,
    });
    this.ttft = new SeriesHistogram(
      `${p}time_to_first_token_seconds`,
      'From the request arriving to the first token reaching the gateway.',
      ['model', 'tenant'],
      BUCKETS.ttft,
      this.registry,
    );
    this.itl = new SeriesHistogram(
      `${p}inter_token_latency_seconds`,
      'Time between consecutive tokens of one stream.',
      ['model'],
      BUCKETS.itl,
      this.registry,
    );
    this.duration = new SeriesHistogram(
      `${p}request_duration_seconds`,
      'From the request arriving to its last byte (or error).',
      ['endpoint', 'model', 'tenant'],
      BUCKETS.e2e,
      this.registry,
    );
    this.wait = new SeriesHistogram(
      `${p}admission_wait_seconds`,
      'Time a request waited in the admission queue for a slot.',
      ['model'],
      BUCKETS.wait,
      this.registry,
    );
    this.collected();
    this.queues = new QueueMetrics(this.registry);
  }

  /** Where scrape-time figures come from; the gateway sets these. */
  setSources(sources: { models?: () => ModelLoad[]; workers?: () => WorkerLoad[] }): void {
    if (sources.models) this.modelSource = sources.models;
    if (sources.workers) this.workerSource = sources.workers;
  }

  workers(): WorkerLoad[] {
    return this.workerSource();
  }

  admission(): ModelLoad[] {
    return this.modelSource();
  }

  /** Watches a durable queue: its depth on every scrape, and what its consumers do. */
  watchQueue(queue: WatchedQueue): () => void {
    return this.queues.watch(queue);
  }

  /** The exposition text and its content type. */
  async expose(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /** A request whose model is known; rejected ones with an unknown model pass 'unknown'. */
  request(start: RequestStart): RequestMetrics {
    const model = this.models.value(start.model);
    const tenant = this.tenants.value(start.tenant);
    const { endpoint } = start;
    this.requests.inc({ endpoint, model, tenant });
    this.inflight.inc({ model });
    this.totals.requests++;
    this.totals.inflight++;
    const startedAt = performance.now() - Math.max(0, Date.now() - start.arrived);
    let last = 0;
    let ttft: HistogramSeries | undefined;
    let itl: HistogramSeries | undefined;
    let cell: TokenCell | undefined;
    let ended = false;
    return {
      admitted: (queuedMs) => this.wait.labels(model).observe(queuedMs / 1000),
      attempt: (worker) => {
        const id = this.workerIds.value(worker);
        cell = this.streamed.get(id);
        if (cell === undefined) this.streamed.set(id, (cell = { n: 0 }));
      },
      tokens: (n) => {
        if (n <= 0) return;
        const now = performance.now();
        if (cell !== undefined) cell.n += n;
        itl ??= this.itl.labels(model);
        if (last === 0) {
          ttft ??= this.ttft.labels(model, tenant);
          ttft.observe((now - startedAt) / 1000);
        } else itl.observe((now - last) / 1000);
        // Tokens that arrived together are apart by nothing the gateway could see.
        if (n > 1) itl.observe(0, n - 1);
        last = now;
      },
      failover: (worker, code) =>
        this.failovers.inc({ model, worker: this.workerIds.value(worker), reason: code }),
      end: (outcome) => {
        if (ended) return;
        ended = true;
        this.inflight.dec({ model });
        this.totals.inflight--;
        this.duration
          .labels(endpoint, model, tenant)
          .observe((performance.now() - startedAt) / 1000);
        const u = outcome.usage;
        if (u !== undefined) {
          if (u.prompt_tokens) this.promptTokens.inc({ model, tenant }, u.prompt_tokens);
          if (u.completion_tokens)
            this.completionTokens.inc({ model, tenant }, u.completion_tokens);
        }
        if (outcome.code !== undefined) this.error(endpoint, model, tenant, outcome.code);
      },
    };
  }

  /** A peer's record refused by its identity's permissions (docs/security.md). */
  deniedOnBus(identity: string, role: string, action: string): void {
    this.denied.inc({ identity: this.identities.value(identity), role, action });
  }

  /** A request refused before its model was known (bad body, no key, no route). */
  rejected(endpoint: string, tenant: string, code: string): void {
    const t = this.tenants.value(tenant);
    this.requests.inc({ endpoint, model: 'unknown', tenant: t });
    this.totals.requests++;
    this.error(endpoint, 'unknown', t, code);
  }

  private error(endpoint: string, model: string, tenant: string, code: string): void {
    this.errors.inc({ endpoint, model, tenant, code });
    this.totals.errors++;
    if (code === 'cancelled') this.cancellations.inc({ model, tenant });
    this.recentErrors.push({ time: Date.now(), code, endpoint, model, tenant });
    if (this.recentErrors.length > this.maxErrors) this.recentErrors.shift();
  }

  /** Gauges and counters read from their sources when scraped. */
  private collected(): void {
    const registers = [this.registry];
    const p = 'llmwire_gateway_';
    const modelLoads = () => this.modelSource();
    const workerLoads = () => this.workerSource();
    const models = (v: string) => this.models.value(v);
    const workerId = (v: string) => this.workerIds.value(v);
    const streamed = this.streamed;
    new Gauge({
      name: `${p}admission_queue_depth`,
      help: 'Requests waiting in the admission queue for a slot.',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const m of modelLoads()) this.set({ model: models(m.model) }, m.queued);
      },
    });
    new Gauge({
      name: `${p}admission_slots`,
      help: 'Admission slots of a model: the capacity of its ready workers.',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const m of modelLoads()) this.set({ model: models(m.model) }, m.capacity);
      },
    });
    const perWorker = (name: string, help: string, value: (w: WorkerLoad) => number): void =>
      void new Gauge({
        name: `${p}${name}`,
        help,
        labelNames: ['worker'],
        registers,
        collect() {
          this.reset();
          for (const w of workerLoads()) this.set({ worker: workerId(w.id) }, value(w));
        },
      });
    perWorker('worker_up', 'Whether a worker is live and ready (1), or draining (0).', (w) =>
      w.status === 'ready' ? 1 : 0,
    );
    perWorker(
      'worker_in_flight',
      'Requests running on a worker (its heartbeat or ours).',
      (w) => w.inflight,
    );
    perWorker('worker_capacity', 'Requests a worker runs at once.', (w) => w.capacity);
    perWorker(
      'worker_heartbeat_age_seconds',
      'Time since the last heartbeat of a worker.',
      (w) => w.lastSeenMs / 1000,
    );
    new Counter({
      name: `${p}worker_heartbeats_total`,
      help: 'Heartbeats received from a worker since it joined.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const w of workerLoads()) this.inc({ worker: workerId(w.id) }, w.heartbeats);
      },
    });
    new Counter({
      name: `${p}streamed_tokens_total`,
      help: 'Token deltas streamed from each worker through the gateway.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const [worker, cell] of streamed) this.inc({ worker }, cell.n);
      },
    });
  }
}
