// A durable queue on JetStream. One work-queue stream per queue holds live messages on
// `<root>.<class>.u` (no key) or `<root>.<class>.k.<key token>`, and delayed ones on `<root>.d`;
// one pull consumer per priority class (AckWait = lease) and one for delayed messages; dead
// letters in a second stream (dead-letters.ts). Receive pulls the classes highest first, holds
// back messages whose key has an older unacked message (key-gate.ts), dead-letters expired ones
// and those whose lease ran out on the last attempt, and moves delayed messages that fell due.
import {
  headers,
  nanos,
  PermissionViolationError,
  type Msg,
  type Subscription,
} from '@nats-io/transport-node';
import {
  ClosedError,
  ForbiddenError,
  PayloadTooLargeError,
  type Envelope,
  type WireErrorBody,
} from '../../protocol/index.js';
import { LEASE_EXPIRED, lastError } from '../queue-contract.js';
import { expiryOf } from '../queue-policy.js';
import type {
  DeadLetter,
  DeadLetterReason,
  Delivery,
  DurableQueue,
  EnqueueOptions,
  EnqueueResult,
  QueueStats,
  ReceiveOptions,
  ResolvedQueueOptions,
} from '../transport.js';
import { brokerError, payloadLimit, publishDurable, type NatsContext } from './context.js';
import { buryPulled, DeadLetterBox } from './dead-letters.js';
import { moveDue } from './delayed.js';
import { JsDelivery } from './delivery.js';
import { HeldIds } from '../held-ids.js';
import { KeyGate, type Parked } from './key-gate.js';
import { ParkLedger } from './park-ledger.js';
import {
  CLASSES,
  classOf,
  HEADER,
  headerNumber,
  keyLane,
  keyToken,
  queueNames,
  readySubject,
  type PriorityClass,
  type QueueNames,
} from './names.js';
import { nextBySubject, parseAckSubject, pullNow, type AckInfo } from './pull.js';
import { consumerCounts, setupQueue } from './setup.js';
import { Waker } from './waker.js';

/** Delayed messages moved per look. */
const DUE_BATCH = 256;
/** First pause of a waiting receive between looks; doubles up to the poll interval. */
const FIRST_PAUSE_MS = 10;

export class NatsQueue implements DurableQueue {
  private readonly names: QueueNames;
  private readonly gate: KeyGate;
  /** Ids enqueued here and not yet seen to leave: duplicates even past JetStream's window. */
  private readonly held = new HeldIds();
  private readonly letters: DeadLetterBox;
  private readonly ledger: ParkLedger;
  private readonly waker = new Waker();
  private setupDone: Promise<void> | undefined;
  private wakeSub: Subscription | undefined;
  private nextDuePoll = 0;
  private closed = false;

  constructor(
    private readonly ctx: NatsContext,
    readonly name: string,
    private readonly options: ResolvedQueueOptions,
  ) {
    this.names = queueNames(ctx.prefix, name);
    this.ledger = new ParkLedger(ctx, this.names.parkBucket);
    this.gate = new KeyGate({
      nc: ctx.nc,
      headOf: (token) => this.headOf(token),
      expire: (p) =>
        void this.kill(
          p.msg,
          p.info,
          'expired',
          p.info.delivered - p.returned - 1,
          undefined,
        ).catch(ctx.onError),
      ledger: this.ledger,
      leaseMs: options.leaseMs,
      recheckMs: ctx.pollMs,
      onError: ctx.onError,
    });
    this.letters = new DeadLetterBox(ctx, this.names, () => this.nudge());
    this.ready().catch(() => undefined); // start early; failures surface on first use
  }

  /** Creates the streams and consumers once; a failure is retried by the next call. */
  private ready(): Promise<void> {
    this.setupDone ??= setupQueue(this.ctx.jsm, this.names, this.options, this.ctx.setup).catch(
      (err: unknown) => {
        this.setupDone = undefined;
        // A user whose grants do not reach the queue's streams is refused, not told to retry.
        const cause = (err as { cause?: unknown } | null)?.cause;
        if (err instanceof PermissionViolationError || cause instanceof PermissionViolationError) {
          throw new ForbiddenError(`NATS user may not use queue '${this.name}'`, { cause: err });
        }
        throw brokerError(err, `setup of queue '${this.name}'`);
      },
    );
    return this.setupDone;
  }

  private assertOpen(): void {
    if (this.closed || this.ctx.isClosed()) throw new ClosedError(`queue '${this.name}'`);
  }

