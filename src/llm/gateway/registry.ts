// The worker registry: live workers from their heartbeats. A worker that misses three
// heartbeats (or says it stopped) is dropped, and whoever waits on it is told it was lost.
import type { Bus } from '../../bus/index.js';
import {
  InvalidMessageError,
  isParamsTarget,
  parseTarget,
  validateBody,
  type Envelope,
  type HeldParams,
  type Heartbeat,
  type ParamsTarget,
} from '../../protocol/index.js';
import { isValidSubject } from '../../transport/subject.js';
import { HeartbeatListener } from '../heartbeat-listener.js';
import type { WorkerView } from '../routing/policy.js';
import { isValidWorkerId, llmSubjects, type LlmSubjects } from '../subjects.js';

export interface WorkerEntry extends WorkerView {
  status: Heartbeat['status'];
  /** Requests this gateway has sent the worker and not yet seen end. */
  outstanding: number;
  reported: number;
  lastSeen: number;
  intervalMs: number;
  firstSeen: number;
  /** Heartbeats heard since it joined. */
  beats: number;
  /** What it answers: chat (inference.request) and/or embeddings. */
  serves: readonly ('chat' | 'embeddings')[];
  /**
   * The `source` its heartbeats carry: on a hub, stamped from the worker's authenticated
   * identity. Replies to requests sent to this worker must carry the same (bus `from`).
   */
  source: string | undefined;
  /** The params versions it announces (llm/params). */
  params: readonly HeldParams[];
}

/** True when the worker has loaded what `t` names (an adapter, a version, or both). */
export function holds(w: { params: readonly HeldParams[] }, t: ParamsTarget): boolean {
  return w.params.some(
    (p) =>
      p.state === 'loaded' &&
      p.model === t.model &&
      p.adapter === t.adapter &&
      (t.version === undefined || p.version === t.version),
  );
}

const SWEEP_MS = 100;

/**
 * The announced address, kept only when it is one of the worker's own subjects: a worker may
 * not point the router at a subject someone else receives (docs/security.md).
 */
function ownAddress(announced: string | undefined, prefix: string): string | undefined {
  return announced !== undefined && announced.startsWith(`${prefix}.`) && isValidSubject(announced)
    ? announced
    : undefined;
}

/** `changed`: a known worker's status, capacity or models moved (admission slots follow). */
export type RegistryEvent = {
  type: 'joined' | 'lost' | 'draining' | 'changed';
  worker: WorkerEntry;
  /** On `lost`: the worker said it stopped, or it went silent. */
  reason?: 'stopped' | 'silent';
};

export class WorkerRegistry {
  private readonly workers = new Map<string, WorkerEntry>();
  private readonly listeners = new Set<(e: RegistryEvent) => void>();
  private readonly listener: HeartbeatListener;

  constructor(
    private readonly bus: Bus,
    private readonly missedBeats = 3,
    /** The namespace's subjects: only its workers' heartbeats are heard. */
    readonly subjects: LlmSubjects = llmSubjects(),
  ) {
    this.listener = new HeartbeatListener(
      bus,
      subjects.heartbeats,
      SWEEP_MS,
      (msg) => this.onHeartbeat(msg.envelope),
      (now, behindMs) => this.sweep(now, behindMs),
    );
  }

  start(): Promise<void> {
    return this.listener.start();
  }

  stop(): void {
    this.listener.stop();
  }

