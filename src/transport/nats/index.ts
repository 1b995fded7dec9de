// The NATS transport: publish/subscribe, queue groups and request/reply on core NATS, durable
// queues on JetStream (docs: transport.ts for the semantics, queue.ts for the mapping). The only
// module of llmwire that imports the NATS client.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  AuthorizationError,
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { createCodec, type Codec } from '../../codec/codec.js';
import {
  ClosedError,
  ConfigError,
  UnauthorizedError,
  UnavailableError,
  type Envelope,
} from '../../protocol/index.js';
import { contractQueue } from '../queue-contract.js';
import { resolveQueueOptions } from '../queue-policy.js';
import { StatusFeed } from '../status.js';
import { clientTlsOptions, tlsFailure, type ClientTlsOptions } from '../tls.js';
import { isValidSubject } from '../subject.js';
import type { DurableQueue, QueueOptions, Transport, TransportStatus } from '../transport.js';
import { payloadLimit, type NatsContext } from './context.js';
import { CONTROL_ROOT } from './names.js';
import { NatsPubSub } from './pubsub.js';
import { NatsQueue } from './queue.js';

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

export interface NatsCredentials {
  user?: string;
  password?: string;
  token?: string;
  /** An NKey user's seed (`SU...`); the server holds only its public key. */
  nkeySeed?: string | Uint8Array;
  /** The contents of a `.creds` file (`nsc generate creds`): decentralized JWT auth. */
  creds?: string | Uint8Array;
}

/** nats.js authenticators for the credentials given; the server picks the one it asked for. */
function authenticators(c: NatsCredentials): Authenticator[] {
  const bytes = (v: string | Uint8Array) =>
    typeof v === 'string' ? new TextEncoder().encode(v) : v;
  const out: Authenticator[] = [];
  if (c.password !== undefined && c.user === undefined) {
    throw new ConfigError('nats transport credentials: a password needs a user');
  }
  if (c.user !== undefined) out.push(usernamePasswordAuthenticator(c.user, c.password));
  if (c.token !== undefined) out.push(tokenAuthenticator(c.token));
  if (c.nkeySeed !== undefined) out.push(nkeyAuthenticator(bytes(c.nkeySeed)));
  if (c.creds !== undefined) out.push(credsAuthenticator(bytes(c.creds)));
  return out;
}

