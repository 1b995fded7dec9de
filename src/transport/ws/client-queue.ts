// A durable queue reached through the hub: every method is a request to the hub, which runs it
// on its local transport's queue. A delivery is named by the handle the hub gave it; a lease
// does not outlive the connection it was given on (the hub nacks it back when that drops).
import type { Codec } from '../../codec/codec.js';
import {
  errorFromWire,
  InternalError,
  NotFoundError,
  toWireError,
  type Envelope,
  type WireErrorBody,
} from '../../protocol/index.js';
import type {
  DeadLetter,
  Delivery,
  DurableQueue,
  EnqueueOptions,
  EnqueueResult,
  NackOptions,
  QueueStats,
  ReceiveOptions,
} from '../transport.js';
import {
  RESULTS,
  type DeadRecord,
  type DeliveryRecord,
  type HubRecord,
  type PeerRecord,
  type WireQueueOptions,
} from './wire.js';

export interface Reply {
  result: unknown;
  items: HubRecord[];
}

export interface RequestOptions {
  /** What to do when the connection drops before the reply: send again, or fail. */
  onLost: 'retry' | 'fail' | 'drop';
  timeoutMs?: number;
  /** Aborting asks the hub to end the request early (a long-poll answers with what it has). */
  signal?: AbortSignal;
}

/** What a remote queue needs from the client's connection to the hub. */
export interface HubLink {
  request(build: (id: number) => PeerRecord, options: RequestOptions): Promise<Reply>;
  /** Counts connections; a delivery is only settled on the one it came from. */
  readonly session: number;
  readonly codec: Codec;
  readonly requestTimeoutMs: number;
  reportError(err: unknown): void;
}

type QueueCall = Extract<PeerRecord, { op: `q.${string}` }>;
type WithoutCommon<R> = R extends unknown ? Omit<R, 'id' | 'queue' | 'opts'> : never;

/** A durable queue on the hub's transport, reached by requests over the link. */
export class RemoteQueue implements DurableQueue {
  constructor(
    readonly name: string,
    private readonly opts: WireQueueOptions | undefined,
    private readonly link: HubLink,
  ) {}

  private call(fields: WithoutCommon<QueueCall>, options: Partial<RequestOptions> = {}) {
    const { name, opts } = this;
    return this.link.request(
      (id) => ({ ...fields, id, queue: name, ...(opts === undefined ? {} : { opts }) }),
      { onLost: 'fail', ...options },
    );
  }

  private async count(reply: Promise<Reply>): Promise<number> {
    const { result } = await reply;
    if (!RESULTS.count.Check(result)) throw new InternalError('hub sent a malformed count');
    return result.n;
  }

  async enqueue(env: Envelope, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    const frame = this.link.codec.encode(env);
    const { result } = await this.call({
      op: 'q.enqueue',
      frame,
      ...(options.delayMs === undefined ? {} : { delayMs: millis(options.delayMs) }),
      ...(options.ttlMs === undefined ? {} : { ttlMs: millis(options.ttlMs) }),
    });
    if (!RESULTS.enqueue.Check(result)) {
      throw new InternalError('hub sent a malformed enqueue result');
    }
    return result;
  }

  async receive(options: ReceiveOptions): Promise<Delivery[]> {
    if (options.signal?.aborted) return [];
    const session = this.link.session;
    const waitMs = millis(options.waitMs);
    const { items } = await this.call(
      { op: 'q.receive', max: options.max, waitMs },
      {
        timeoutMs: waitMs + this.link.requestTimeoutMs,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
    );
    const out: Delivery[] = [];
    for (const item of items) {
      if (item.op !== 'dlv') continue;
      const d = this.delivery(item, session);
      if (d !== undefined) out.push(d);
    }
    return out;
  }

  private delivery(rec: DeliveryRecord, session: number): Delivery | undefined {
    const { link } = this;
    const call = (fields: WithoutCommon<QueueCall>) => this.call(fields);
    let envelope: Envelope;
    try {
      envelope = link.codec.decode(rec.frame);
    } catch (err) {
      // A message this peer cannot open is poison here: dead-letter it rather than loop on it.
      link.reportError(err);
      void call({ op: 'q.reject', h: rec.h, error: toWireError(err).toWire() }).catch(
        (e: unknown) => link.reportError(e),
      );
      return undefined;
    }
    // Settling on a later connection is a stale settle: the hub already took the lease back.
    const live = () => link.session === session;
    // Sent as time left, so the two machines' clocks need not agree.
    let leaseUntil = Date.now() + rec.leaseMs;
    return {
      envelope,
      attempt: rec.attempt,
      get leaseUntil() {
        return leaseUntil;
      },
      ack: async () => {
        if (live()) await call({ op: 'q.ack', h: rec.h });
      },
      nack: async (o: NackOptions = {}) => {
        if (!live()) return;
        await call({
          op: 'q.nack',
          h: rec.h,
          ...(o.delayMs === undefined ? {} : { delayMs: millis(o.delayMs) }),
          ...(o.error === undefined ? {} : { error: o.error }),
        });
      },
      extend: async (ms: number) => {
        if (!live()) {
          throw new NotFoundError(`lease on ${envelope.id} was lost with its connection`);
        }
        const asked = Date.now();
        await call({ op: 'q.extend', h: rec.h, ms: millis(ms) });
        leaseUntil = asked + ms;
      },
      reject: async (error: WireErrorBody) => {
        if (live()) await call({ op: 'q.reject', h: rec.h, error });
      },
    };
  }

  async stats(): Promise<QueueStats> {
    const { result } = await this.call({ op: 'q.stats' });
    if (!RESULTS.stats.Check(result)) throw new InternalError('hub sent malformed queue stats');
    return result;
  }

  async deadLetters(options: { limit?: number } = {}): Promise<DeadLetter[]> {
    const { items } = await this.call({
      op: 'q.dead',
      ...(options.limit === undefined ? {} : { limit: options.limit }),
    });
    return items
      .filter((i): i is DeadRecord => i.op === 'dead')
      .map((i) => deadLetter(i, this.link));
  }

  replayDeadLetters(ids?: string[]): Promise<number> {
    return this.count(this.call({ op: 'q.replay', ...(ids === undefined ? {} : { ids }) }));
  }

  purgeDeadLetters(ids?: string[]): Promise<number> {
    return this.count(this.call({ op: 'q.purge', ...(ids === undefined ? {} : { ids }) }));
  }
}

/** A duration as the wire carries it: whole ms, at least 0, at most ~4,000 years. */
function millis(ms: number): number {
  return Number.isFinite(ms)
    ? Math.min(Math.max(0, Math.round(ms)), 2 ** 47)
    : ms > 0
      ? 2 ** 47
      : 0;
}

function deadLetter(rec: DeadRecord, link: HubLink): DeadLetter {
  return {
    envelope: link.codec.decode(rec.frame),
    reason: rec.reason,
    attempts: rec.attempts,
    deadAt: rec.deadAt,
    ...(rec.error === undefined ? {} : { error: errorFromWire(rec.error).toWire() }),
  };
}
