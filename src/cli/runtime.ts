// Building blocks the commands share: opening the configured transport and stopping cleanly on
// SIGINT/SIGTERM. Each adapter is loaded only when its scheme is used, so a command does not
// load every broker client.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, UnavailableError } from '../protocol/index.js';
import {
  processResponseRecords,
  RESPONSE_TTL_MS,
  responseStoreName,
  type ResponseRecords,
} from '../llm/gateway/responses/store.js';
import type { AmqpTransport } from '../transport/amqp/index.js';
import type { Transport } from '../transport/transport.js';
import { needPackages } from './packages.js';
import { checkBrokerFits, type BrokerSettings } from './tls.js';

export interface TransportSpecOptions {
  dataDir: string;
  token?: string | undefined;
  /** Credentials and TLS for the broker (or wss:// hub) the spec names. */
  broker?: BrokerSettings | undefined;
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
  if (transport.name === 'ws' || transport.name === 'redis') await firstConnection(transport);
  return transport;
}

/**
 * Waits for the transport's first connection; rejects with the reason if it gives up first (a
 * refused credential or certificate), so a process does not run on a transport that never will.
 */
async function firstConnection(transport: Transport): Promise<void> {
  let reason: Error | undefined;
  for await (const s of transport.status()) {
    if (s.type === 'connected') return;
    if (s.type === 'error') reason = s.error;
    if (s.type === 'closed') break;
  }
  throw reason ?? new UnavailableError(`the ${transport.name} transport closed before connecting`);
}

export function isAmqp(transport: Transport): transport is AmqpTransport {
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
    needPackages(
      'the sqlite transport (the default of llmwire up; --transport memory needs no package)',
      'better-sqlite3',
    );
    mkdirSync(dir, { recursive: true });
    const { createSqliteTransport } = await import('../transport/sqlite/index.js');
    return createSqliteTransport({ path: join(dir, 'journal.db') });
  }
  const broker = options.broker ?? {};
  if (spec.startsWith('ws://') || spec.startsWith('wss://')) {
    checkBrokerFits(broker, 'ws', ['tls']);
    const { createWebSocketTransport } = await import('../transport/ws/index.js');
    return createWebSocketTransport({
      url: spec,
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(broker.tls === undefined ? {} : { tls: broker.tls }),
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
    checkBrokerFits(broker, 'nats', ['user', 'password', 'token', 'nkeySeed', 'creds', 'tls']);
    needPackages(
      'nats:// transports',
      '@nats-io/transport-node',
      '@nats-io/jetstream',
      '@nats-io/kv',
    );
    const { createNatsTransport } = await import('../transport/nats/index.js');
    const credentials = {
      ...optional('user', broker.user),
      ...optional('password', broker.password),
      ...optional('token', broker.token),
      ...optional('nkeySeed', broker.nkeySeed),
      ...(broker.creds === undefined ? {} : { creds: broker.creds }),
    };
    return createNatsTransport({
      servers: base.split(','),
      ...(Object.keys(credentials).length === 0 ? {} : { credentials }),
      ...(broker.tls === undefined ? {} : { tls: broker.tls }),
      ...(replicas === undefined ? {} : { replicas: intParam('replicas', replicas, 1, 5) }),
      ...(storage === undefined ? {} : { storage }),
      ...optional('streamPrefix', params.get('prefix')),
      ...optional('name', params.get('name')),
      ...optional('inboxPrefix', options.inboxPrefix),
    });
  }
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) {
    const { base, params } = splitParams(spec, ['prefix', 'name']);
    checkBrokerFits(broker, 'redis', ['user', 'password', 'tls']);
    needPackages('redis:// transports', 'ioredis');
    const { createRedisTransport } = await import('../transport/redis/index.js');
    return createRedisTransport({
      url: base,
      ...optional('username', broker.user),
      ...optional('password', broker.password),
      ...(broker.tls === undefined ? {} : { tls: broker.tls }),
      ...optional('prefix', params.get('prefix')),
      ...optional('name', params.get('name')),
    });
  }
  if (spec.startsWith('amqp://') || spec.startsWith('amqps://')) {
    const { base, params } = splitParams(spec, ['exchange', 'prefetch', 'name']);
    const prefetch = params.get('prefetch');
    checkBrokerFits(broker, 'amqp', ['user', 'password', 'vhost', 'tls']);
    if (broker.password !== undefined && broker.user === undefined) {
      throw new ConfigError('broker: a RabbitMQ password needs a user');
    }
    needPackages('amqp:// transports', 'amqplib');
    const { createAmqpTransport } = await import('../transport/amqp/index.js');
    return createAmqpTransport({
      url: base,
      ...(broker.user === undefined
        ? {}
        : { credentials: { user: broker.user, password: broker.password ?? '' } }),
      ...optional('vhost', broker.vhost),
      ...(broker.tls === undefined ? {} : { tls: broker.tls }),
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

/**
 * Where the gateway keeps stored responses (the Responses API): the transport's record store,
 * shared by every gateway on the bus; on a transport without one (RabbitMQ, a hub client), a
 * SQLite file of their own in the data dir; without better-sqlite3 there, this process's memory.
 */
export async function responseStore(
  transport: Transport,
  dataDir: string,
  namespace: string | undefined,
): Promise<{ records: ResponseRecords; where: string; close(): Promise<void> }> {
  const name = responseStoreName(namespace);
  const options = { ttlMs: RESPONSE_TTL_MS };
  if (transport.records !== undefined) {
    return {
      records: transport.records(name, options),
      where: `${transport.name} record store '${name}'`,
      close: async () => undefined,
    };
  }
  try {
    needPackages('stored responses', 'better-sqlite3');
  } catch {
    return {
      records: processResponseRecords(namespace),
      where: `this process (${transport.name} has no record store; install better-sqlite3 to keep them in ${dataDir})`,
      close: async () => undefined,
    };
  }
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const { createSqliteTransport } = await import('../transport/sqlite/index.js');
  const file = createSqliteTransport({ path: join(dir, 'responses.db') });
  return {
    records: file.records!(name, options),
    where: `${join(dir, 'responses.db')} (${transport.name} has no record store)`,
    close: () => file.close(),
  };
}
