// The redis transport: publish/subscribe on Redis pub/sub and durable queues on Redis Streams,
// so processes on many hosts share subjects and queues through one Redis. An enqueue resolves
// once Redis has accepted the write; whether it then survives a Redis restart is up to that
// server's persistence (AOF with appendfsync, RDB snapshots, replicas), not to this adapter.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisOptions } from 'ioredis';
import { createCodec, type Codec } from '../../codec/codec.js';
import { ClosedError, ConfigError, type Envelope } from '../../protocol/index.js';
import { contractQueue } from '../queue-contract.js';
import type { BlobStore } from '../blobs.js';
import { contractBlobs } from '../blobs-contract.js';
import { contractRecords, resolveRecordOptions } from '../records-contract.js';
import type { RecordStore, RecordStoreOptions } from '../records.js';
import type { LimitStore } from '../limits.js';
import { resolveQueueOptions } from '../queue-policy.js';
import { clientTlsOptions, type ClientTlsOptions } from '../tls.js';
import type {
  DurableQueue,
  MessageHandler,
  QueueOptions,
  SubscribeOptions,
  Transport,
  TransportStatus,
  TransportSubscription,
} from '../transport.js';
import { Bells } from './bells.js';
import { GroupClaims } from './groups.js';
import { RedisConnections, type ReconnectOptions } from './connection.js';
import { checkPrefix, KeyLayout } from './keys.js';
import { RedisPubSub } from './pubsub.js';
import { RedisQueue, type QueueContext } from './queue.js';
import { RedisBlobs } from './blobs.js';
import { RedisRecords } from './records.js';
import { RedisLimits } from './limits.js';
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
  return new RedisTransport(options);
}

