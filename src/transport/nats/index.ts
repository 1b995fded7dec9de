// The NATS transport: publish/subscribe, queue groups and request/reply on core NATS, durable
// queues on JetStream (docs: transport.ts for the semantics, queue.ts for the mapping). The entry
// of the NATS adapter: nothing outside transport/nats imports the NATS client.
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import { createCodec, type Codec } from '../../codec/codec.js';
import { ClosedError, ConfigError, type Envelope } from '../../protocol/index.js';
import type { BlobStore } from '../blobs.js';
import { contractBlobs } from '../blobs-contract.js';
import { contractQueue } from '../queue-contract.js';
import { contractRecords, resolveRecordOptions } from '../records-contract.js';
import type { RecordStore, RecordStoreOptions } from '../records.js';
import type { LimitStore } from '../limits.js';
import { resolveQueueOptions } from '../queue-policy.js';
import { StatusFeed } from '../status.js';
import type { ClientTlsOptions } from '../tls.js';
import { isValidSubject } from '../subject.js';
import type {
  DurableQueue,
  MessageHandler,
  QueueOptions,
  SubscribeOptions,
  Transport,
  TransportStatus,
  TransportSubscription,
} from '../transport.js';
import { NatsBlobs } from './blobs.js';
import { connectNats, followStatus, type NatsCredentials } from './connect.js';
import { payloadLimit, type NatsContext } from './context.js';
import { CONTROL_ROOT, DEFAULT_STREAM_PREFIX } from './names.js';
import { NatsPubSub } from './pubsub.js';
import { NatsQueue } from './queue.js';
import { NatsRecords } from './records.js';
import { NatsLimits } from './limits.js';

export type { NatsCredentials } from './connect.js';
export {
  blobBucket,
  blobReadSubjects,
  blobWriteSubjects,
  recordBucket,
  recordStoreSubjects,
} from './names.js';

export interface NatsTransportOptions {
  /**
   * One server or several (a cluster): `nats://127.0.0.1:4222`. A user and password in the URL
   * (`nats://NAME:KEY@host:port`, percent-encoded) are the connection's credentials.
   */
  servers: string | string[];
  /** Connection name shown by the server (`connz`). */
  name?: string;
  /** Codec of envelopes on the wire. Default `createCodec({ open: false })`: JSON frames (reads both encodings). */
  codec?: Codec;
  /** Prefix of stream names (`<prefix>_Q_<queue>`, `<prefix>_DLQ_<queue>`) and queue subjects. Default 'LLMWIRE'. */
  streamPrefix?: string;
  /** Replicas of each queue's streams (a clustered JetStream). Default 1. */
  replicas?: number;
  /** Where queue streams keep messages. Default 'file' (survives a server restart). */
  storage?: 'file' | 'memory';
  /** Reconnect attempts per server before giving up; -1 never gives up. Default -1. */
  maxReconnectAttempts?: number;
  /** Pause between reconnect attempts to one server, ms. Default 250. */
  reconnectTimeWaitMs?: number;
  /** Time allowed for a JetStream call, PubAck or ack confirmation, ms. Default 5000. */
  requestTimeoutMs?: number;
  /** Longest a waiting receive goes without looking for retries made elsewhere, ms. Default 200. */
  queuePollMs?: number;
  /**
   * Repeat each published envelope's id in a `Llmwire-Id` header, for tools that read headers
   * only. Default true; false saves a header encode per message (about 2 µs).
   */
  idHeader?: boolean;
  /**
   * How this client proves who it is (ADR-15 of nats-io/nats-architecture-and-design): any of
   * user and password, a token, an NKey seed, or a `.creds` file (a user JWT and its seed).
   */
  credentials?: NatsCredentials;
  /** TLS to the server: the CA to trust and a client certificate when the server verifies clients. */
  tls?: ClientTlsOptions;
  /**
   * Root of every reply subject this connection listens on (nats.js request inboxes and the
   * adapter's private `<prefix>._LLMW.<nuid>` subjects), so that a NATS user confined to
   * subscribing `_INBOX.<user>.>` can use the bus (`llmwire nats-config`). Default: nats.js's
   * `_INBOX` and the adapter's `_LLMW`.
   */
  inboxPrefix?: string;
  /** Anything else nats.js accepts (credentials, TLS, noRandomize...); the fields above win. */
  connection?: Partial<NodeConnectionOptions>;
  /** Errors with nowhere else to go (an undecodable message, a failed keepalive). Default stderr. */
  onError?: (err: unknown) => void;
  /** Called when a subscriber's handler throws. Default stderr. */
  onHandlerError?: (err: unknown, env: Envelope) => void;
}

const PREFIX_RE = /^[A-Za-z0-9_-]{1,32}$/;

function checkOptions(options: NatsTransportOptions): void {
  const servers = Array.isArray(options.servers) ? options.servers : [options.servers];
  if (servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new ConfigError('nats transport needs at least one server url');
  }
  if (options.streamPrefix !== undefined && !PREFIX_RE.test(options.streamPrefix)) {
    throw new ConfigError('streamPrefix must be 1-32 letters, digits, _ or -');
  }
  if (options.inboxPrefix !== undefined && !isValidSubject(options.inboxPrefix)) {
    throw new ConfigError(`inboxPrefix '${options.inboxPrefix}' is not a subject`);
  }
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw new ConfigError('replicas must be an integer from 1 to 5');
  }
  for (const [field, value] of [
    ['requestTimeoutMs', options.requestTimeoutMs],
    ['queuePollMs', options.queuePollMs],
    ['reconnectTimeWaitMs', options.reconnectTimeWaitMs],
  ] as const) {
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new ConfigError(`nats transport ${field} must be a positive number`);
    }
  }
}

