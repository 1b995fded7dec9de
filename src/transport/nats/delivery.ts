// One leased delivery of a JetStream message. The lease is JetStream's AckWait; this side also
// keeps its own view of when the lease ends, because the server accepts an ack from a delivery
// that has already been redelivered to someone else: a stale ack here changes nothing.
import { nanos } from '@nats-io/transport-node';
import { NotFoundError, type Envelope, type WireErrorBody } from '../../protocol/index.js';
import { backoffDelay } from '../queue-policy.js';
import type { BackoffOptions, DeadLetterReason, Delivery, NackOptions } from '../transport.js';
import { ackVerb, type NatsContext } from './context.js';

export interface DeliveryDeps {
  readonly ctx: NatsContext;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  readonly backoff: BackoffOptions;
  /** Moves the message to the dead letters, then acks it off the work stream. */
  deadLetter(
    reason: DeadLetterReason,
    attempts: number,
    error: WireErrorBody | undefined,
  ): Promise<void>;
  /** The message was acked: it has left the queue. */
  acked(): void;
  /** Keeps the error of a nack that is not the last attempt, for a later dead letter. */
  noteError(error: WireErrorBody): Promise<void>;
  /** Called once the message is settled here; `retryAt` when it comes back later. */
  settled(retryAt?: number): void;
}

export class JsDelivery implements Delivery {
  readonly envelope: Envelope;
  private until: number;
  private state: 'leased' | 'settling' | 'done' = 'leased';
  private keepalive: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: DeliveryDeps,
    private readonly reply: string,
    env: Envelope,
    readonly attempt: number,
    leaseUntil: number,
  ) {
    this.envelope = { ...env, attempt };
    this.until = leaseUntil;
  }

  get leaseUntil(): number {
    return this.until;
  }

  private owns(): boolean {
    return this.state === 'leased' && Date.now() < this.until;
  }

  ack(): Promise<void> {
    return this.settle(async () => {
      await ackVerb(this.deps.ctx, this.reply, '+ACK');
      this.deps.acked();
      this.deps.settled();
    });
  }

  nack(options: NackOptions = {}): Promise<void> {
    return this.settle(async () => {
      if (this.attempt >= this.deps.maxAttempts) {
        await this.deps.deadLetter('max_attempts', this.attempt, options.error);
        this.deps.settled();
        return;
      }
      if (options.error !== undefined) await this.deps.noteError(options.error);
      const delay = options.delayMs ?? backoffDelay(this.attempt, this.deps.backoff);
      const verb = delay > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delay) })}` : '-NAK';
      await ackVerb(this.deps.ctx, this.reply, verb);
      this.deps.settled(Date.now() + delay);
    });
  }

  reject(error: WireErrorBody): Promise<void> {
    return this.settle(async () => {
      await this.deps.deadLetter('rejected', this.attempt, error);
      this.deps.settled();
    });
  }

  async extend(ms: number): Promise<void> {
    if (!this.owns()) throw new NotFoundError(`lease on ${this.envelope.id} was lost`);
    // working() restarts the full AckWait; a longer extension is kept up by repeating it.
    await ackVerb(this.deps.ctx, this.reply, '+WPI');
    this.until = Date.now() + ms;
    clearInterval(this.keepalive);
    this.keepalive = undefined;
    if (ms > this.deps.leaseMs) {
      this.keepalive = setInterval(() => this.renew(), Math.max(10, this.deps.leaseMs / 2));
      this.keepalive.unref();
    }
  }

  private renew(): void {
    if (!this.owns() || this.until - Date.now() <= this.deps.leaseMs / 2) {
      clearInterval(this.keepalive);
      this.keepalive = undefined;
    }
    if (this.owns()) {
      try {
        this.deps.ctx.nc.publish(this.reply, '+WPI');
      } catch (err) {
        this.deps.ctx.onError(err);
      }
    }
  }

  /** Runs `action` once while the lease is held; a settle after losing the lease is a no-op. */
  private async settle(action: () => Promise<void>): Promise<void> {
    if (!this.owns()) return;
    this.state = 'settling';
    clearInterval(this.keepalive);
    try {
      await action();
      this.state = 'done';
    } catch (err) {
      this.state = 'leased'; // the broker did not take it: the caller may try again
      throw err;
    }
  }
}
