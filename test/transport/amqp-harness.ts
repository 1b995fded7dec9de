// Shared set-up of the amqp transport tests: the broker's address, a check that it answers,
// and transports in a namespace of their own that delete what they declared when closed.
import { randomBytes } from 'node:crypto';
import {
  createAmqpTransport,
  type AmqpTransport,
  type AmqpTransportOptions,
} from '../../src/transport/amqp/index.js';
import { AMQP_URL, NEEDS, requires } from '../helpers/requires.js';

export { AMQP_URL };

/** The URL without its password, for messages. */
export const SHOWN_URL = AMQP_URL.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

/**
 * Registers `suites` when RabbitMQ answers; otherwise a stand-in test says why (skipped, or
 * failed under CI).
 */
export async function withBroker(what: string, suites: () => void): Promise<void> {
  if (await requires(what, NEEDS.amqp)) suites();
}

/** A namespace (subject exchange and queue prefix) for one test. */
export function namespace(): string {
  return `lwt_${randomBytes(6).toString('hex')}`;
}

/** A connected transport that deletes its queues and exchanges when closed (or disposed). */
export async function openTransport(
  options: Partial<AmqpTransportOptions> = {},
): Promise<AmqpTransport & AsyncDisposable> {
  const t = createAmqpTransport({
    url: AMQP_URL,
    exchange: namespace(),
    deleteOnClose: true,
    reconnect: { initialMs: 50, maxMs: 1000 },
    onError: () => undefined,
    ...options,
  });
  await t.ready;
  return Object.assign(t, { [Symbol.asyncDispose]: () => t.close() });
}
