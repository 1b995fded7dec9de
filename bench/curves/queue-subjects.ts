// The durable queues the depth sweep fills: SQLite on a temporary file and the three brokers at
// their local addresses, each with names of its own per run and a way to remove what it left.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAmqpTransport } from '../../src/transport/amqp/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { createRedisTransport } from '../../src/transport/redis/index.js';
import { createSqliteTransport } from '../../src/transport/sqlite/index.js';
import type { Transport } from '../../src/transport/transport.js';
import {
  amqpProblem,
  deleteKeys,
  deleteStreams,
  natsProblem,
  redisProblem,
} from '../load/brokers.js';
import { AMQP_URL, NATS_URL, REDIS_URL } from '../../test/helpers/broker-urls.js';

export interface QueueSubject {
  name: string;
  /** Deepest level of the full sweep. */
  maxDepth: number;
  /** Why it cannot be used here, or undefined when it answers. */
  problem(): Promise<string | undefined>;
  open(): Promise<OpenSubject>;
}

export interface OpenSubject {
  transport: Transport;
  cleanup(): Promise<void>;
  /** Bytes the store takes on disk, where the bench can see it (the SQLite file and its WAL). */
  storeBytes?(): number;
}

const run = () => randomBytes(4).toString('hex');

export const sqlite: QueueSubject = {
  name: 'SQLite',
  maxDepth: 10_000_000,
  problem: () => Promise.resolve(undefined),
  open() {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-bench-depth-'));
    const transport = createSqliteTransport({ path: join(dir, 'queue.db') });
    return Promise.resolve({
      transport,
      cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
      storeBytes: () => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0),
    });
  },
};

export const jetStream: QueueSubject = {
  name: 'NATS JetStream',
  maxDepth: 1_000_000,
  problem: natsProblem,
  async open() {
    const prefix = `DEPTH${run()}`;
    const transport = await createNatsTransport({ servers: NATS_URL, streamPrefix: prefix });
    return {
      transport,
      cleanup: () => deleteStreams(`${prefix}_`),
    };
  },
};

export const redisStreams: QueueSubject = {
  name: 'Redis Streams',
  maxDepth: 1_000_000,
  problem: redisProblem,
  open() {
    const prefix = `bench-depth:${run()}:`;
    const transport = createRedisTransport({ url: REDIS_URL, prefix });
    return Promise.resolve({
      transport,
      cleanup: () => deleteKeys(prefix),
    });
  },
};

export const rabbitMq: QueueSubject = {
  name: 'RabbitMQ',
  maxDepth: 1_000_000,
  problem: amqpProblem,
  async open() {
    const transport = createAmqpTransport({
      url: AMQP_URL,
      exchange: `bench-depth-${run()}`,
      deleteOnClose: true,
    });
    await transport.ready;
    return { transport, cleanup: () => Promise.resolve() };
  },
};

export const QUEUE_SUBJECTS = [sqlite, jetStream, redisStreams, rabbitMq];
