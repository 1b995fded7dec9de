// Building blocks the commands share: opening the configured transport and stopping cleanly on
// SIGINT/SIGTERM. Each adapter is loaded only when its scheme is used, so a command does not
// load every broker client.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../protocol/index.js';
import type { AmqpTransport } from '../transport/amqp/index.js';
import type { Transport } from '../transport/transport.js';

export interface TransportSpecOptions {
  dataDir: string;
  token?: string | undefined;
  /** nats: root of this process's reply subjects (its NATS user's `_INBOX.<user>`). */
  inboxPrefix?: string | undefined;
}

/**
 * Opens the transport a spec names and, on amqp, waits for its first connection. `watch` sees
 * the transport before that wait, so a broker that is not there yet is reported (connecting,
 * reconnecting) rather than waited for in silence.
 */
export async function openTransport(
  spec: string,
  options: TransportSpecOptions,
  watch?: (transport: Transport) => void,
): Promise<Transport> {
  const transport = await createTransport(spec, options);
  watch?.(transport);
  if (isAmqp(transport)) await transport.ready;
  return transport;
}

function isAmqp(transport: Transport): transport is AmqpTransport {
  return transport.name === 'amqp' && 'ready' in transport;
}

/**
 * Creates the transport a spec names without waiting for it to connect (nats alone connects
 * before it resolves): callers that must not hang on a missing broker watch its status.
 */
export async function createTransport(
  spec: string,
  options: TransportSpecOptions,
): Promise<Transport> {
  if (spec === 'memory') {
    const { createMemoryTransport } = await import('../transport/memory/index.js');
    return createMemoryTransport();
  }
  if (spec === 'sqlite') {
    const dir = resolve(options.dataDir);
    mkdirSync(dir, { recursive: true });
    const { createSqliteTransport } = await import('../transport/sqlite/index.js');
    return createSqliteTransport({ path: join(dir, 'journal.db') });
  }
  if (spec.startsWith('ws://') || spec.startsWith('wss://')) {
    const { createWebSocketTransport } = await import('../transport/ws/index.js');
    return createWebSocketTransport({
      url: spec,
      ...(options.token === undefined ? {} : { token: options.token }),
    });
  }
  if (spec.startsWith('nats://') || spec.startsWith('tls://')) {
    const { base, params } = splitParams(spec, ['replicas', 'storage', 'prefix', 'name']);
    if (base.includes('?')) {
      throw new ConfigError(
        `transport URL: unknown setting in '${base.slice(base.indexOf('?'))}'; nats URLs take replicas, storage, prefix and name`,
      );
    }
    const replicas = params.get('replicas');
    const storage = params.get('storage');
    if (storage !== undefined && storage !== 'file' && storage !== 'memory') {
      throw new ConfigError(`transport URL: storage must be file or memory, got '${storage}'`);
    }
    const { createNatsTransport } = await import('../transport/nats/index.js');
    return createNatsTransport({
      servers: base.split(','),
      ...(replicas === undefined ? {} : { replicas: intParam('replicas', replicas, 1, 5) }),
      ...(storage === undefined ? {} : { storage }),
      ...optional('streamPrefix', params.get('prefix')),
      ...optional('name', params.get('name')),
      ...optional('inboxPrefix', options.inboxPrefix),
    });
  }
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) {
    const { base, params } = splitParams(spec, ['prefix', 'name']);
    const { createRedisTransport } = await import('../transport/redis/index.js');
    return createRedisTransport({
      url: base,
      ...optional('prefix', params.get('prefix')),
      ...optional('name', params.get('name')),
    });
  }
  if (spec.startsWith('amqp://') || spec.startsWith('amqps://')) {
    const { base, params } = splitParams(spec, ['exchange', 'prefetch', 'name']);
    const prefetch = params.get('prefetch');
    const { createAmqpTransport } = await import('../transport/amqp/index.js');
    return createAmqpTransport({
      url: base,
      ...optional('exchange', params.get('exchange')),
      ...(prefetch === undefined ? {} : { prefetch: intParam('prefetch', prefetch, 1, 65_535) }),
      ...optional('connectionName', params.get('name')),
    });
  }
  throw new ConfigError(
    `unknown transport '${spec}': use sqlite, memory, nats://, amqp://, redis:// or ws://host:port/v1/bus`,
  );
}

/**
 * Takes llmwire's own settings (`owned`) out of a transport URL's query string; the rest of the
 * query stays in `base` for the broker client (amqplib's `heartbeat`, ioredis's `family`, ...).
 */
export function splitParams(
  spec: string,
  owned: readonly string[],
): { base: string; params: Map<string, string> } {
  const at = spec.indexOf('?');
  if (at < 0) return { base: spec, params: new Map() };
  const params = new Map<string, string>();
  const rest: string[] = [];
  for (const pair of spec.slice(at + 1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    if (!owned.includes(key)) {
      rest.push(pair);
      continue;
    }
    const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    if (value === '') throw new ConfigError(`transport URL: '${key}' needs a value`);
    params.set(key, value);
  }
  return {
    base: rest.length > 0 ? `${spec.slice(0, at)}?${rest.join('&')}` : spec.slice(0, at),
    params,
  };
}

function intParam(key: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(
      `transport URL: '${key}' must be an integer from ${min} to ${max}, got '${value}'`,
    );
  }
  return n;
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
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
