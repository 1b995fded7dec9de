// The shared brokers as the bench groups see them: whether each answers (a reason to skip when it
// does not), and removing what a run left on it.
import { connect as natsConnect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { AMQP_URL, NATS_URL, REDIS_URL } from '../../test/helpers/broker-urls.js';

const firstLine = (err: unknown) => (err as Error).message.split('\n')[0] ?? String(err);

/** Why NATS cannot be used here, or undefined when it answers. */
export async function natsProblem(): Promise<string | undefined> {
  try {
    const nc = await natsConnect({ servers: NATS_URL, maxReconnectAttempts: 0, timeout: 2_000 });
    await nc.close();
    return undefined;
  } catch (err) {
    return `no NATS at ${NATS_URL} (${firstLine(err)})`;
  }
}

/** Why Redis cannot be used here, or undefined when it answers. */
export async function redisProblem(): Promise<string | undefined> {
  const r = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch (err) {
    return `no Redis at ${REDIS_URL} (${firstLine(err)})`;
  } finally {
    r.disconnect();
  }
}

/** Why RabbitMQ cannot be used here, or undefined when it answers. */
export async function amqpProblem(): Promise<string | undefined> {
  try {
    const conn = await amqp.connect(AMQP_URL);
    await conn.close();
    return undefined;
  } catch (err) {
    return `no RabbitMQ at ${AMQP_URL} (${firstLine(err)})`;
  }
}

/** Deletes the JetStream streams whose names start with `prefix`. */
export async function deleteStreams(prefix: string): Promise<void> {
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await natsConnect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  for await (const name of jsm.streams.names()) {
    if (name.startsWith(prefix)) await jsm.streams.delete(name);
  }
  await nc.close();
}

/** Deletes the Redis keys that start with `prefix`. */
export async function deleteKeys(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await r.unlink(...keys);
  } while (cursor !== '0');
  r.disconnect();
}
