// Admission control, consulted by the gateway before dispatch: per-tenant rate limits (requests
// and tokens per minute; this process's own, or shared on the broker by every gateway), then a
// per-model queue served by priority class and weighted fair share, bounded in length and in
// wait, that hands out a lease whenever one of this gateway's slots frees up (all of the
// model's slots, or its share of them when other gateways want the model too: shared-slots.ts).
import {
  CancelledError,
  DeadlineExceededError,
  OverloadedError,
  Priority,
  UnavailableError,
  type WireError,
} from '../../protocol/index.js';
import {
  checkAdmissionOptions,
  type AdmissionOptions,
  type ModelQueueLimits,
} from './admission-options.js';
import { priorityClass, type FairItem, type QueueEntry } from './fair-queue.js';
import { ModelSlots } from './model-slots.js';
import { QueueExpiry, realClock, type AdmissionClock } from './queue-expiry.js';
import { TenantLimiter, type TenantLimits } from './tenant-limits.js';
import { SharedTenantLimits, type TenantCharge } from './shared-limits.js';
import {
  MAX_REPORTED_MODELS,
  reportable,
  shareOf,
  type ModelDemand,
  type TenantWant,
} from './shared-slots.js';
import { silentLogger } from '../../ops/index.js';

export type { AdmissionOptions, ModelQueueLimits } from './admission-options.js';
export type { AdmissionClock } from './queue-expiry.js';
export type { TenantLimits } from './tenant-limits.js';
export type { SlotSharing } from './shared-slots.js';

export interface AdmissionTicket {
  readonly tenant: string;
  readonly model: string;
  /** Envelope priority 0..9; default 5 (normal). */
  readonly priority?: number;
  /** Prompt plus completion tokens, e.g. from estimateTokens(); settled on release. */
  readonly estimatedTokens: number;
  /** Absolute deadline in ms since the epoch, as the envelope's `deadline`. */
  readonly deadline?: number;
  readonly signal?: AbortSignal;
}

export interface Lease {
  readonly tenant: string;
  readonly model: string;
  /** The request waited in the queue for its slot; false when one was free at once. */
  readonly queued: boolean;
  /** Time spent waiting for the slot. */
  readonly queuedMs: number;
  /**
   * The latest the request may still wait for a worker (ms epoch): its deadline, or its arrival
   * plus the queue's longest wait, whichever is first.
   */
  readonly waitUntil: number;
  /** Frees the slot and settles the tenant's tokens with the real usage. Idempotent. */
  release(usage?: { tokensUsed?: number }): void;
}

export interface ModelSnapshot {
  /** Slots of the model's ready workers. */
  capacity: number;
  /** The slots this gateway may hold: `capacity` unless other gateways want the model too. */
  share: number;
  inflight: number;
  queued: number;
  /** Smoothed time from grant to release; undefined until a request has finished. */
  serviceMs: number | undefined;
  /** ms epoch at which the longest-waiting queued request arrived; undefined when none waits. */
  oldestEnqueuedAt: number | undefined;
}

interface Waiter extends FairItem {
  readonly model: ModelSlots<Waiter>;
  readonly tokens: number;
  readonly charge: TenantCharge;
  readonly deadline: number | undefined;
  readonly expiresAt: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (lease: Lease) => void;
  readonly reject: (err: WireError) => void;
  entry: QueueEntry<Waiter> | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
  /** Not granted within admit(): it waited in the queue. */
  waited: boolean;
}

