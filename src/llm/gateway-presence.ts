// Gateway liveness (docs/protocol.md, "Gateway heartbeats"): each gateway announces itself every
// second on `llm.gateway.heartbeat.<id>` with the inbox its requests are answered on; workers
// tie each generation to the inbox it streams to and stop it when that gateway's heartbeats
// stop (five missed) or it says it stopped. A gateway killed under load then frees the workers'
// slots within seconds instead of leaving them to compute answers nobody reads. The heartbeats
// also carry what the gateway's tenants want of each model, from which the gateways share each
// model's slots (routing/shared-slots.ts); each gateway hears the others' (GatewayPeers).
import { randomBytes } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Bus, Message } from '../bus/index.js';
import type { Logger } from '../ops/index.js';
import { HeartbeatListener } from './heartbeat-listener.js';
import {
  MAX_REPORTED_MODELS,
  MAX_REPORTED_TENANTS,
  MAX_REPORTED_WANT,
  MAX_REPORTED_WEIGHT,
  PeerDemand,
  type ModelDemand,
} from './routing/shared-slots.js';
import type { LlmSubjects } from './subjects.js';

/** The event type of a gateway heartbeat (an `event` envelope's body.type). */
export const GATEWAY_HEARTBEAT = 'gateway.heartbeat';

/** What a gateway heartbeat carries in its event's `data`, `demand` aside. */
const BeatBaseSchema = Type.Object({
  gateway: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  /** The inbox the gateway's requests name as `replyTo`. */
  inbox: Type.String({ minLength: 1, maxLength: 256 }),
  intervalMs: Type.Integer({ minimum: 10, maximum: 600_000 }),
  status: Type.Union([Type.Literal('ready'), Type.Literal('stopped')]),
});

/** What the gateway's tenants want of each model: requests inflight and queued there. */
export const GatewayDemandSchema = Type.Array(
  Type.Object(
    {
      model: Type.String({ minLength: 1, maxLength: 256 }),
      tenants: Type.Array(
        Type.Object(
          {
            tenant: Type.String({ minLength: 1, maxLength: 128 }),
            weight: Type.Number({ exclusiveMinimum: 0, maximum: MAX_REPORTED_WEIGHT }),
            want: Type.Integer({ minimum: 1, maximum: MAX_REPORTED_WANT }),
          },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: MAX_REPORTED_TENANTS },
      ),
    },
    { additionalProperties: false },
  ),
  { maxItems: MAX_REPORTED_MODELS },
);

/** What a gateway heartbeat carries in its event's `data`. */
export const GatewayBeatSchema = Type.Composite([
  BeatBaseSchema,
  Type.Object({ demand: Type.Optional(GatewayDemandSchema) }),
]);
export type GatewayBeat = Static<typeof GatewayBeatSchema>;
// Workers read a beat without its demand: a peer's bad demand never hides its liveness.
const checkBase = TypeCompiler.Compile(BeatBaseSchema);
const checkDemand = TypeCompiler.Compile(GatewayDemandSchema);

/** The gateway heartbeat `msg` carries, when it is one and names its own subject's id. */
function readBeat(msg: Message, subjects: LlmSubjects): Static<typeof BeatBaseSchema> | undefined {
  const body = msg.body as { type?: unknown; data?: unknown } | undefined;
  if (msg.kind !== 'event' || body?.type !== GATEWAY_HEARTBEAT) return undefined;
  if (!checkBase.Check(body.data)) return undefined;
  // A heartbeat names its own subject's id: one gateway cannot speak for another.
  return msg.subject === subjects.gatewayHeartbeat(body.data.gateway) ? body.data : undefined;
}

/**
 * Heartbeats missed before a gateway is taken to be gone: more than the worker registry's three,
 * since a gateway opening a thousand streams at once can go quiet for seconds while alive, and
 * stopping a live gateway's generations costs it a failover of each.
 */
const MISSED_BEATS = 5;
/** How often a worker looks for gateways gone quiet. */
const SWEEP_MS = 250;
/** Shortest time between two heartbeats sent early because the demand moved (nudge). */
const NUDGE_MS = 100;

/** The gateway side: announces itself (and its demand) until stopped, then says so once. */
export class GatewayPresence {
  readonly id = `g-${randomBytes(6).toString('hex')}`;
  private timer: NodeJS.Timeout | undefined;
  private nudgeTimer: NodeJS.Timeout | undefined;
  private lastBeat = 0;