  async enqueue(env: Envelope, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    this.assertOpen();
    if (this.held.has(env.id)) return { id: env.id, duplicate: true };
    const frame = this.ctx.codec.encode(env);
    const limit = payloadLimit(this.ctx);
    if (frame.byteLength > limit) {
      throw new PayloadTooLargeError(
        `queued message of ${frame.byteLength} bytes exceeds the broker's ${limit}-byte limit`,
        { details: { size: frame.byteLength, limit } },
      );
    }
    await this.ready();
    const now = Date.now();
    const expiresAt = expiryOf(env.deadline, now, opts.ttlMs);
    const cls = classOf(env.prio);
    const token = env.key === undefined ? undefined : keyToken(env.key);
    const h = headers();
    h.set(HEADER.id, env.id);
    if (expiresAt !== Number.POSITIVE_INFINITY) h.set(HEADER.expires, String(expiresAt));
    if (token !== undefined) h.set(HEADER.key, token);
    const delay = opts.delayMs ?? 0;
    let subject = readySubject(this.names, cls, token);
    if (delay > 0) {
      h.set(HEADER.notBefore, String(now + delay));
      h.set(HEADER.class, cls);
      subject = this.names.delayed;
    }
    const dedup = this.options.dedupWindowMs > 0 ? env.id : undefined;
    const ack = await publishDurable(this.ctx, subject, frame, h, dedup);
    if (!ack.duplicate) {
      this.held.add(env.id);
      this.nudge();
      if (delay > 0) this.waker.at(now + delay);
    }
    return { id: env.id, duplicate: ack.duplicate };
  }

  async receive(opts: ReceiveOptions): Promise<Delivery[]> {
    this.assertOpen();
    await this.ready();
    const until = Date.now() + Math.max(0, opts.waitMs);
    let pause = FIRST_PAUSE_MS;
    for (;;) {
      const out = await this.collect(opts.max);
      if (out.length > 0 || this.closed || opts.signal?.aborted === true) return out;
      const left = until - Date.now();
      if (left <= 0) return out;
      this.listenForWake();
      const woken = await this.waker.wait(Math.min(left, pause), opts.signal);
      pause = woken ? FIRST_PAUSE_MS : Math.min(pause * 2, this.ctx.pollMs);
    }
  }

  /** One look: due delayed messages moved, then heads of parked keys and pulls, by class. */
  private async collect(max: number): Promise<Delivery[]> {
    const now = Date.now();
    if (now >= this.nextDuePoll) {
      this.nextDuePoll = now + this.ctx.pollMs;
      await this.moveDue();
    }
    const heads = await this.gate.heads(now);
    const out: Delivery[] = [];
    for (const cls of CLASSES) {
      for (const p of heads) {
        if (out.length >= max) break;
        if (p.cls !== cls) continue;
        const d = await this.unpark(p);
        if (d !== undefined) out.push(d);
      }
      while (out.length < max) {
        const want = max - out.length;
        const pulledAt = Date.now();
        const msgs = await this.pull(cls, want);
        const admitted = await Promise.all(
          msgs.map((m) =>
            this.admit(m, cls, pulledAt).catch((err: unknown) => {
              // Not handed out: it comes back when its lease runs out.
              this.ctx.onError(err);
              return undefined;
            }),
          ),
        );
        for (const d of admitted) if (d !== undefined) out.push(d);
        if (msgs.length < want) break;
      }
    }
    return out;
  }

  private async pull(consumer: string, batch: number): Promise<Msg[]> {
    try {
      const { nc, requestTimeoutMs } = this.ctx;
      return await pullNow(nc, this.names.stream, consumer, batch, requestTimeoutMs);
    } catch (err) {
      this.setupDone = undefined; // a consumer that does not answer may have been removed
      throw brokerError(err, `pull from queue '${this.name}'`);
    }
  }

  /** Turns a pulled message into a delivery, or parks or dead-letters it. */
  private async admit(m: Msg, cls: PriorityClass, pulledAt: number): Promise<Delivery | undefined> {
    const info = parseAckSubject(m.reply ?? '');
    if (info === undefined) return undefined;
    const token = m.headers?.get(HEADER.key) || undefined;
    const returned =
      token !== undefined && info.delivered > 1 ? await this.ledger.returned(info.streamSeq) : 0;
    const attempt = info.delivered - returned;
    const expiresAt = headerNumber(m, HEADER.expires) ?? Number.POSITIVE_INFINITY;
    if (expiresAt <= Date.now()) {
      await this.kill(m, info, 'expired', attempt - 1, undefined);
      return undefined;
    }
    if (attempt > this.options.maxAttempts) {
      // Its lease ran out on the last attempt: the memory transport dead-letters it then.
      await this.kill(m, info, 'max_attempts', attempt - 1, LEASE_EXPIRED);
      return undefined;
    }
    if (token !== undefined) {
      let head: number | undefined;
      try {
        head = await this.headOf(token);
      } catch (err) {
        this.ctx.onError(err);
        head = 0; // unknown: hold it back rather than risk running ahead of its key
      }
      if (head !== undefined && head < info.streamSeq) {
        this.park({ msg: m, info, token, cls, expiresAt, returned, head: false });
        return undefined;
      }
    }
    return this.deliver(m, info, attempt, token, pulledAt + this.options.leaseMs);
  }

  private park(p: Parked): void {
    if (this.gate.park(p)) return;
    const delay = this.options.leaseMs;
    this.ctx.nc.publish(p.info.reply, `-NAK ${JSON.stringify({ delay: nanos(delay) })}`);
  }

