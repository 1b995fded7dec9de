// Opening the NATS connection: credentials (from the options and from server URLs), TLS, the
// reconnect policy, the errors a failed connect becomes, and the status the connection reports.
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
import { ConfigError, UnauthorizedError, UnavailableError } from '../../protocol/index.js';
import type { StatusFeed } from '../status.js';
import { clientTlsOptions, tlsFailure, type ClientTlsOptions } from '../tls.js';

export interface NatsCredentials {
  user?: string;
  password?: string;
  token?: string;
  /** An NKey user's seed (`SU...`); the server holds only its public key. */
  nkeySeed?: string | Uint8Array;
  /** The contents of a `.creds` file (`nsc generate creds`): decentralized JWT auth. */
  creds?: string | Uint8Array;
}

/** The connection fields of NatsTransportOptions (documented there). */
export interface NatsConnectOptions {
  servers: string | string[];
  name?: string | undefined;
  maxReconnectAttempts?: number | undefined;
  reconnectTimeWaitMs?: number | undefined;
  credentials?: NatsCredentials | undefined;
  tls?: ClientTlsOptions | undefined;
  inboxPrefix?: string | undefined;
  connection?: Partial<NodeConnectionOptions> | undefined;
}

/**
 * Opens the connection with the options' credentials, TLS and reconnect policy, pushing
 * `connecting` on `status` first; rejects with UnauthorizedError for a refused credential or
 * certificate (retrying cannot help) and UnavailableError otherwise, after ending `status`.
 */
export async function connectNats(
  options: NatsConnectOptions,
  status: StatusFeed,
): Promise<NatsConnection> {
  const auth = options.credentials === undefined ? [] : authenticators(options.credentials);
  const tls = options.tls === undefined ? undefined : natsTls(options.tls);
  status.push({ type: 'connecting' });
  const { servers, credentials } = splitCredentials(options.servers);
  try {
    return await connect({
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
    throw connectFailure(cause, options.servers);
  }
}

/** Neither a refused credential nor a refused certificate gets better by retrying. */
function connectFailure(cause: unknown, servers: string | string[]): Error {
  if (cause instanceof AuthorizationError) {
    return new UnauthorizedError('NATS refused the credentials (authorization violation)', {
      cause,
    });
  }
  const tlsProblem = tlsFailure(cause);
  if (tlsProblem !== undefined) {
    return new UnauthorizedError(`TLS handshake with NATS failed: ${tlsProblem}`, { cause });
  }
  return new UnavailableError(`cannot connect to NATS at ${String(servers)}`, { cause });
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

/** Maps nats.js status events onto TransportStatus; ends the feed when the connection closes. */
export async function followStatus(nc: NatsConnection, status: StatusFeed): Promise<void> {
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