  constructor(
    private readonly bus: Bus,
    private readonly subjects: LlmSubjects,
    readonly intervalMs = 1000,
    /** What this gateway wants of each model, carried in each heartbeat. */
    private readonly demand: () => ModelDemand[] = () => [],
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.beat('ready');
    this.timer = setInterval(() => this.beat('ready'), this.intervalMs);
    this.timer.unref();
  }

  /** One heartbeat now, e.g. for a worker that just joined and has not heard this gateway. */
  announce(): void {
    if (this.timer !== undefined) this.beat('ready');
  }

  /**
   * A heartbeat soon, for peers to hear a demand that moved: now, or NUDGE_MS after the last
   * one, so that a gateway whose demand churns sends at most ten a second.
   */
  nudge(): void {
    if (this.timer === undefined || this.nudgeTimer !== undefined) return;
    const wait = this.lastBeat + NUDGE_MS - Date.now();
    if (wait <= 0) return this.beat('ready');
    this.nudgeTimer = setTimeout(() => {
      this.nudgeTimer = undefined;
      if (this.timer !== undefined) this.beat('ready');
    }, wait);
    this.nudgeTimer.unref();
  }

  /** Stops the heartbeats and tells workers that whatever still streams to it may stop. */
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    clearTimeout(this.nudgeTimer);
    this.nudgeTimer = undefined;
    this.timer = undefined;
    this.beat('stopped');
  }

  private beat(status: GatewayBeat['status']): void {
    this.lastBeat = Date.now();
    const demand = status === 'ready' ? this.demand() : [];
    const data: Omit<GatewayBeat, 'demand'> & { demand?: readonly ModelDemand[] } = {
      gateway: this.id,
      inbox: this.bus.inbox,
      intervalMs: this.intervalMs,
      status,
      ...(demand.length === 0 ? {} : { demand }),
    };
    try {
      this.bus.publish(
        this.subjects.gatewayHeartbeat(this.id),
        { type: GATEWAY_HEARTBEAT, data },
        { kind: 'event' },
      );
    } catch (err) {
      this.bus.reportError(err);
    }
  }
}

interface Seen {
  /** Undefined until a heartbeat names this inbox (a generation may start before one comes). */
  gateway: string | undefined;
  lastMs: number;
  intervalMs: number;
  /** Cancels of the generations streaming to this gateway's inbox. */
  readonly running: Set<(reason: string) => void>;
}

/**
 * The worker side: hears gateway heartbeats and stops the generations of a gateway that has gone
 * quiet. Generations to an inbox no heartbeat has named (a plain bus client) are left alone;
 * they are tied to the gateway if its heartbeat comes while they run.
 */
export class GatewayWatch {
  private readonly seen = new Map<string, Seen>();
  private readonly listener: HeartbeatListener;
  /** Generations stopped because their gateway went away. */
  stopped = 0;

  constructor(
    bus: Bus,
    private readonly subjects: LlmSubjects,
    private readonly onLost: (gateway: string, stopped: number) => void = () => undefined,
  ) {
    this.listener = new HeartbeatListener(
      bus,
      subjects.gatewayHeartbeats,
      SWEEP_MS,
      (msg) => {
        const beat = readBeat(msg, this.subjects);
        if (beat !== undefined) this.onBeat(beat);
      },
      (now, behindMs) => this.sweep(now, behindMs),
    );
  }

  start(): Promise<void> {
    return this.listener.start();
  }

  stop(): void {
    this.listener.stop();
  }

  /**
   * Ties a generation answering to `inbox` to that gateway's liveness; `cancel` is called with
   * why if it goes away first. Returns the function that unties it when the generation ends.
   */
  track(inbox: string | undefined, cancel: (reason: string) => void): () => void {
    if (inbox === undefined) return () => undefined;
    let seen = this.seen.get(inbox);
    if (seen === undefined) {
      // Not announced (yet): a gateway's first heartbeat may come after its first request here.
      seen = { gateway: undefined, lastMs: 0, intervalMs: 0, running: new Set() };
      this.seen.set(inbox, seen);
    }
    const entry = seen;
    entry.running.add(cancel);
    return () => {
      entry.running.delete(cancel);
      if (entry.gateway === undefined && entry.running.size === 0) this.seen.delete(inbox);
    };
  }

