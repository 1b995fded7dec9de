// The Redis connections of one transport (commands, and subscriptions, which Redis keeps on a
// connection of their own) and the one status feed they make together: connected only when
// every connection is up and the subscriber has re-established its subscriptions.
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError, UnauthorizedError } from '../../protocol/index.js';
import { backoffDelay } from '../queue-policy.js';
import { StatusFeed } from '../status.js';
import { tlsFailure } from '../tls.js';

export interface ReconnectOptions {
  initialMs?: number;
  maxMs?: number;
}

export interface ConnectionOptions {
  url: string;
  /** Names the connections in CLIENT LIST: `<name>:cmd` and `<name>:sub`. */
  name: string;
  reconnect: ReconnectOptions | false;
  /** Passed to ioredis as is, after llmwire's own settings. */
  redis: RedisOptions | undefined;
}

type Role = 'cmd' | 'sub';

export class RedisConnections {
  readonly status = new StatusFeed();
  readonly cmd: Redis;
  readonly sub: Redis;
  private readonly up = new Map<Role, boolean>([
    ['cmd', false],
    ['sub', false],
  ]);
  private connected = false;
  /** Reconnect attempts of each connection in the current outage, and the last one reported. */
  private readonly attempts = new Map<Role, number>();
  private reported = 0;
  private lastError: Error | undefined;
  private closed = false;
  /** Called each time every connection is (again) up, after the subscriber re-subscribed. */
  onReady: () => void = () => undefined;

  constructor(options: ConnectionOptions) {
    const url = options.url;
    if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
      throw new ConfigError(`redis transport url must be redis:// or rediss://, got '${url}'`);
    }
    const reconnect = options.reconnect;
    const backoff = {
      initialMs: reconnect === false ? 0 : (reconnect.initialMs ?? 50),
      maxMs: reconnect === false ? 0 : (reconnect.maxMs ?? 2_000),
      multiplier: 2,
      jitter: 0.2,
    };
    const optionsFor = (role: Role): RedisOptions => ({
      // Commands wait in ioredis's offline queue through short outages and fail after this
      // many reconnect attempts, so a caller is not left waiting on a Redis that stays away.
      maxRetriesPerRequest: 20,
      // ioredis keeps a timer this long for a socket it ends, even one that never connected:
      // short, so a transport closed while Redis is away does not hold the process open.
      disconnectTimeout: 200,
      retryStrategy: (times: number) => {
        if (this.closed || reconnect === false) return null;
        this.attempts.set(role, times);
        return backoffDelay(times, backoff);
      },
      ...options.redis,
      connectionName: `${options.name}:${role}`,
    });
    this.status.push({ type: 'connecting' });
    this.cmd = new Redis(url, optionsFor('cmd'));
    this.sub = new Redis(url, optionsFor('sub'));
    this.watch('cmd', this.cmd);
    this.watch('sub', this.sub);
  }

  private watch(role: Role, conn: Redis): void {
    conn.on('error', (err: Error) => {
      this.lastError = err;
      const refused = refusal(err);
      if (refused === undefined) return;
      // ioredis listens for one error per socket (`once`); a TLS socket that failed its
      // handshake can report a second (the server's alert), which must not crash the process.
      conn.stream?.on('error', () => undefined);
      this.fail(refused);
    });
    conn.on('ready', () => {
      if (role === 'cmd') {
        this.mark(role, true);
        return;
      }
      // ioredis re-sends SUBSCRIBE/PSUBSCRIBE on 'ready'; a PING queued behind them answers
      // once they are all in place, so 'connected' means subscriptions work again.
      conn.ping().then(
        () => this.mark(role, true),
        () => undefined, // the connection dropped again; its next 'ready' tries once more
      );
    });
    conn.on('close', () => this.mark(role, false));
    conn.on('reconnecting', () => {
      // Both connections retry in step; one status per round, numbered by the furthest along.
      const attempt = Math.max(0, ...this.attempts.values());
      if (this.closed || attempt <= this.reported) return;
      this.reported = attempt;
      this.status.push({ type: 'reconnecting', attempt });
    });
  }

  private mark(role: Role, isUp: boolean): void {
    if (this.closed) return;
    this.up.set(role, isUp);
    const all = [...this.up.values()].every(Boolean);
    if (all && !this.connected) {
      this.connected = true;
      this.attempts.clear();
      this.reported = 0;
      this.lastError = undefined;
      this.status.push({ type: 'connected' });
      this.onReady();
    } else if (!isUp && this.connected) {
      this.connected = false;
      const error = this.lastError;
      this.status.push(
        error === undefined ? { type: 'disconnected' } : { type: 'disconnected', error },
      );
    }
  }

  /** Gives up for good on an error no reconnect can fix: the status says why, then closes. */
  private fail(error: Error): void {
    if (this.closed) return;
    this.connected = false;
    this.status.push({ type: 'error', error });
    void this.close();
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Ends both connections: QUIT when they answer, a hard disconnect when they do not. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      [this.cmd, this.sub].map(async (conn) => {
        if (conn.status !== 'ready') {
          conn.disconnect();
          return;
        }
        const timer = setTimeout(() => conn.disconnect(), 1_000);
        try {
          await conn.quit();
        } catch {
          conn.disconnect();
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    this.status.push({ type: 'closed' });
    this.status.end();
  }
}

/**
 * A refused credential or certificate, as UnauthorizedError; undefined for other errors. Redis
 * error replies start with their code (RESP: "the first word after the -"), which is what is
 * read here: WRONGPASS for a bad user or password, NOAUTH when one was needed and not given.
 */
function refusal(err: Error): Error | undefined {
  const tlsProblem = tlsFailure(err);
  if (tlsProblem !== undefined) {
    return new UnauthorizedError(`TLS handshake with Redis failed: ${tlsProblem}`, { cause: err });
  }
  if (err.name !== 'ReplyError') return undefined;
  const code = /^[A-Z]+/.exec(err.message)?.[0];
  if (code === 'WRONGPASS' || code === 'NOAUTH') {
    return new UnauthorizedError(`Redis refused the credentials (${code})`, { cause: err });
  }
  return undefined;
}
