// The worker runtime: hosts one backend on the bus with a concurrency limit, announces itself
// by heartbeat (models, capacity, load, cached prefix blocks), streams completions with
// cancellation through to the model call, and drains on request (finishes what it has, takes
// nothing new).
import { randomBytes } from 'node:crypto';
import type { Bus } from '../../bus/index.js';
import type { Subscription } from '../../bus/subscription.js';
import {
  ConfigError,
  OverloadedError,
  UnavailableError,
  type EmbeddingRequest,
  type Heartbeat,
  type InferenceRequest,
  type InferenceResult,
} from '../../protocol/index.js';
import type { Backend } from '../backends/backend.js';
import { isValidWorkerId, llmSubjects, type LlmSubjects } from '../subjects.js';

export interface WorkerOptions {
  bus: Bus;
  backend: Backend;
  /** Unique among workers; default a random id. */
  id?: string;
  /** Requests run at once. Default 16. */
  concurrency?: number;
  /** Heartbeat period in ms. Default 1000. */
  heartbeatMs?: number;
  /** Puts the worker's subjects under `NAME.` (see subjects.ts); only gateways of the same namespace see it. */
  namespace?: string;
  /** Sees every request and heartbeat (e.g. WorkerMetrics from llmwire/ops). */
  observer?: WorkerObserver;
}

/** What metrics see of a worker: each request's tokens and end, and each heartbeat. */
export interface WorkerObserver {
  request(worker: string, model: string): WorkerRequestObserver;
  heartbeat(hb: Heartbeat): void;
}

export interface WorkerRequestObserver {
  token(): void;
  end(
    outcome: 'completed' | 'failed' | 'cancelled',
    usage?: { prompt_tokens?: number; completion_tokens?: number },
  ): void;
}

export interface WorkerStats {
  inflight: number;
  completed: number;
  failed: number;
  cancelled: number;
  tokens: number;
}

export type WorkerState = 'ready' | 'draining' | 'stopped';

export class Worker {
  readonly id: string;
  readonly concurrency: number;
  readonly heartbeatMs: number;
  private readonly bus: Bus;
  private readonly backend: Backend;
  private readonly subjects: LlmSubjects;
  private readonly observer: WorkerObserver | undefined;
  private subs: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private state_: WorkerState = 'stopped';
  private idle: (() => void) | undefined;
  readonly stats: WorkerStats = { inflight: 0, completed: 0, failed: 0, cancelled: 0, tokens: 0 };