  private onBeat(beat: Static<typeof BeatBaseSchema>): void {
    let seen = this.seen.get(beat.inbox);
    if (seen !== undefined && seen.gateway !== undefined && seen.gateway !== beat.gateway) return;
    if (beat.status === 'stopped') {
      if (seen !== undefined) this.lose(beat.inbox, seen, 'requesting gateway stopped');
      return;
    }
    if (seen === undefined) {
      seen = { gateway: beat.gateway, lastMs: 0, intervalMs: 0, running: new Set() };
      this.seen.set(beat.inbox, seen);
    }
    seen.gateway = beat.gateway;
    seen.lastMs = Date.now();
    seen.intervalMs = beat.intervalMs;
  }

  private sweep(now: number, behindMs: number): void {
    // A loop too busy to run its timers judges no gateway until it has caught up.
    if (behindMs > 0) {
      for (const seen of this.seen.values()) seen.lastMs = Math.max(seen.lastMs, now - behindMs);
      return;
    }
    for (const [inbox, seen] of this.seen) {
      if (seen.gateway === undefined) continue; // a requester that never announced itself
      if (now - seen.lastMs > MISSED_BEATS * seen.intervalMs) {
        this.lose(inbox, seen, 'requesting gateway is gone (heartbeats stopped)');
      }
    }
  }

  private lose(inbox: string, seen: Seen, reason: string): void {
    this.seen.delete(inbox);
    const cancels = [...seen.running];
    seen.running.clear();
    this.stopped += cancels.length;
    for (const cancel of cancels) cancel(reason);
    this.onLost(seen.gateway ?? '', cancels.length);
  }
}

/** Warnings about bad heartbeats from peers: at most one a minute. */
const WARN_EVERY_MS = 60_000;

/**
 * The gateway side of the other gateways: hears their heartbeats and keeps the latest demand of
 * each live one (dropped when it says it stopped or misses five beats), for admission to share
 * the models' slots with them. `onChange` is called when their demand may have changed this
 * gateway's shares: a beat with other wants, a gateway gone, and every SWEEP_MS while there are
 * peers (the rounding of fractional shares turns each second: shared-slots.ts rotationOffset).
 */
export class GatewayPeers {
  readonly demand = new PeerDemand(MISSED_BEATS);
  private readonly listener: HeartbeatListener;
  private lastWarning = Number.NEGATIVE_INFINITY;

  constructor(
    bus: Bus,
    private readonly subjects: LlmSubjects,
    private readonly self: string,
    private readonly log: Logger,
    private readonly onChange: () => void,
  ) {
    this.listener = new HeartbeatListener(
      bus,
      subjects.gatewayHeartbeats,
      SWEEP_MS,
      (msg) => this.onMessage(msg),
      (now, behindMs) => this.sweep(now, behindMs),
    );
  }

  start(): Promise<void> {
    return this.listener.start();
  }

  stop(): void {
    this.listener.stop();
  }

  private onMessage(msg: Message): void {
    const body = msg.body as { type?: unknown; data?: { demand?: unknown } } | undefined;
    if (msg.kind !== 'event' || body?.type !== GATEWAY_HEARTBEAT) return;
    const beat = readBeat(msg, this.subjects);
    if (beat === undefined) return this.warn(msg.subject, 'malformed heartbeat, dropped');
    if (beat.gateway === this.self) return;
    if (beat.status === 'stopped') {
      if (this.demand.remove(beat.gateway).size > 0) this.onChange();
      return;
    }
    const raw = body.data?.demand ?? [];
    const demand = checkDemand.Check(raw) ? raw : [];
    if (demand !== raw) this.warn(msg.subject, 'malformed demand, taken as none');
    const changed = this.demand.update(beat.gateway, beat.intervalMs, demand, Date.now());
    if (changed.size > 0) this.onChange();
  }

  private sweep(now: number, behindMs: number): void {
    // As GatewayWatch: a loop too busy to run its timers judges no gateway until it caught up.
    let dropped = 0;
    if (behindMs > 0) this.demand.excuse(now, behindMs);
    else dropped = this.demand.sweep(now).size;
    if (dropped > 0 || this.demand.size > 0) this.onChange();
  }

  private warn(subject: string, reason: string): void {
    const now = Date.now();
    if (now - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = now;
    this.log.warn(
      { subject, reason, code: 'invalid_message' },
      'bad gateway heartbeat from the bus (at most one warning a minute)',
    );
  }
}
