// Worker metrics: one prom-client Registry per worker with its requests by outcome, tokens,
// latency histograms and its state from every heartbeat. Exposed by the worker process on its
// own port (serve.ts), since a worker may run where the gateway cannot reach its memory.
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Registry } from 'prom-client';
import { SeriesHistogram, type HistogramSeries } from './metrics-histogram.js';
import { BUCKETS, LabelGuard } from './metrics-labels.js';

export type WorkerOutcome = 'completed' | 'failed' | 'cancelled';

/** One request on the worker. */
export interface WorkerRequestMetrics {
  token(): void;
  end(outcome: WorkerOutcome, usage?: { prompt_tokens?: number; completion_tokens?: number }): void;
}

/** The heartbeat fields metrics read. */
export interface WorkerBeat {
  worker: string;
  status: string;
  capacity: number;
  inflight: number;
}

const STATES = ['ready', 'draining', 'stopped'] as const;

export class WorkerMetrics {
  readonly registry: Registry;
  private readonly models = new LabelGuard(100);
  private readonly requests: Counter<string>;
  private readonly generated: Counter<string>;
  private readonly prompt: Counter<string>;
  private readonly beats: Counter<string>;
  private readonly inflight: Gauge<string>;
  private readonly capacity: Gauge<string>;
  private readonly state: Gauge<string>;
  private readonly ttft: SeriesHistogram;
  private readonly itl: SeriesHistogram;
  private readonly duration: SeriesHistogram;

  /** `registry`: share one (e.g. the gateway's, for workers in its process); default a new one. */
  constructor(options: { registry?: Registry } = {}) {
    this.registry = options.registry ?? new Registry();
    const registers = [this.registry];
    const p = 'llmwire_worker_';
    this.requests = new Counter({
      name: `${p}requests_total`,
      help: 'Requests this worker ran, by outcome: completed, failed, cancelled.',
      labelNames: ['worker', 'model', 'outcome'],
      registers,
    });
    this.generated = new Counter({
      name: `${p}generated_tokens_total`,
      help: 'Token deltas this worker generated and sent.',
      labelNames: ['worker', 'model'],
      registers,
    });
    this.prompt = new Counter({
      name: `${p}prompt_tokens_total`,
      help: 'Prompt tokens of the requests this worker completed.',
      labelNames: ['worker', 'model'],
      registers,
    });
    this.beats = new Counter({
      name: `${p}heartbeats_sent_total`,
      help: 'Heartbeats this worker published.',
      labelNames: ['worker'],
      registers,
    });
    this.inflight = new Gauge({
      name: `${p}in_flight`,
      help: 'Requests running on this worker.',
      labelNames: ['worker'],
      registers,
    });
    this.capacity = new Gauge({
      name: `${p}capacity`,
      help: 'Requests this worker runs at once.',
      labelNames: ['worker'],
      registers,
    });
    this.state = new Gauge({
      name: `${p}state`,
      help: 'The worker state: 1 on the current one of ready, draining, stopped.',
      labelNames: ['worker', 'state'],
      registers,
    });
    this.ttft = new SeriesHistogram(
      `${p}time_to_first_token_seconds`,
      'From the worker taking a request to its first token.',
      ['worker', 'model'],
      BUCKETS.ttft,
      this.registry,
    );
    this.itl = new SeriesHistogram(
      `${p}inter_token_latency_seconds`,
      'Time between consecutive tokens the backend produced.',
      ['worker', 'model'],
      BUCKETS.itl,
      this.registry,
    );
    this.duration = new SeriesHistogram(
      `${p}request_duration_seconds`,
      'From the worker taking a request to its end.',
      ['worker', 'model'],
      BUCKETS.e2e,
      this.registry,
    );
  }

  request(worker: string, model: string): WorkerRequestMetrics {
    const m = this.models.value(model);
    const started = performance.now();
    let last = 0;
    let tokens = 0;
    let ttft: HistogramSeries | undefined;
    let itl: HistogramSeries | undefined;
    let ended = false;
    return {
      token: () => {
        const now = performance.now();
        tokens++;
        if (last === 0) (ttft ??= this.ttft.labels(worker, m)).observe((now - started) / 1000);
        else (itl ??= this.itl.labels(worker, m)).observe((now - last) / 1000);
        last = now;
      },
      end: (outcome, usage) => {
        if (ended) return;
        ended = true;
        this.requests.inc({ worker, model: m, outcome });
        if (tokens > 0) this.generated.inc({ worker, model: m }, tokens);
        if (usage?.prompt_tokens) this.prompt.inc({ worker, model: m }, usage.prompt_tokens);
        this.duration.labels(worker, m).observe((performance.now() - started) / 1000);
      },
    };
  }

  heartbeat(hb: WorkerBeat): void {
    const worker = hb.worker;
    this.beats.inc({ worker });
    this.inflight.set({ worker }, hb.inflight);
    this.capacity.set({ worker }, hb.capacity);
    for (const s of STATES) this.state.set({ worker, state: s }, hb.status === s ? 1 : 0);
  }

  async expose(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