/** Two connections (commands, subscriber) shared by RedisPubSub and a RedisQueue per queue. */
class RedisTransport implements Transport {
  readonly name = 'redis';
  readonly maxMessageBytes: number;
  private readonly consumer: string;
  private readonly keys: KeyLayout;
  private readonly conns: RedisConnections;
  private readonly groups: GroupClaims;
  private readonly pubsub: RedisPubSub;
  private readonly bells: Bells;
  private readonly ctx: QueueContext;
  private readonly stores = new Map<string, QueueStore>();
  private readonly limitStores = new Map<string, LimitStore>();
  private blobStore: BlobStore | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: RedisTransportOptions) {
    const settings = checkOptions(options);
    this.keys = settings.keys;
    this.consumer = settings.name;
    const codec = options.codec ?? createCodec({ open: false });
    this.maxMessageBytes = codec.maxFrameBytes;
    const onError =
      options.onError ?? ((err: unknown) => console.error('llmwire redis transport:', err));
    this.conns = new RedisConnections({
      url: options.url,
      name: this.consumer,
      reconnect: options.reconnect ?? {},
      redis: redisOptions(options),
    });
    defineQueueScripts(this.conns.cmd);
    this.groups = new GroupClaims(
      this.conns.cmd,
      this.keys,
      this.consumer,
      settings.takeoverMs,
      onError,
    );
    this.pubsub = new RedisPubSub({
      cmd: this.conns.cmd,
      sub: this.conns.sub,
      keys: this.keys,
      codec,
      groups: this.groups,
      onError,
      maxBufferedBytes: settings.maxBufferedBytes,
      isConnected: () => this.conns.isConnected,
    });
    this.bells = new Bells(this.conns.sub);
    this.conns.onReady = () => {
      this.pubsub.retryFailed();
      this.bells.ringAll(); // rings sent while disconnected were lost: waiting receives look again
    };
    this.ctx = {
      keys: this.keys,
      codec,
      bells: this.bells,
      pollMs: settings.pollMs,
      isClosed: () => this.closed,
    };
  }

  publish(env: Envelope): void {
    this.assertOpen();
    this.pubsub.publish(env);
  }

  subscribe(
    pattern: string,
    handler: MessageHandler,
    options?: SubscribeOptions,
  ): TransportSubscription {
    this.assertOpen();
    return this.pubsub.subscribe(pattern, handler, options);
  }

  async flush(): Promise<void> {
    if (this.closed) return;
    // Replies come in order per connection: once this PING answers, Redis has handled every
    // PUBLISH sent before it; once the subscriber's PING answers, every message Redis pushed
    // to this process before it has been handed to its handlers.
    try {
      await this.conns.cmd.ping();
      await this.conns.sub.ping();
    } catch (err) {
      throw redisFailure(err);
    }
    await this.groups.settled();
  }

  queue(queueName: string, queueOptions?: QueueOptions): DurableQueue {
    this.assertOpen();
    const resolved = resolveQueueOptions(queueName, queueOptions);
    const base = this.keys.queueBase(queueName);
    const store = new QueueStore(this.conns.cmd, base, resolved, this.consumer);
    this.stores.set(queueName, store);
    return contractQueue(new RedisQueue(queueName, resolved, store, this.ctx));
  }

  records(name: string, options?: RecordStoreOptions): RecordStore {
    this.assertOpen();
    const store = new RedisRecords(
      name,
      resolveRecordOptions(name, options),
      this.conns.cmd,
      this.keys,
    );
    return contractRecords(store, { isClosed: () => this.closed, what: 'redis transport' });
  }

  limits(name: string): LimitStore {
    this.assertOpen();
    let store = this.limitStores.get(name);
    if (store === undefined) {
      store = new RedisLimits(name, this.conns.cmd, this.keys);
      this.limitStores.set(name, store);
    }
    return store;
  }

  blobs(): BlobStore {
    this.assertOpen();
    return (this.blobStore ??= contractBlobs(new RedisBlobs(this.conns.cmd, this.keys), {
      isClosed: () => this.closed,
      what: 'redis transport',
    }));
  }

  status(): AsyncIterable<TransportStatus> {
    return this.conns.status.iterate();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('redis transport');
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.bells.close(); // waiting receives return empty
    if (this.conns.isConnected) {
      // Best effort, bounded: queue-group memberships are given up (so no message is chosen
      // for this process and left to wait for a takeover), and consumers that hold nothing
      // leave the queues' consumer groups (so XINFO CONSUMERS lists live ones).
      const goodbyes = Promise.allSettled([
        this.groups.close(),
        ...[...this.stores.values()].map((s) => s.retire()),
      ]);
      await Promise.race([goodbyes, new Promise((r) => setTimeout(r, 1_000).unref())]);
    } else {
      void this.groups.close();
    }
    await this.conns.close();
  }
}

/** The checked settings of the options, each refused with a ConfigError that names it. */
function checkOptions(options: RedisTransportOptions): {
  keys: KeyLayout;
  pollMs: number;
  takeoverMs: number;
  name: string;
  maxBufferedBytes: number;
} {
  const keys = new KeyLayout(checkPrefix(options.prefix ?? 'llmwire:'));
  const pollMs = positive('pollMs', options.pollMs ?? 1_000);
  const takeoverMs = positive('groupTakeoverMs', options.groupTakeoverMs ?? 50);
  const name =
    options.name ?? `llmwire:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  if (/\s/.test(name)) throw new ConfigError('redis transport name may not contain spaces');
  const maxBufferedBytes = positive(
    'maxBufferedBytes',
    options.maxBufferedBytes ?? 8 * 1024 * 1024,
  );
  if (options.tls !== undefined && !options.url.startsWith('rediss://')) {
    throw new ConfigError('redis transport url must be rediss:// when TLS options are given');
  }
  return { keys, pollMs, takeoverMs, name, maxBufferedBytes };
}

function positive(field: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new ConfigError(`redis transport ${field} must be a positive number`);
  }
  return value;
}

/** ioredis options: the caller's, then the credentials and TLS given as fields. */
function redisOptions(options: RedisTransportOptions): RedisOptions {
  return {
    ...options.redis,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(options.tls === undefined
      ? {}
      : { tls: clientTlsOptions(options.tls, 'redis transport tls') }),
  };
}
