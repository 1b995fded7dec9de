// Building blocks the commands share: opening the configured transport and stopping cleanly on
// SIGINT/SIGTERM.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../protocol/index.js';
import { createMemoryTransport } from '../transport/memory/index.js';
import { createSqliteTransport } from '../transport/sqlite/index.js';
import type { Transport } from '../transport/transport.js';
import { createAmqpTransport } from '../transport/amqp/index.js';
import { createNatsTransport } from '../transport/nats/index.js';
import { createRedisTransport } from '../transport/redis/index.js';
import { createWebSocketTransport } from '../transport/ws/index.js';

export async function openTransport(
  spec: string,
  options: { dataDir: string; token?: string | undefined },
): Promise<Transport> {
  if (spec === 'memory') return createMemoryTransport();
  if (spec === 'sqlite') {
    const dir = resolve(options.dataDir);
    mkdirSync(dir, { recursive: true });
    return createSqliteTransport({ path: join(dir, 'journal.db') });
  }
  if (spec.startsWith('ws://') || spec.startsWith('wss://')) {
    return createWebSocketTransport({
      url: spec,
      ...(options.token === undefined ? {} : { token: options.token }),
    });
  }
  if (spec.startsWith('nats://') || spec.startsWith('tls://')) {
    return createNatsTransport({ servers: spec.split(',') });
  }
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) {
    return createRedisTransport({ url: spec });
  }
  if (spec.startsWith('amqp://') || spec.startsWith('amqps://')) {
    const transport = createAmqpTransport({ url: spec });
    await transport.ready;
    return transport;
  }
  throw new ConfigError(
    `unknown transport '${spec}': use sqlite, memory, nats://, amqp://, redis:// or ws://host:port/v1/bus`,
  );
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