/** Read through a call, so a check made before an await is not taken to still hold after it. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

export class AdmissionController {
  private readonly clock: AdmissionClock;
  private readonly limiter: TenantLimiter;
  private readonly shared: SharedTenantLimits | undefined;
  private readonly models = new Map<string, ModelSlots<Waiter>>();
  private readonly expiries: QueueExpiry<Waiter>;
  private readonly defaults: Required<ModelQueueLimits> & { initialServiceMs: number };
  private closed = false;

  constructor(private readonly options: AdmissionOptions = {}) {
    checkAdmissionOptions(options);
    this.clock = options.clock ?? realClock;
    this.expiries = new QueueExpiry(this.clock, (w, now) => this.expired(w, now));
    this.defaults = {
      maxQueueLength: options.maxQueueLength ?? 1000,
      maxQueueWaitMs: options.maxQueueWaitMs ?? 30_000,
      initialServiceMs: options.initialServiceMs ?? 1000,
    };
    this.limiter = new TenantLimiter(options.defaultTenantLimits, options.tenants);
    this.shared =
      options.limitStore === undefined
        ? undefined
        : new SharedTenantLimits(
            options.limitStore,
            this.limiter,
            options.limitTimeoutMs ?? 1000,
            options.logger ?? silentLogger,
          );
  }

  /**
   * Resolves with a lease when the request may be dispatched. Rejects with RateLimitedError
   * (tenant over a limit), OverloadedError (queue full, or the expected wait is over the queue's
   * limit or past the deadline), DeadlineExceededError (the deadline passed), CancelledError
   * (the signal fired) or UnavailableError (closed). Overload and rate errors carry
   * `details.retryAfterMs`.
   */
  async admit(ticket: AdmissionTicket): Promise<Lease> {
    if (this.closed) throw new UnavailableError('not accepting requests: shutting down');
    let now = this.clock.now();
    this.expiries.expire(now);
    if (ticket.signal?.aborted === true) throw new CancelledError('request cancelled');
    if (ticket.deadline !== undefined && ticket.deadline <= now) {
      throw new DeadlineExceededError('deadline passed before admission');
    }
    const estimated = Number.isFinite(ticket.estimatedTokens) ? ticket.estimatedTokens : 0;
    const tokens = Math.max(0, Math.ceil(estimated));
    let charge: TenantCharge | undefined;
    if (this.shared === undefined) this.limiter.check(ticket.tenant, tokens, now);
    else charge = await this.shared.acquire(ticket.tenant, tokens, () => this.clock.now());
    const model = this.model(ticket.model);
    const priority = priorityClass(ticket.priority ?? Priority.normal);
    let counted = false;
    try {
      if (charge !== undefined) {
        // The shared buckets answered after a round trip: what was checked before may not hold.
        if (this.closed) throw new UnavailableError('not accepting requests: shutting down');
        if (isAborted(ticket.signal)) throw new CancelledError('request cancelled');
        now = this.clock.now();
      }
      // This request counts in what the gateway wants of the model, and so in its share.
      this.want(model, ticket.tenant, 1);
      counted = true;
      this.reshare(model);
      model.refuseIfOverloaded(model.queue.sizeAtOrAbove(priority), ticket.deadline, now);
    } catch (err) {
      if (counted) this.want(model, ticket.tenant, -1);
      charge?.refund();
      throw err;
    }
    if (charge === undefined) {
      this.limiter.charge(ticket.tenant, tokens, now);
      charge = this.localCharge(ticket.tenant, tokens);
    }
    const taken = charge;
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        tenant: ticket.tenant,
        priority,
        cost: this.options.fairShareBy === 'requests' ? 1 : Math.max(1, tokens),
        weight: this.limiter.weight(ticket.tenant, now),
        enqueuedAt: now,
        model,
        tokens,
        charge: taken,
        deadline: ticket.deadline,
        expiresAt: Math.min(ticket.deadline ?? Infinity, now + model.maxQueueWaitMs),
        signal: ticket.signal,
        resolve,
        reject,
        entry: undefined,
        onAbort: undefined,
        done: false,
        waited: false,
      };
      waiter.entry = model.queue.push(waiter);
      this.drain(model);
      if (waiter.done) return;
      waiter.waited = true;
      if (waiter.signal !== undefined) {
        waiter.onAbort = () => this.fail(waiter, new CancelledError('request cancelled'));
        waiter.signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.expiries.add(waiter);
    });
  }

  /** Slots for a model across its workers (from heartbeats); queued requests fill new slots. */
  setCapacity(model: string, slots: number): void {
    if (!Number.isInteger(slots) || slots < 0) {
      throw new RangeError(`capacity for '${model}' must be a whole number >= 0, got ${slots}`);
    }
    const state = this.model(model);
    state.capacity = slots;
    this.drain(state);
  }

  /** Computes this gateway's share of each model again (the peers' demand changed) and fills it. */
  reshareAll(): void {
    for (const m of this.models.values()) this.drain(m);
  }

  /**
   * What this gateway wants of each model, for its heartbeat (docs/protocol.md, "Gateway
   * heartbeats"): the models with requests inflight or queued, most wanted first, each with its
   * tenants' wants (reportable()); at most MAX_REPORTED_MODELS models and names of 1-256
   * characters. Marks these wants as reported.
   */
  demand(): ModelDemand[] {
    for (const m of this.models.values()) m.reportedWant = m.totalWant;
    return [...this.models.values()]
      .filter((m) => m.totalWant > 0 && m.name.length <= 256)
      .map((m) => ({ model: m.name, tenants: this.ownWants(m), want: m.totalWant }))
      .filter((d) => d.tenants.length > 0)
      .sort((a, b) => b.want - a.want || (a.model < b.model ? -1 : 1))
      .slice(0, MAX_REPORTED_MODELS)
      .map(({ model, tenants }) => ({ model, tenants }));
  }

  /** Replaces a tenant's limits; its buckets keep their level, trimmed to the new size. */
  setTenantLimits(tenant: string, limits: TenantLimits): void {
    this.limiter.setLimits(tenant, limits, this.clock.now());
  }

  snapshot(model: string): ModelSnapshot {
    const m = this.models.get(model);
    if (m === undefined) {
      return {
        capacity: 0,
        share: 0,
        inflight: 0,
        queued: 0,
        serviceMs: undefined,
        oldestEnqueuedAt: undefined,
      };
    }
    const { capacity, share, inflight, measuredServiceMs: serviceMs } = m;
    const oldestEnqueuedAt = m.queue.oldestEnqueuedAt;
    return { capacity, share, inflight, queued: m.queue.size, serviceMs, oldestEnqueuedAt };
  }

  /** Models admission has seen (a request, or capacity from the registry), sorted. */
  modelNames(): string[] {
    return [...this.models.keys()].sort();
  }

  /** Refuses new requests and fails every queued one with UnavailableError. */
  close(): void {
    this.closed = true;
    this.expiries.stop();
    const now = this.clock.now();
    for (const m of this.models.values()) {
      for (let w = m.queue.pop(now); w !== undefined; w = m.queue.pop(now)) {
        this.fail(w, new UnavailableError('not accepting requests: shutting down'));
      }
    }
  }

  private drain(m: ModelSlots<Waiter>): void {
    const now = this.clock.now();
    this.reshare(m);
    while (m.hasFreeSlot) {
      const w = m.queue.pop(now);
      if (w === undefined) break;
      this.grant(w, now);
    }
  }

  private grant(w: Waiter, grantedAt: number): void {
    w.done = true;
    this.detach(w);
    const m = w.model;
    m.inflight++;
    let released = false;
    w.resolve({
      tenant: w.tenant,
      model: m.name,
      queued: w.waited,
      queuedMs: grantedAt - w.enqueuedAt,
      waitUntil: w.expiresAt,
      release: (usage) => {
        if (released) return;
        released = true;
        const now = this.clock.now();
        m.inflight = Math.max(0, m.inflight - 1);
        this.want(m, w.tenant, -1);
        m.observe(Math.max(0, now - grantedAt));
        const used = usage?.tokensUsed;
        if (used !== undefined && Number.isFinite(used)) w.charge.settle(Math.max(0, used));
        this.drain(m);
      },
    });
  }

  /** Takes a waiter out with an error and gives back what it was charged. */
  private fail(w: Waiter, err: WireError): void {
    if (w.done) return;
    w.done = true;
    if (w.entry !== undefined) w.model.queue.remove(w.entry);
    this.want(w.model, w.tenant, -1);
    this.detach(w);
    w.charge.refund();
    w.reject(err);
  }

  /** Counts a request in or out of this gateway's want of a model. */
  private want(m: ModelSlots<Waiter>, tenant: string, delta: 1 | -1): void {
    m.want(tenant, delta);
    if (m.wantMoved) this.options.sharing?.wantMoved?.();
  }

  /** This gateway's tenants' wants of a model, as its heartbeat reports them. */
  private ownWants(m: ModelSlots<Waiter>): TenantWant[] {
    const now = this.clock.now();
    return reportable(
      [...m.wants].map(([tenant, want]) => ({
        tenant,
        want,
        weight: this.limiter.weight(tenant, now),
      })),
    );
  }

  /** This gateway's share of a model's slots, from its own wants now and its peers' last ones. */
  private reshare(m: ModelSlots<Waiter>): void {
    const sharing = this.options.sharing;
    const peers = sharing?.peers(m.name) ?? [];
    m.share =
      sharing === undefined || peers.length === 0
        ? m.capacity
        : shareOf(m.capacity, sharing.self, this.ownWants(m), peers, this.clock.now());
  }

  /** A charge on this process's own buckets. */
  private localCharge(tenant: string, tokens: number): TenantCharge {
    return {
      refund: () => this.limiter.refund(tenant, tokens, this.clock.now()),
      settle: (used) => this.limiter.settle(tenant, tokens, used, this.clock.now()),
    };
  }

  private detach(w: Waiter): void {
    if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort);
    w.onAbort = undefined;
  }

  /** A queued request ran out of time: its deadline passed, or the queue's longest wait. */
  private expired(w: Waiter, now: number): void {
    if (w.deadline !== undefined && w.deadline <= now) {
      this.fail(w, new DeadlineExceededError('deadline passed while waiting for a slot'));
      return;
    }
    const m = w.model;
    const waitMs = m.canPredict ? m.estimateWaitMs(m.queue.size) : 0;
    const details = {
      reason: 'queue_wait',
      retryAfterMs: m.retryAfterMs(waitMs - m.maxQueueWaitMs),
    };
    this.fail(w, new OverloadedError(`model '${m.name}' is overloaded`, { details }));
  }

  private model(name: string): ModelSlots<Waiter> {
    let state = this.models.get(name);
    if (state === undefined) {
      const limits = this.options.models?.[name] ?? {};
      state = new ModelSlots<Waiter>(
        name,
        limits.maxQueueLength ?? this.defaults.maxQueueLength,
        limits.maxQueueWaitMs ?? this.defaults.maxQueueWaitMs,
        this.defaults.initialServiceMs,
        this.options.agingMs,
      );
      this.models.set(name, state);
    }
    return state;
  }
}
