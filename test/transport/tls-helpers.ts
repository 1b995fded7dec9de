// What the TLS and credentials suites do on every broker: one message through a subscription,
// one through a durable queue, and a check that a refusal is the typed `unauthorized` error
// whose message keeps the secret out.
import assert from 'node:assert/strict';
import { createEnvelope, type Envelope } from '../../src/protocol/index.js';
import type { Transport, TransportStatus } from '../../src/transport/transport.js';

export async function pubSubRoundTrip(t: Transport, subject: string): Promise<Envelope> {
  let received!: (env: Envelope) => void;
  const got = new Promise<Envelope>((resolve) => (received = resolve));
  const sub = t.subscribe(subject, (env) => received(env));
  await sub.ready;
  t.publish(createEnvelope({ kind: 'event', subject, body: { hello: subject } }));
  const env = await within(got, `a message on ${subject}`);
  sub.unsubscribe();
  return env;
}

export async function queueRoundTrip(t: Transport, name: string): Promise<void> {
  const q = t.queue(name);
  await q.enqueue(createEnvelope({ kind: 'event', subject: name, body: 'job' }));
  const [d] = await q.receive({ max: 1, waitMs: 5000 });
  assert.ok(d, `a delivery from queue ${name}`);
  assert.equal(d.envelope.body, 'job');
  await d.ack();
}

/** True if a message published on `subject` reaches `t`'s subscription within `ms`. */
export async function delivered(
  t: Transport,
  publish: () => void,
  subject: string,
  ms = 500,
): Promise<boolean> {
  let hit = false;
  const sub = t.subscribe(subject, () => (hit = true));
  await sub.ready;
  publish();
  await new Promise((r) => setTimeout(r, ms));
  sub.unsubscribe();
  return hit;
}

/** The error of the first `error` status, once the transport gives up; fails if it connects. */
export async function refusal(t: Transport, timeoutMs = 5000): Promise<Error> {
  const statuses: TransportStatus[] = [];
  const seen = (async () => {
    for await (const s of t.status()) {
      statuses.push(s);
      if (s.type === 'connected') throw new Error('connected, but a refusal was expected');
      if (s.type === 'error') return s.error;
    }
    throw new Error(`ended without an error: ${statuses.map((s) => s.type).join(', ')}`);
  })();
  return within(seen, 'the transport to give up', timeoutMs);
}

/** Asserts `err` is the typed refusal, and that none of `secrets` appears in its message. */
export function assertUnauthorized(err: unknown, secrets: string[], pattern?: RegExp): void {
  assert.ok(err instanceof Error, `an Error, got ${String(err)}`);
  assert.equal((err as { code?: unknown }).code, 'unauthorized', err.message);
  assert.equal(err.name, 'UnauthorizedError');
  for (const s of secrets) assert.ok(!err.message.includes(s), `the message shows a secret`);
  if (pattern !== undefined) assert.match(err.message, pattern);
}

export async function within<T>(p: Promise<T>, what: string, ms = 8000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