/** Connects to NATS and resolves with the transport; rejects with UnavailableError if it cannot. */
export async function createNatsTransport(options: NatsTransportOptions): Promise<Transport> {
  return NatsTransport.open(options);
}

/** Core NATS for publish/subscribe (NatsPubSub), a JetStream-backed NatsQueue per queue name. */
class NatsTransport implements Transport {
  readonly name = 'nats';
  readonly maxMessageBytes: number;
  private readonly ctx: NatsContext;
  private readonly pubsub: NatsPubSub;
  private readonly queues = new Map<string, NatsQueue>();
  /** By name and ttlMs: the bucket is opened once per pair. */
  private readonly recordStores = new Map<string, NatsRecords>();
  private readonly limitStores = new Map<string, LimitStore>();
  private blobStore: BlobStore | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  static async open(options: NatsTransportOptions): Promise<NatsTransport> {
    checkOptions(options);
    const status = new StatusFeed();
    const nc = await connectNats(options, status);
    status.push({ type: 'connected' });
    const jsm = await jetstreamManager(nc, {
      timeout: options.requestTimeoutMs ?? 5_000,
      checkAPI: false,
    });
    return new NatsTransport(options, nc, jsm, status);
  }

  private constructor(
    options: NatsTransportOptions,
    private readonly nc: NatsConnection,
    jsm: JetStreamManager,
    private readonly statusFeed: StatusFeed,
  ) {
    const onError =
      options.onError ?? ((err: unknown) => console.error('llmwire nats transport:', err));
    this.ctx = {
      nc,
      js: jetstream(nc, { timeout: options.requestTimeoutMs ?? 5_000 }),
      jsm,
      codec: options.codec ?? createCodec({ open: false }),
      prefix: options.streamPrefix ?? DEFAULT_STREAM_PREFIX,
      setup: { storage: options.storage ?? 'file', replicas: options.replicas ?? 1 },
      requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
      pollMs: options.queuePollMs ?? 200,
      headroomBytes: 1024,
      onError,
      isClosed: () => this.closed,
    };
    this.maxMessageBytes = this.ctx.codec.maxFrameBytes;
    this.pubsub = new NatsPubSub({
      nc,
      codec: this.ctx.codec,
      payloadLimit: () => payloadLimit(this.ctx),
      onError,
      onHandlerError:
        options.onHandlerError ??
        ((err: unknown, env: Envelope) =>
          console.error(`llmwire: subscriber on '${env.subject}' threw`, err)),
      idHeader: options.idHeader ?? true,
      controlRoot:
        options.inboxPrefix === undefined ? CONTROL_ROOT : `${options.inboxPrefix}.${CONTROL_ROOT}`,
      isClosed: () => this.closed || nc.isClosed(),
    });
    void followStatus(nc, statusFeed);
  }

  publish(env: Envelope): void {
    this.pubsub.publish(env);
  }

  subscribe(
    pattern: string,
    handler: MessageHandler,
    options?: SubscribeOptions,
  ): TransportSubscription {
    return this.pubsub.subscribe(pattern, handler, options);
  }

  async flush(): Promise<void> {
    if (this.closed) throw new ClosedError('nats transport');
    this.pubsub.flushOutgoing();
    await this.nc.flush();
  }

  queue(name: string, queueOptions?: QueueOptions): DurableQueue {
    if (this.closed) throw new ClosedError('nats transport');
    const resolved = resolveQueueOptions(name, queueOptions);
    let q = this.queues.get(name);
    if (q === undefined) {
      q = new NatsQueue(this.ctx, name, resolved);
      this.queues.set(name, q);
    }
    return contractQueue(q);
  }

  records(name: string, options?: RecordStoreOptions): RecordStore {
    if (this.closed) throw new ClosedError('nats transport');
    const resolved = resolveRecordOptions(name, options);
    const id = `${name}/${resolved.ttlMs ?? 0}`;
    let store = this.recordStores.get(id);
    if (store === undefined) {
      store = new NatsRecords(this.ctx, name, resolved);
      this.recordStores.set(id, store);
    }
    return contractRecords(store, { isClosed: () => this.closed, what: 'nats transport' });
  }

  limits(name: string): LimitStore {
    if (this.closed) throw new ClosedError('nats transport');
    let store = this.limitStores.get(name);
    if (store === undefined) {
      store = new NatsLimits(this.ctx, name);
      this.limitStores.set(name, store);
    }
    return store;
  }

  blobs(): BlobStore {
    if (this.closed) throw new ClosedError('nats transport');
    return (this.blobStore ??= contractBlobs(new NatsBlobs(this.ctx), {
      isClosed: () => this.closed,
      what: 'nats transport',
    }));
  }

  status(): AsyncIterable<TransportStatus> {
    return this.statusFeed.iterate();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.pubsub.close();
    // drain() flushes what was published and lets handlers finish what arrived; while the
    // server is away it would wait for it, so it gets the request timeout and then a close.
    let timer: NodeJS.Timeout | undefined;
    const drained = this.nc.drain().then(
      () => true,
      () => false,
    );
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.ctx.requestTimeoutMs);
    });
    if (!(await Promise.race([drained, late]))) await this.nc.close();
    clearTimeout(timer);
    await this.nc.closed();
  }
}
