// Wake-ups for receives waiting on a durable queue. The queue scripts PUBLISH on the queue's
// bell channel whenever a message may have become ready (enqueue, retry, the next message of a
// key released, a delay come due); a waiting receive listens on the subscriber connection and
// takes again when it rings. Waiting thus holds no connection and no blocking command, however
// many receives wait; timers cover what no one rings for (a delay or lease coming due with no
// script running) and a bell missed while disconnected.
import type { Redis } from 'ioredis';
import { redisFailure } from './queue-store.js';

/** One queue's bell: subscribed while receives wait on it (and a little after). */
export interface Bell {
  readonly channel: string;
  /** Counts rings: a receive compares it before and after a take, so no ring is missed. */
  rings: number;
  ready: Promise<void>;
  users: number;
  readonly waiters: Set<() => void>;
  idleTimer: NodeJS.Timeout | undefined;
}

/** How long a bell stays subscribed with nobody waiting: a consumer loop comes back soon. */
const LINGER_MS = 30_000;

export class Bells {
  private readonly bells = new Map<string, Bell>();

  constructor(private readonly sub: Redis) {
    sub.on('messageBuffer', (channel: Buffer) => {
      const bell = this.bells.get(channel.toString());
      if (bell !== undefined) ring(bell);
    });
  }

  /** The bell of a queue, subscribed; pair with `release`. */
  acquire(channel: string): Bell {
    let bell = this.bells.get(channel);
    if (bell === undefined) {
      const created: Bell = {
        channel,
        rings: 0,
        ready: Promise.resolve(),
        users: 0,
        waiters: new Set(),
        idleTimer: undefined,
      };
      created.ready = this.sub.subscribe(channel).then(
        () => undefined,
        (err: unknown) => {
          // Forgotten, so the next receive subscribes afresh; this one sees the error.
          if (this.bells.get(channel) === created) this.bells.delete(channel);
          throw redisFailure(err);
        },
      );
      created.ready.catch(() => undefined);
      this.bells.set(channel, created);
      bell = created;
    }
    clearTimeout(bell.idleTimer);
    bell.idleTimer = undefined;
    bell.users++;
    return bell;
  }

  release(bell: Bell): void {
    if (--bell.users > 0 || this.bells.get(bell.channel) !== bell) return;
    bell.idleTimer = setTimeout(() => {
      if (bell.users > 0) return;
      this.bells.delete(bell.channel);
      this.sub.unsubscribe(bell.channel).catch(() => undefined);
    }, LINGER_MS);
    bell.idleTimer.unref();
  }

  /** Waits for a ring, `ms`, or the signal, whichever comes first. */
  wait(bell: Bell, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        bell.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      bell.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Wakes every waiting receive: after a reconnect (rings may have been missed) or on close. */
  ringAll(): void {
    for (const bell of this.bells.values()) ring(bell);
  }

  close(): void {
    for (const bell of this.bells.values()) clearTimeout(bell.idleTimer);
    this.ringAll();
  }
}

function ring(bell: Bell): void {
  bell.rings++;
  for (const wake of [...bell.waiters]) wake();
}
