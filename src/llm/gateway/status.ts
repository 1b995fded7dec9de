// GET /v1/llmwire/status: what an operator asks first — the live workers and their load, the
// admission queue of each model, and whether the gateway's bus is connected.
import type { Bus } from '../../bus/index.js';
import type { HeldParams } from '../../protocol/index.js';
import type { TransportStatus } from '../../transport/transport.js';
import type { AdmissionController } from '../routing/index.js';
import { sendJson, type Handler } from './http.js';
import type { WorkerRegistry } from './registry.js';
import type { RolloutStatus } from './rollouts.js';

/** A heartbeat this many intervals old marks the worker `late` (it is dropped after three). */
const LATE_AFTER_INTERVALS = 1.5;

export interface GatewayStatus {
  /** ms epoch at which the answer was made. */
  time: number;
  bus: {
    transport: string;
    state: TransportStatus['type'];
    /** ms epoch of the last change of state. */
    since: number;
    lastError?: string;
  };
  workers: WorkerStatus[];
  queues: QueueStatus[];
  /** Params rollouts and how far the fleet has got with each (llm/params). */
  rollouts?: RolloutStatus[];
}

export interface WorkerStatus {
  id: string;
  /** What the worker says of itself: ready or draining. */
  status: string;
  /** What the gateway sees: ok, or late when heartbeats stopped arriving on time. */
  health: 'ok' | 'late';
  models: readonly string[];
  capacity: number;
  inflight: number;
  /** Requests this gateway has sent the worker and not yet seen end. */
  outstanding: number;
  cachedBlocks: number;
  lastHeartbeatAgeMs: number;
  heartbeatIntervalMs: number;
  uptimeMs: number;
  /** The params versions it holds (llm/params). */
  params?: readonly HeldParams[];
}

export interface QueueStatus {
  model: string;
  /** Requests waiting for a slot. */
  depth: number;
  inflight: number;
  /** Slots of the model's ready workers. */
  capacity: number;
  /** The slots this gateway may hold: `capacity` unless other gateways want the model too. */
  share: number;
  oldestEnqueuedAt: number | null;
  oldestWaitMs: number | null;
  serviceMs: number | null;
}

export interface StatusSources {
  readonly registry: WorkerRegistry;
  readonly admission: AdmissionController;
  readonly rollouts?: { status(): RolloutStatus[] };
}

/** The route handler; follows the bus transport's state from the moment it is made. */
export function statusRoute(sources: StatusSources, bus: Bus): Handler {
  const { registry, admission } = sources;
  const state: GatewayStatus['bus'] = {
    transport: bus.transport.name,
    state: 'connecting',
    since: Date.now(),
  };
  void (async () => {
    for await (const s of bus.transport.status()) {
      state.state = s.type;
      state.since = Date.now();
      if ((s.type === 'error' || s.type === 'disconnected') && s.error !== undefined) {
        state.lastError = s.error.message;
      }
    }
  })().catch(() => undefined);

  return (ctx) => {
    const now = Date.now();
    const workers = registry
      .all()
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((w): WorkerStatus => ({
        id: w.id,
        status: w.status,
        health: now - w.lastSeen > LATE_AFTER_INTERVALS * w.intervalMs ? 'late' : 'ok',
        models: w.models,
        capacity: w.capacity,
        inflight: w.inflight,
        outstanding: w.outstanding,
        cachedBlocks: w.prefixHashes.size,
        lastHeartbeatAgeMs: now - w.lastSeen,
        heartbeatIntervalMs: w.intervalMs,
        uptimeMs: now - w.firstSeen,
        ...(w.params.length === 0 ? {} : { params: w.params }),
      }));
    const queues = admission.modelNames().map((model): QueueStatus => {
      const s = admission.snapshot(model);
      return {
        model,
        depth: s.queued,
        inflight: s.inflight,
        capacity: s.capacity,
        share: s.share,
        oldestEnqueuedAt: s.oldestEnqueuedAt ?? null,
        oldestWaitMs: s.oldestEnqueuedAt === undefined ? null : now - s.oldestEnqueuedAt,
        serviceMs: s.serviceMs === undefined ? null : Math.round(s.serviceMs),
      };
    });
    const rollouts = sources.rollouts?.status() ?? [];
    const body: GatewayStatus = {
      time: now,
      bus: { ...state },
      workers,
      queues,
      ...(rollouts.length === 0 ? {} : { rollouts }),
    };
    sendJson(ctx, 200, body);
    return Promise.resolve();
  };
}
