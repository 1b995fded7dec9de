// One channel for the transport's management work (declarations, queue counts, reading dead
// letters), used by one operation at a time: a dead-letter browse holds messages unacked until
// it gives them back, and counts taken on the same channel then see them back in place.
import type { Channel } from 'amqplib';
import { ConfigError, NotFoundError } from '../../protocol/index.js';
import { ManagedChannel, type AmqpLink } from './connection.js';

/** AMQP reply codes the adapter turns into typed errors. */
const NOT_FOUND = 404;
const PRECONDITION_FAILED = 406;

export class AdminChannel {
  private readonly managed: ManagedChannel<Channel>;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(link: AmqpLink) {
    this.managed = new ManagedChannel<Channel>(link, { confirm: false, setup: async () => {} });
  }

  /** The generation of the channel in use: declarations are redone on a new connection. */
  get generation(): number {
    return this.managed.generation;
  }

  /** Runs `fn` after every operation started before it. */
  run<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
    const next = this.tail.then(async () => {
      const ch = await this.managed.channel();
      try {
        return await fn(ch);
      } catch (err) {
        throw brokerError(err);
      }
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  close(): Promise<void> {
    return this.managed.stop();
  }
}

/** Rebuilds a channel-closing broker reply as a typed error; anything else passes through. */
export function brokerError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === PRECONDITION_FAILED) {
    return new ConfigError(
      `the broker refused a declaration; an object of that name exists with other settings (${message})`,
      { cause: err },
    );
  }
  if (code === NOT_FOUND)
    return new NotFoundError(`not found on the broker (${message})`, { cause: err });
  return err;
}