  private async unpark(p: Parked): Promise<Delivery | undefined> {
    this.gate.take(p);
    if (p.expiresAt <= Date.now()) {
      await this.kill(p.msg, p.info, 'expired', p.info.delivered - p.returned - 1, undefined);
      return undefined;
    }
    // Restart the AckWait now that it is handed out; our lease view starts before the server's.
    const leaseUntil = Date.now() + this.options.leaseMs;
    this.ctx.nc.publish(p.info.reply, '+WPI');
    return this.deliver(p.msg, p.info, p.info.delivered - p.returned, p.token, leaseUntil);
  }

  private async deliver(
    m: Msg,
    info: AckInfo,
    attempt: number,
    token: string | undefined,
    leaseUntil: number,
  ): Promise<Delivery | undefined> {
    let env: Envelope;
    try {
      env = this.ctx.codec.decode(m.data);
    } catch (err) {
      // Unreadable here (another codec's keys, a damaged frame): a poison message.
      const error = { code: 'invalid_message', message: (err as Error).message, retryable: false };
      await this.kill(m, info, 'rejected', attempt - 1, error as WireErrorBody);
      return undefined;
    }
    const settled = (retryAt?: number) => {
      if (token !== undefined) this.gate.touch(token);
      if (retryAt !== undefined) this.waker.at(retryAt);
      this.waker.wake();
    };
    return new JsDelivery(
      {
        ctx: this.ctx,
        leaseMs: this.options.leaseMs,
        maxAttempts: this.options.maxAttempts,
        backoff: this.options.backoff,
        deadLetter: (reason, attempts, error) => this.kill(m, info, reason, attempts, error),
        noteError: (error) => this.ledger.noteError(info.streamSeq, error),
        acked: () => this.held.delete(env.id),
        settled,
      },
      info.reply,
      env,
      attempt,
      leaseUntil,
    );
  }

  /** Dead-letters a pulled message: stored in the dead-letter stream, then acked away. */
  private async kill(
    m: Msg,
    info: AckInfo,
    reason: DeadLetterReason,
    attempts: number,
    error: WireErrorBody | undefined,
  ): Promise<void> {
    // A nack without an error keeps the one before it (queue-contract.ts `lastError`); the
    // ledger is read only when this death brings no error of its own.
    const last = error ?? lastError(await this.ledger.lastError(info.streamSeq), undefined);
    await buryPulled(this.ctx, this.names, m, info, { reason, attempts, error: last });
    const token = m.headers?.get(HEADER.key);
    if (token) this.gate.touch(token);
    const id = m.headers?.get(HEADER.id);
    if (id) this.held.delete(id);
  }

  /** Oldest message of a key still in the stream (acked ones are gone: work-queue retention). */
  private async headOf(token: string): Promise<number | undefined> {
    const m = await this.ctx.jsm.streams.getMessage(
      this.names.stream,
      nextBySubject(keyLane(this.names, token), 0),
    );
    return m?.seq;
  }

  /** Moves delayed messages that fell due to their class subject; others wait (nak'ed). */
  private async moveDue(): Promise<void> {
    let msgs: Msg[];
    try {
      msgs = await this.pull('d', DUE_BATCH);
    } catch (err) {
      this.ctx.onError(err);
      return;
    }
    await moveDue(
      {
        ctx: this.ctx,
        names: this.names,
        dedup: this.options.dedupWindowMs > 0,
        waker: this.waker,
        kill: (m, info) => this.kill(m, info, 'expired', 0, undefined),
      },
      msgs,
    );
  }

  /** Tells waiting receivers everywhere to look now (a core message, not stored). */
  private nudge(): void {
    try {
      this.ctx.nc.publish(this.names.wake);
    } catch (err) {
      this.ctx.onError(err);
    }
    this.waker.wake();
  }

  private listenForWake(): void {
    this.wakeSub ??= this.ctx.nc.subscribe(this.names.wake, { callback: () => this.waker.wake() });
  }

  async stats(): Promise<QueueStats> {
    this.assertOpen();
    await this.ready();
    try {
      const [counts, dead] = await Promise.all([
        consumerCounts(this.ctx.jsm, this.names),
        this.letters.count(),
      ]);
      // Followers parked behind their key in this process are leased on the server but wait,
      // as far as the contract goes; those parked by other processes still count as leased.
      const parked = Math.min(this.gate.size, counts.leased);
      return { ...counts, leased: counts.leased - parked, delayed: counts.delayed + parked, dead };
    } catch (err) {
      throw brokerError(err, `stats of queue '${this.name}'`);
    }
  }

  async deadLetters(options?: { limit?: number }): Promise<DeadLetter[]> {
    this.assertOpen();
    await this.ready();
    return this.letters.list(options?.limit);
  }

  async replayDeadLetters(ids?: string[]): Promise<number> {
    this.assertOpen();
    await this.ready();
    return this.letters.replay(ids);
  }

  async purgeDeadLetters(ids?: string[]): Promise<number> {
    this.assertOpen();
    await this.ready();
    return this.letters.purge(ids);
  }

  /** Stops waiting receives and gives parked messages back; the broker keeps everything else. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waker.close();
    this.wakeSub?.unsubscribe();
    await this.gate.close();
  }
}
