// The bus hub: a WebSocket endpoint through which other processes (remote workers, CLI tools,
// other gateways) join the embedded bus of the process that hosts it (docs/ws-bus.md).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Server as TlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { createCodec, type Codec } from '../../codec/codec.js';
import {
  ConfigError,
  LocalError,
  PayloadTooLargeError,
  type Envelope,
} from '../../protocol/index.js';
import type { Transport } from '../transport.js';
import { httpsServerOptions, type ServerTlsOptions } from '../tls.js';
import { InboxClaims, OPEN_IDENTITY, type PeerIdentity } from './hub-identity.js';
import { PeerSession, type HubContext, type PeerInfo } from './hub-peer.js';
import type { DeniedEvent } from './hub-policy.js';
import { originAllowed, parseOrigins } from './origin.js';
import { CloseCode, DEFAULT_PATH, RECORD_OVERHEAD_BYTES } from './wire.js';

export type { PeerInfo } from './hub-peer.js';
export type { DeniedEvent } from './hub-policy.js';
export type { PeerIdentity } from './hub-identity.js';

export interface BusHubOptions {
  /** Attach to this server (e.g. the gateway's) instead of listening on a port of its own. */
  server?: Server;
  /**
   * TLS of the hub's own server (wss://), when no `server` is given; an attached server is
   * TLS or not as its owner made it. With `tls.ca`, peers need a client certificate.
   */
  tls?: ServerTlsOptions;
  /** URL path of the endpoint. Other upgrade paths on `server` are left alone. Default '/v1/bus'. */
  path?: string;
  /** Port to listen on when no `server` is given. Default 0 (any free port). */
  port?: number;
  /** Interface to listen on when no `server` is given. Default '127.0.0.1'. */
  host?: string;
  /**
   * Decides who a connection is, from its bearer token (the `Authorization: Bearer` header,
   * else the `token` query parameter): the identity whose permissions it gets, or undefined /
   * false to refuse it (HTTP 401, no upgrade). `true` admits it with no restriction.
   * Default: everyone may join, with no restriction (so a hub of its own binds 127.0.0.1).
   */
  authenticate?: (
    token: string | undefined,
    req: IncomingMessage,
  ) => PeerIdentity | boolean | undefined | Promise<PeerIdentity | boolean | undefined>;
  /** A peer's record was refused by its identity's permissions. Default: nothing. */
  onDenied?: (event: DeniedEvent) => void;
  /** Connections open at once. Past it an upgrade gets HTTP 503. Default 10,000. */
  maxConnections?: number;
  /** Connections open at once per identity (unless it says otherwise). Past it, 429. Default 256. */
  maxConnectionsPerIdentity?: number;
  /**
   * Browser origins (exact, e.g. 'https://app.example') whose pages may connect. An upgrade
   * that carries an `Origin` header which is neither listed nor the server's own (same host as
   * its `Host` header) gets HTTP 403 and no upgrade, so a web page cannot join the bus.
   * Clients that send no `Origin` (the `ws` package, other processes) are not affected.
   * Default: none listed.
   */
  allowedOrigins?: string[];
  /**
   * Codec for frames sent to peers. Default JSON with `open: false`: signed, encrypted and
   * checksummed frames pass through sealed and are opened by the receiving buses (end to end).
   */
  codec?: Codec;
  /** Largest frame accepted from or sent to a peer. Default: the codec's (8 MiB). */
  maxFrameBytes?: number;
  /** Distinct subscriptions one peer may hold (identical ones count once). Default 10,000. */
  maxSubscriptionsPerPeer?: number;
  /** Bytes queued unsent to one peer before it is disconnected as a slow consumer. Default 32 MiB. */
  maxBufferedBytes?: number;
  /** Queue deliveries one peer may hold unsettled. Default 10,000. */
  maxLeasesPerPeer?: number;
  /** A peer that does not answer a ping within this interval is dropped. Default 30 s. */
  pingIntervalMs?: number;
  /** A connection that sends no `hello` within this time is closed. Default 10 s. */
  helloTimeoutMs?: number;
  /** Errors with nowhere else to go (socket errors, a peer's reports). Default: stderr. */
  onError?: (error: unknown, context: { peer?: string }) => void;
}

export interface BusHub {
  /**
   * Resolves once the hub accepts connections: at once when attached to a `server` (which its
   * owner starts), after `listen` otherwise. Rejects if it cannot listen.
   */
  readonly listening: Promise<void>;
  /** ws:// (wss:// over TLS) URL peers connect to; throws until the server listens on a TCP port. */
  readonly url: string;
  readonly address: AddressInfo;
  peers(): PeerInfo[];
  /** Closes one peer's connection (it may reconnect). Returns false if no such peer. */
  disconnect(peerId: string): boolean;
  /** Disconnects every peer and stops accepting; closes the server only if the hub made it. */
  close(): Promise<void>;
}

export function createBusHub(local: Transport, options: BusHubOptions = {}): BusHub {
  return new WebSocketBusHub(local, options);
}