/** nats.js takes PEM as strings. */
function natsTls(tls: ClientTlsOptions): { ca?: string; cert?: string; key?: string } {
  clientTlsOptions(tls, 'nats transport tls'); // checks the PEM
  const out: { ca?: string; cert?: string; key?: string } = {};
  for (const k of ['ca', 'cert', 'key'] as const) {
    const v = tls[k];
    if (v !== undefined) out[k] = typeof v === 'string' ? v : v.toString('utf8');
  }
  return out;
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

/**
 * nats.js ignores credentials in a server URL: they are taken out of the URLs and passed as the
 * connection's user and password (one set for all the servers of a cluster).
 */
function splitCredentials(spec: string | string[]): {
  servers: string[];
  credentials: { user?: string; pass?: string };
} {
  const urls = Array.isArray(spec) ? spec : [spec];
  let credentials: { user?: string; pass?: string } = {};
  const servers = urls.map((s) => {
    const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(s);
    if (m === null) return s;
    const info = m[2]!;
    const colon = info.indexOf(':');
    const user = decodeURIComponent(colon < 0 ? info : info.slice(0, colon));
    const pass = colon < 0 ? undefined : decodeURIComponent(info.slice(colon + 1));
    const found = { ...(user ? { user } : {}), ...(pass === undefined ? {} : { pass }) };
    if (
      Object.keys(credentials).length > 0 &&
      (credentials.user !== found.user || credentials.pass !== found.pass)
    ) {
      throw new ConfigError('nats server URLs name different credentials');
    }
    credentials = found;
    return `${m[1]}${m[3]}`;
  });
  return { servers, credentials };
}

/** Connects to NATS and resolves with the transport; rejects with UnavailableError if it cannot. */
export async function createNatsTransport(options: NatsTransportOptions): Promise<Transport> {
  checkOptions(options);
  const status = new StatusFeed();
  const onError =
    options.onError ?? ((err: unknown) => console.error('llmwire nats transport:', err));
  const onHandlerError =
    options.onHandlerError ??
    ((err: unknown, env: Envelope) =>
      console.error(`llmwire: subscriber on '${env.subject}' threw`, err));
  const auth = options.credentials === undefined ? [] : authenticators(options.credentials);
  const tls = options.tls === undefined ? undefined : natsTls(options.tls);
  status.push({ type: 'connecting' });
  const { servers, credentials } = splitCredentials(options.servers);
  let nc: NatsConnection;
  try {
    nc = await connect({
      // No stack captured per request (JetStream publishes and acks are requests).
      noAsyncTraces: true,
      ...options.connection,
      ...credentials,
      servers,
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(auth.length === 0 ? {} : { authenticator: auth }),
      ...(tls === undefined ? {} : { tls }),
      ...(options.inboxPrefix === undefined ? {} : { inboxPrefix: options.inboxPrefix }),
      maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
      reconnectTimeWait: options.reconnectTimeWaitMs ?? 250,
    });
  } catch (cause) {
    status.push({ type: 'closed' });
    status.end();
    // Neither a refused credential nor a refused certificate gets better by retrying.
    if (cause instanceof AuthorizationError) {
      throw new UnauthorizedError('NATS refused the credentials (authorization violation)', {
        cause,
      });
    }
    const tlsProblem = tlsFailure(cause);
    if (tlsProblem !== undefined) {
      throw new UnauthorizedError(`TLS handshake with NATS failed: ${tlsProblem}`, { cause });
    }
    throw new UnavailableError(`cannot connect to NATS at ${String(options.servers)}`, { cause });
  }
  status.push({ type: 'connected' });

  let closed = false;
  const ctx: NatsContext = {
    nc,
    js: jetstream(nc, { timeout: options.requestTimeoutMs ?? 5_000 }),
    jsm: await jetstreamManager(nc, {
      timeout: options.requestTimeoutMs ?? 5_000,
      checkAPI: false,
    }),
    codec: options.codec ?? createCodec({ open: false }),
    prefix: options.streamPrefix ?? 'LLMWIRE',
    setup: { storage: options.storage ?? 'file', replicas: options.replicas ?? 1 },
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
    pollMs: options.queuePollMs ?? 200,
    headroomBytes: 1024,
    onError,
    isClosed: () => closed,
  };
  const pubsub = new NatsPubSub({
    nc,
    codec: ctx.codec,
    payloadLimit: () => payloadLimit(ctx),
    onError,
    onHandlerError,
    idHeader: options.idHeader ?? true,
    controlRoot:
      options.inboxPrefix === undefined ? CONTROL_ROOT : `${options.inboxPrefix}.${CONTROL_ROOT}`,
    isClosed: () => closed || nc.isClosed(),
  });
  const queues = new Map<string, NatsQueue>();
  void followStatus(nc, status);

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    closed = true;
    await Promise.all([...queues.values()].map((q) => q.close()));
    pubsub.close();
    // drain() flushes what was published and lets handlers finish what arrived; while the
    // server is away it would wait for it, so it gets the request timeout and then a close.
    let timer: NodeJS.Timeout | undefined;
    const drained = nc.drain().then(
      () => true,
      () => false,
    );
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ctx.requestTimeoutMs);
    });
    if (!(await Promise.race([drained, late]))) await nc.close();
    clearTimeout(timer);
    await nc.closed();
  }

  return {
    name: 'nats',
    maxMessageBytes: ctx.codec.maxFrameBytes,
    publish: (env) => pubsub.publish(env),
    subscribe: (pattern, handler, subOptions) => pubsub.subscribe(pattern, handler, subOptions),
    async flush() {
      if (closed) throw new ClosedError('nats transport');
      pubsub.flushOutgoing();
      await nc.flush();
    },
    queue(name: string, queueOptions?: QueueOptions): DurableQueue {
      if (closed) throw new ClosedError('nats transport');
      const resolved = resolveQueueOptions(name, queueOptions);
      let q = queues.get(name);
      if (q === undefined) {
        q = new NatsQueue(ctx, name, resolved);
        queues.set(name, q);
      }
      return contractQueue(q);
    },
    status: (): AsyncIterable<TransportStatus> => status.iterate(),
    close() {
      closing ??= close();
      return closing;
    },
  };
}

/** Maps nats.js status events onto TransportStatus; ends the feed when the connection closes. */
async function followStatus(nc: NatsConnection, status: StatusFeed): Promise<void> {
  let attempt = 0;
  const closed = nc.closed().then((err) => {
    if (err) status.push({ type: 'error', error: err });
    status.push({ type: 'closed' });
    status.end();
  });
  for await (const s of nc.status()) {
    switch (s.type) {
      case 'disconnect':
        status.push({ type: 'disconnected' });
        break;
      case 'reconnecting':
        status.push({ type: 'reconnecting', attempt: ++attempt });
        break;
      case 'reconnect':
        attempt = 0;
        status.push({ type: 'connected' });
        break;
      case 'error':
        status.push({ type: 'error', error: s.error });
        break;
      default:
        // update, ldm, ping, staleConnection, slowConsumer, forceReconnect: not connection states
        break;
    }
  }
  await closed;
}
