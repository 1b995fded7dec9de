// Shared set-up of the amqp transport tests: the broker's address, a check that it answers,
// and transports in a namespace of their own that delete what they declared when closed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import amqp from 'amqplib';
import {
  createAmqpTransport,
  type AmqpTransport,
  type AmqpTransportOptions,
} from '../../src/transport/amqp/index.js';

export const AMQP_URL = process.env.LLMWIRE_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** The URL without its password, for messages. */
export const SHOWN_URL = AMQP_URL.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

async function brokerAnswers(): Promise<boolean> {
  try {
    const conn = await amqp.connect(AMQP_URL, { timeout: 3000 });
    await conn.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Registers `suites` when RabbitMQ answers. Without a broker the run fails under CI=true, and
 * otherwise skips them with a line saying what was skipped and why.
 */
export async function withBroker(what: string, suites: () => void): Promise<void> {
  if (await brokerAnswers()) {
    suites();
    return;
  }
  if (process.env.CI === 'true') {
    test(`${what} - RabbitMQ answers at ${SHOWN_URL}`, () => {
      assert.fail(`no RabbitMQ at ${SHOWN_URL} (CI=true: a missing broker fails the run)`);
    });
    return;
  }
  console.log(
    `skipped: ${what} (no RabbitMQ at ${SHOWN_URL}; set LLMWIRE_AMQP_URL to point at one)`,
  );
  test(what, { skip: `no RabbitMQ at ${SHOWN_URL}` }, () => undefined);
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