/** The hub: admits upgrades on `path` of its server and runs one PeerSession per connection. */
class WebSocketBusHub implements BusHub {
  readonly listening: Promise<void>;
  private readonly path: string;
  private readonly ctx: HubContext;
  private readonly onError: NonNullable<BusHubOptions['onError']>;
  private readonly allowedOrigins: ReturnType<typeof parseOrigins>;
  private readonly maxConnections: number;
  private readonly maxPerIdentity: number;
  /** Open connections by identity name, counted from admission on. */
  private readonly perIdentity = new Map<string, number>();
  private connections = 0;
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<string, PeerSession>();
  private closed = false;
  private readonly ownServer: boolean;
  private readonly server: Server;
  private readonly scheme: 'ws' | 'wss';
  private readonly timer: NodeJS.Timeout;

  constructor(
    local: Transport,
    private readonly options: BusHubOptions,
  ) {
    this.path = options.path ?? DEFAULT_PATH;
    if (!this.path.startsWith('/')) {
      throw new ConfigError(`hub path must start with '/', got '${this.path}'`);
    }
    this.onError =
      options.onError ?? ((err, c) => console.error(`llmwire hub: peer ${c.peer ?? '-'}`, err));
    const pingIntervalMs = positive('pingIntervalMs', options.pingIntervalMs, 30_000);
    this.allowedOrigins = parseOrigins(options.allowedOrigins, 'hub option allowedOrigins');
    this.ctx = hubContext(local, options, pingIntervalMs, this.onError);
    this.maxConnections = positive('maxConnections', options.maxConnections, 10_000);
    this.maxPerIdentity = positive(
      'maxConnectionsPerIdentity',
      options.maxConnectionsPerIdentity,
      256,
    );
    if (options.server !== undefined && options.tls !== undefined) {
      throw new ConfigError('hub option tls applies to its own server; give the TLS to `server`');
    }
    // Records a little past the frame limit still reach the codec and get a typed
    // `payload_too_large`; far past it, ws closes the connection with 1009 before buffering it.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.ctx.maxFrameBytes + RECORD_OVERHEAD_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.wss.on('error', (err) => this.onError(err, {}));
    this.ownServer = options.server === undefined;
    this.server = options.server ?? ownServer(options.tls);
    this.scheme = this.server instanceof TlsServer ? 'wss' : 'ws';
    this.server.on('upgrade', this.onUpgrade);
    this.listening = this.ownServer
      ? listen(this.server, options.port ?? 0, options.host ?? '127.0.0.1')
      : Promise.resolve();
    // Reported here too, for a caller who never awaits `listening`.
    this.listening.catch((err: unknown) => this.onError(err, {}));
    this.timer = setInterval(() => {
      for (const peer of this.sessions.values()) peer.heartbeat();
    }, pingIntervalMs);
    this.timer.unref();
  }

  get url(): string {
    const a = this.address;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.scheme}://${host}:${a.port}${this.path}`;
  }

  get address(): AddressInfo {
    const a = this.server.address();
    if (a === null || typeof a === 'string') {
      throw new LocalError('not_listening', 'the hub server is not listening on a TCP port');
    }
    return a;
  }

  peers(): PeerInfo[] {
    return [...this.sessions.values()].map((p) => p.info());
  }

  disconnect(peerId: string): boolean {
    const peer = this.sessions.get(peerId);
    if (peer === undefined) return false;
    peer.kick(CloseCode.kicked, 'disconnected by the hub');
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.server.off('upgrade', this.onUpgrade);
    for (const peer of [...this.sessions.values()]) peer.kick(CloseCode.goingAway, 'hub closing');
    this.wss.close();
    if (this.ownServer && this.server.listening) {
      await new Promise<void>((resolve) => {
        this.server.close(() => resolve());
        this.server.closeAllConnections();
      });
    }
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    // Someone else's endpoint on a shared server: theirs to answer.
    if (url.pathname !== this.path && !this.ownServer) return;
    // Until the upgrade, a socket error is the caller's problem (it hung up): nothing to log.
    socket.on('error', ignore);
    if (url.pathname !== this.path) refuse(socket, 404, 'Not Found');
    else if (this.closed) refuse(socket, 503, 'Service Unavailable');
    else if (!originAllowed(req.headers.origin, req.headers.host, this.allowedOrigins))
      refuse(socket, 403, 'Forbidden');
    else void this.admit(req, socket, head, url);
  };

  private async admit(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) {
    const identity = await this.identify(req, socket, url);
    if (identity === undefined) return;
    if (this.closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    if (!this.hasRoom(socket, identity)) return;
    this.connections++;
    this.perIdentity.set(identity.name, (this.perIdentity.get(identity.name) ?? 0) + 1);
    socket.off('error', ignore);
    let joined = false;
    this.wss.handleUpgrade(req, socket, head, (ws, r) => {
      joined = true;
      this.join(ws, r, identity);
    });
    // handleUpgrade calls back synchronously or not at all (a bad handshake ends the socket).
    if (!joined) socket.once('close', () => this.leave(identity));
  }

  /** Who the upgrade is, by its bearer token; undefined (the socket answered) when refused. */
  private async identify(
    req: IncomingMessage,
    socket: Duplex,
    url: URL,
  ): Promise<PeerIdentity | undefined> {
    const authenticate = this.options.authenticate;
    if (authenticate === undefined) return OPEN_IDENTITY;
    let found: PeerIdentity | boolean | undefined;
    try {
      found = await authenticate(bearerToken(req, url), req);
    } catch (err) {
      this.onError(err, {});
      refuse(socket, 500, 'Internal Server Error');
      return undefined;
    }
    const identity = found === true ? OPEN_IDENTITY : found === false ? undefined : found;
    if (identity === undefined) refuse(socket, 401, 'Unauthorized', 'WWW-Authenticate: Bearer\r\n');
    return identity;
  }

  /** False (the socket answered 503 or 429) when the hub or the identity is at its limit. */
  private hasRoom(socket: Duplex, identity: PeerIdentity): boolean {
    const mine = this.perIdentity.get(identity.name) ?? 0;
    const limit = identity.maxConnections ?? this.maxPerIdentity;
    const total = this.connections >= this.maxConnections;
    if (!total && mine < limit) return true;
    this.ctx.onDenied({
      peer: '-',
      identity: identity.name,
      role: identity.role,
      action: 'connect',
      target: this.path,
      reason: total
        ? `the hub holds its limit of ${this.maxConnections} connections`
        : `${identity.role} '${identity.name}' holds its limit of ${limit} connections`,
    });
    if (total) refuse(socket, 503, 'Service Unavailable');
    else refuse(socket, 429, 'Too Many Requests');
    return false;
  }

  private join(ws: WebSocket, req: IncomingMessage, identity: PeerIdentity): void {
    const id = randomBytes(6).toString('hex');
    const peer = new PeerSession(id, ws, req.socket.remoteAddress, identity, this.ctx, (p) => {
      this.sessions.delete(p.id);
      this.leave(identity);
    });
    this.sessions.set(id, peer);
  }

  private leave(identity: PeerIdentity): void {
    this.connections--;
    const n = (this.perIdentity.get(identity.name) ?? 1) - 1;
    if (n <= 0) this.perIdentity.delete(identity.name);
    else this.perIdentity.set(identity.name, n);
  }
}