  constructor(options: WorkerOptions) {
    this.id = options.id ?? `w-${randomBytes(5).toString('hex')}`;
    if (!isValidWorkerId(this.id)) {
      throw new ConfigError(`worker id '${this.id}' must be 1-64 letters, digits, '_' or '-'`);
    }
    this.concurrency = options.concurrency ?? 16;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new ConfigError('worker concurrency must be a positive integer');
    }
    if (!(this.heartbeatMs >= 10)) throw new ConfigError('worker heartbeatMs must be at least 10');
    this.bus = options.bus;
    this.backend = options.backend;
    this.subjects = llmSubjects(options.namespace);
    this.observer = options.observer;
  }

  get state(): WorkerState {
    return this.state_;
  }

  async start(): Promise<void> {
    if (this.state_ !== 'stopped') return;
    this.state_ = 'ready';
    this.subs = [
      this.bus.serve(
        this.subjects.chat(this.id),
        (req, ctx) => this.chat(req.body as InferenceRequest, ctx.signal),
        {
          kinds: ['inference.request'],
        },
      ),
      this.bus.serve(
        this.subjects.embed(this.id),
        (req, ctx) => this.embed(req.body as EmbeddingRequest, ctx.signal),
        {
          kinds: ['embedding.request'],
        },
      ),
    ];
    await Promise.all(this.subs.map((s) => s.ready));
    this.beat();
    this.timer = setInterval(() => this.beat(), this.heartbeatMs);
    this.timer.unref();
  }

  /** Stops taking new requests, waits up to `timeoutMs` for running ones, then stops. */
  async drain(timeoutMs = 30_000): Promise<void> {
    if (this.state_ !== 'ready') return;
    this.state_ = 'draining';
    this.beat();
    if (this.stats.inflight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.idle = () => {
          clearTimeout(t);
          resolve();
        };
      });
      // The last request's final message is sent just after its handler returns: let it go
      // out before the 'stopped' heartbeat, which tells routers this worker is gone.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await this.stop();
  }

  async stop(): Promise<void> {
    if (this.state_ === 'stopped') return;
    this.state_ = 'stopped';
    clearInterval(this.timer);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.beat(true);
    await this.backend.close?.();
  }

  heartbeat(): Heartbeat {
    const hb: Heartbeat = {
      worker: this.id,
      status: this.state_,
      models: this.backend.models(),
      capacity: this.concurrency,
      inflight: this.stats.inflight,
      intervalMs: this.heartbeatMs,
      address: this.subjects.chat(this.id),
    };
    const prefixes = this.backend.cachedPrefixes?.();
    if (prefixes !== undefined) hb.prefixHashes = prefixes.slice(-65_536);
    return hb;
  }

  private beat(force = false): void {
    if (this.state_ === 'stopped' && !force) return;
    try {
      const hb = this.heartbeat();
      this.bus.publish(this.subjects.heartbeat, hb, { kind: 'heartbeat' });
      this.observer?.heartbeat(hb);
    } catch (err) {
      this.bus.reportError(err);
    }
  }

  private admit(model: string): void {
    if (this.state_ !== 'ready') {
      throw new UnavailableError(`worker ${this.id} is ${this.state_}`, {
        details: { worker: this.id },
      });
    }
    if (this.stats.inflight >= this.concurrency) {
      throw new OverloadedError(`worker ${this.id} is at its concurrency limit`, {
        details: { worker: this.id },
      });
    }
    if (!this.backend.models().includes(model)) {
      throw new UnavailableError(`worker ${this.id} does not serve model '${model}'`);
    }
  }

  private done(outcome: 'completed' | 'failed' | 'cancelled'): void {
    this.stats.inflight--;
    this.stats[outcome]++;
    if (this.stats.inflight === 0) this.idle?.();
  }

  private async *chat(
    request: InferenceRequest,
    signal: AbortSignal,
  ): AsyncGenerator<{ text: string; tool_calls?: unknown[] }, InferenceResult> {
    this.admit(request.model);
    this.stats.inflight++;
    const observe = this.observer?.request(this.id, request.model);
    let usage: InferenceResult['usage'] | undefined;
    let outcome: 'completed' | 'failed' | 'cancelled' = 'failed';
    // The text travels in the chunks; the final result of a stream carries none of it again
    // (docs/protocol.md, inference.result), so nothing here holds the whole answer.
    try {
      const gen = this.backend.generate(request, { signal });
      for (;;) {
        const step = await gen.next();
        if (step.done === true) {
          outcome = 'completed';
          usage = step.value.usage;
          return {
            model: request.model,
            text: '',
            finish_reason: step.value.finish_reason,
            usage: step.value.usage,
            worker: this.id,
          };
        }
        this.stats.tokens++;
        observe?.token();
        yield step.value;
      }
    } finally {
      if (outcome !== 'completed' && signal.aborted) outcome = 'cancelled';
      this.done(outcome);
      observe?.end(outcome, usage);
    }
  }

  private async embed(request: EmbeddingRequest, signal: AbortSignal) {
    if (this.backend.embed === undefined) {
      throw new UnavailableError(`worker ${this.id} (${this.backend.kind}) has no embeddings`);
    }
    this.admit(request.model);
    this.stats.inflight++;
    const observe = this.observer?.request(this.id, request.model);
    try {
      const result = await this.backend.embed(request, { signal });
      this.done('completed');
      observe?.end('completed', result.usage);
      return result;
    } catch (err) {
      const outcome = signal.aborted ? 'cancelled' : 'failed';
      this.done(outcome);
      observe?.end(outcome);
      throw err;
    }
  }
}

export function createWorker(options: WorkerOptions): Worker {
  return new Worker(options);
}
