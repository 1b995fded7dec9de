// The redis transport: publish/subscribe on Redis pub/sub and durable queues on Redis Streams,
// so processes on many hosts share subjects and queues through one Redis. An enqueue resolves
// once Redis has accepted the write; whether it then survives a Redis restart is up to that
// server's persistence (AOF with appendfsync, RDB snapshots, replicas), not to this adapter.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisOptions } from 'ioredis';
import { createCodec, type Codec } from '../../codec/codec.js';
import { ClosedError, ConfigError } from '../../protocol/index.js';
import { contractQueue } from '../queue-contract.js';
import { resolveQueueOptions } from '../queue-policy.js';
import { clientTlsOptions, type ClientTlsOptions } from '../tls.js';
import type { DurableQueue, QueueOptions, Transport } from '../transport.js';
import { Bells } from './bells.js';
import { GroupClaims } from './groups.js';
import { RedisConnections, type ReconnectOptions } from './connection.js';
import { checkPrefix, KeyLayout } from './keys.js';
import { RedisPubSub } from './pubsub.js';
import { RedisQueue, type QueueContext } from './queue.js';
import { defineQueueScripts, QueueStore, redisFailure } from './queue-store.js';

export interface RedisTransportOptions {
  /** e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS; user, password and db in the URL). */
  url: string;
  /** Start of every key and channel this transport uses. Default `llmwire:`. */
  prefix?: string;
  /** Frames on channels and in queues. Default `createCodec({ open: false })`: JSON frames (reads both encodings). */
  codec?: Codec;
  /**
   * Names this process's connections (`<name>:cmd`, `<name>:sub` in CLIENT LIST) and its
   * consumer in the queues' consumer groups. Default `llmwire:<host>:<pid>:<random>`.
   */
  name?: string;
  /** Reconnect delays (exponential, jittered), or `false` to stay down once a connection drops. */
  reconnect?: ReconnectOptions | false;
  /** Longest a waiting receive sleeps before looking again without a bell. Default 1000 ms. */
  pollMs?: number;
  /**
   * How long the process chosen to deliver a queue-group message has to claim it before another
   * member process takes it over (groups.ts), in ms. Default 50.
   */
  groupTakeoverMs?: number;
  /**
   * Bytes of publishes sent but not yet answered by Redis (all of them while it is unreachable)
   * before publish throws (OverloadedError, or UnavailableError while disconnected). Default 8 MiB.
   */
  maxBufferedBytes?: number;
  /** Errors with nowhere else to go: a handler threw, a frame did not decode. Default: stderr. */
  onError?: (error: unknown) => void;
  /** ACL user (Redis 6+ `AUTH username password`); without one, `password` is the default user's. */
  username?: string;
  password?: string;
  /** TLS (a `rediss://` url): the CA to trust and a client certificate (`tls-auth-clients`). */
  tls?: ClientTlsOptions;
  /** Further ioredis options (timeouts, `maxRetriesPerRequest`, ...); the fields above win. */
  redis?: RedisOptions;
}

export function createRedisTransport(options: RedisTransportOptions): Transport {
  const keys = new KeyLayout(checkPrefix(options.prefix ?? 'llmwire:'));
  const pollMs = options.pollMs ?? 1_000;
  if (!(Number.isFinite(pollMs) && pollMs > 0)) {
    throw new ConfigError('redis transport pollMs must be a positive number');
  }
  const takeoverMs = options.groupTakeoverMs ?? 50;
  if (!(Number.isFinite(takeoverMs) && takeoverMs > 0)) {
    throw new ConfigError('redis transport groupTakeoverMs must be a positive number');
  }
  const name =
    options.name ?? `llmwire:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  if (/\s/.test(name)) throw new ConfigError('redis transport name may not contain spaces');
  const maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  if (!(Number.isFinite(maxBufferedBytes) && maxBufferedBytes > 0)) {
    throw new ConfigError('redis transport maxBufferedBytes must be a positive number');
  }
  const codec = options.codec ?? createCodec({ open: false });
  const onError =
    options.onError ?? ((err: unknown) => console.error('llmwire redis transport:', err));

  if (options.tls !== undefined && !options.url.startsWith('rediss://')) {
    throw new ConfigError('redis transport url must be rediss:// when TLS options are given');
  }
  const conns = new RedisConnections({
    url: options.url,
    name,
    reconnect: options.reconnect ?? {},
    redis: {
      ...options.redis,
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
      ...(options.tls === undefined
        ? {}
        : { tls: clientTlsOptions(options.tls, 'redis transport tls') }),
    },
  });
  defineQueueScripts(conns.cmd);
  const groups = new GroupClaims(conns.cmd, keys, name, takeoverMs, onError);
  const pubsub = new RedisPubSub({
    cmd: conns.cmd,
    sub: conns.sub,
    keys,
    codec,
    groups,
    onError,
    maxBufferedBytes,
    isConnected: () => conns.isConnected,
  });
  const bells = new Bells(conns.sub);
  conns.onReady = () => {
    pubsub.retryFailed();
    bells.ringAll(); // rings sent while disconnected were lost: waiting receives look again
  };
  const stores = new Map<string, QueueStore>();
  let closed = false;
  let closing: Promise<void> | undefined;

  const ctx: QueueContext = { keys, codec, bells, pollMs, isClosed: () => closed };

  const assertOpen = () => {
    if (closed) throw new ClosedError('redis transport');
  };

  async function close(): Promise<void> {
    closed = true;
    bells.close(); // waiting receives return empty
    if (conns.isConnected) {
      // Best effort, bounded: queue-group memberships are given up (so no message is chosen
      // for this process and left to wait for a takeover), and consumers that hold nothing
      // leave the queues' consumer groups (so XINFO CONSUMERS lists live ones).
      const goodbyes = Promise.allSettled([
        groups.close(),
        ...[...stores.values()].map((s) => s.retire()),
      ]);
      await Promise.race([goodbyes, new Promise((r) => setTimeout(r, 1_000).unref())]);
    } else {
      void groups.close();
    }
    await conns.close();
  }

  return {
    name: 'redis',
    maxMessageBytes: codec.maxFrameBytes,
    publish(env) {
      assertOpen();
      pubsub.publish(env);
    },
    subscribe(pattern, handler, subOptions) {
      assertOpen();
      return pubsub.subscribe(pattern, handler, subOptions);
    },
    async flush() {
      if (closed) return;
      // Replies come in order per connection: once this PING answers, Redis has handled every
      // PUBLISH sent before it; once the subscriber's PING answers, every message Redis pushed
      // to this process before it has been handed to its handlers.
      try {
        await conns.cmd.ping();
        await conns.sub.ping();
      } catch (err) {
        throw redisFailure(err);
      }
      await groups.settled();
    },
    queue(queueName: string, queueOptions?: QueueOptions): DurableQueue {
      assertOpen();
      const resolved = resolveQueueOptions(queueName, queueOptions);
      const store = new QueueStore(conns.cmd, keys.queueBase(queueName), resolved, name);
      stores.set(queueName, store);
      return contractQueue(new RedisQueue(queueName, resolved, store, ctx));
    },
    status: () => conns.status.iterate(),
    close() {
      closing ??= close();
      return closing;
    },
  };
}