  on(listener: (e: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(id: string): WorkerEntry | undefined {
    return this.workers.get(id);
  }

  all(): WorkerEntry[] {
    return [...this.workers.values()];
  }

  /**
   * Ready workers serving `model`; for `model@adapter`, `model@adapter:version` or
   * `model:version`, only those that have loaded it (llm/params).
   */
  forModel(model: string): WorkerEntry[] {
    return this.serving(model, true);
  }

  /** Live workers (draining ones too, unless `ready`) serving what `name` names. */
  serving(name: string, ready = false): WorkerEntry[] {
    const t = this.target(name);
    const out: WorkerEntry[] = [];
    for (const w of this.workers.values()) {
      if (ready && w.status !== 'ready') continue;
      if (!w.models.includes(t.model)) continue;
      if (isParamsTarget(t) && !holds(w, t)) continue;
      out.push(w);
    }
    return out;
  }

  /** What a request's model names, read against the models workers serve. */
  target(name: string): ParamsTarget {
    return parseTarget(name, (m) => this.isModel(m));
  }

  /** True when some live worker serves `model` (a base model name). */
  isModel(model: string): boolean {
    for (const w of this.workers.values()) if (w.models.includes(model)) return true;
    return false;
  }

  /** Models of every live worker, draining ones included (their model is known, just busy). */
  models(): string[] {
    const set = new Set<string>();
    for (const w of this.workers.values()) for (const m of w.models) set.add(m);
    return [...set].sort();
  }

  /** Bookkeeping of requests this gateway has in flight on a worker. */
  track(id: string, delta: number): void {
    const w = this.workers.get(id);
    if (w === undefined) return;
    w.outstanding = Math.max(0, w.outstanding + delta);
    (w as { inflight: number }).inflight = Math.max(w.outstanding, w.reported);
  }

  /** Marks a worker lost now (e.g. its stream went silent), as if its heartbeats had stopped. */
  markLost(id: string, reason: 'stopped' | 'silent' = 'silent'): void {
    const w = this.workers.get(id);
    if (w === undefined) return;
    this.workers.delete(id);
    this.emit({ type: 'lost', worker: w, reason });
  }

  private onHeartbeat(env: Envelope): void {
    try {
      validateBody(env);
    } catch (err) {
      this.bus.reportError(err, env);
      return;
    }
    if (env.kind !== 'heartbeat') return;
    const hb = env.body as Heartbeat;
    // A heartbeat speaks only for the worker its subject names: on a locked-down bus a peer may
    // publish only its own heartbeat subject (docs/security.md), so this binds the id to it.
    if (!isValidWorkerId(hb.worker) || env.subject !== this.subjects.heartbeat(hb.worker)) {
      this.bus.reportError(
        new InvalidMessageError(`heartbeat for '${hb.worker}' sent on '${env.subject}'`),
        env,
      );
      return;
    }
    const now = Date.now();
    const known = this.workers.get(hb.worker);
    if (hb.status === 'stopped') {
      if (known) this.markLost(hb.worker, 'stopped');
      return;
    }
    const entry: WorkerEntry = {
      id: hb.worker,
      address:
        ownAddress(hb.address, this.subjects.address(hb.worker)) ?? this.subjects.chat(hb.worker),
      source: env.source,
      models: hb.models,
      capacity: hb.capacity,
      reported: hb.inflight,
      outstanding: known?.outstanding ?? 0,
      inflight: Math.max(hb.inflight, known?.outstanding ?? 0),
      prefixHashes: new Set(hb.prefixHashes ?? []),
      status: hb.status,
      lastSeen: now,
      intervalMs: hb.intervalMs ?? 1000,
      firstSeen: known?.firstSeen ?? now,
      beats: (known?.beats ?? 0) + 1,
      serves: hb.serves ?? ['chat', 'embeddings'],
      params: hb.params ?? [],
    };
    this.workers.set(hb.worker, entry);
    if (known === undefined) this.emit({ type: 'joined', worker: entry });
    else if (hb.status === 'draining' && known.status !== 'draining')
      this.emit({ type: 'draining', worker: entry });
    else if (
      hb.status !== known.status ||
      hb.capacity !== known.capacity ||
      hb.models.join('\n') !== known.models.join('\n') ||
      JSON.stringify(hb.params ?? []) !== JSON.stringify(known.params)
    )
      this.emit({ type: 'changed', worker: entry });
  }

  private sweep(now: number, behindMs: number): void {
    // When this process was too busy to run its timers, the heartbeats it missed may be sitting
    // in its own queue: judge nobody until the loop has caught up.
    if (behindMs > 0) {
      for (const w of this.workers.values()) w.lastSeen = Math.max(w.lastSeen, now - behindMs);
      return;
    }
    for (const w of [...this.workers.values()]) {
      if (now - w.lastSeen > this.missedBeats * w.intervalMs) this.markLost(w.id);
    }
  }

  private emit(e: RegistryEvent): void {
    for (const l of this.listeners) l(e);
  }
}