/** What every PeerSession of the hub shares: codec, limits, handle numbers, inbox claims. */
function hubContext(
  local: Transport,
  options: BusHubOptions,
  pingIntervalMs: number,
  onError: NonNullable<BusHubOptions['onError']>,
): HubContext {
  const codec =
    options.codec ??
    // Header-only: sealed frames pass through unopened, so the hub needs no keys.
    createCodec({
      open: false,
      ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
    });
  const maxFrameBytes = Math.min(options.maxFrameBytes ?? codec.maxFrameBytes, codec.maxFrameBytes);
  let handles = 0;
  return {
    local,
    codec: {
      encode: (env) => codec.encode(env),
      decode: (frame) => {
        if (frame.byteLength > maxFrameBytes) {
          throw new PayloadTooLargeError(
            `frame of ${frame.byteLength} bytes exceeds the hub's ${maxFrameBytes}-byte limit`,
            { details: { size: frame.byteLength, limit: maxFrameBytes } },
          );
        }
        return codec.decode(frame);
      },
    },
    maxFrameBytes,
    maxSubscriptionsPerPeer: positive(
      'maxSubscriptionsPerPeer',
      options.maxSubscriptionsPerPeer,
      10_000,
    ),
    maxBufferedBytes: positive('maxBufferedBytes', options.maxBufferedBytes, 32 * 1024 * 1024),
    maxLeasesPerPeer: positive('maxLeasesPerPeer', options.maxLeasesPerPeer, 10_000),
    helloTimeoutMs: positive('helloTimeoutMs', options.helloTimeoutMs, 10_000),
    pingIntervalMs,
    onError: (err, peer) => onError(err, { peer }),
    nextHandle: () => ++handles,
    frames: new WeakMap<Envelope, Uint8Array>(),
    unsendable: new WeakSet<Envelope>(),
    inboxes: new InboxClaims(),
    onDenied: options.onDenied ?? (() => undefined),
  };
}

/** The hub's own HTTP(S) server, which answers anything but an upgrade with 426. */
function ownServer(tls: ServerTlsOptions | undefined): Server {
  const upgradeOnly = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end('llmwire bus hub: connect with WebSocket\n');
  };
  return tls === undefined
    ? createServer(upgradeOnly)
    : createHttpsServer(httpsServerOptions(tls, 'hub.tls'), upgradeOnly);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The bearer token: the `Authorization: Bearer` header, else the `token` query parameter. */
function bearerToken(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match !== null) return match[1];
  return url.searchParams.get('token') ?? undefined;
}

/** Answers an upgrade request with a plain HTTP error and closes the socket, without upgrading. */
function refuse(socket: Duplex, status: number, text: string, extra = ''): void {
  if (socket.destroyed) return;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${extra}Content-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

function ignore(): void {}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(v > 0)) throw new ConfigError(`hub option ${name} must be a positive number`);
  return v;
}
