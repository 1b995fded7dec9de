// Reaching a broker: connect within a time limit or fail with `unreachable` naming the URL, and
// report the connection's ups and downs on stderr while a long-running command (tail, status
// --watch) holds it. Services (up, gateway, worker) keep trying until the limit, saying so, so
// a worker started just before its hub or broker still joins.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, MissingPackageError, UnauthorizedError } from '../protocol/index.js';
import type { Transport, TransportStatus } from '../transport/transport.js';
import { maskCredentials } from '../ops/mask.js';
import { UnreachableError } from './errors.js';
import { createTransport, isAmqp, openTransport } from './runtime.js';
import type { BrokerSettings } from './tls.js';

export interface ConnectOptions {
  dataDir: string;
  token?: string | undefined;
  /** Give up after this long. Default 5000 ms. */
  timeoutMs?: number;
  /** What the command needs the transport for, for the message when it cannot have it. */
  purpose: 'queues' | 'messages';
  /** Credentials and TLS for the broker. */
  broker?: BrokerSettings | undefined;
  /** nats: root of this process's reply subjects. */
  inboxPrefix?: string | undefined;
  /**
   * When given, failed attempts are retried until the time limit, and this is called once, with
   * a line for people, when the first attempt fails. Without it the first failure is final.
   */
  onRetry?: (line: string) => void;
  /** Sees the transport as soon as it is made, before it connects (status logging). */
  watch?: (transport: Transport) => void;
}

/** Default time a service (up, gateway, worker) keeps trying to reach its bus. */
export const SERVICE_CONNECT_TIMEOUT_MS = 30_000;

/**
 * Opens the transport of a service: sqlite and memory at once; a broker or hub retried until
 * `timeoutMs`, with one line on stderr when the first attempt fails, then `unreachable`.
 */
export async function connectService(
  spec: string,
  options: Omit<ConnectOptions, 'purpose' | 'onRetry'> & { timeoutMs: number },
  err: (line: string) => void,
): Promise<Transport> {
  if (spec === 'memory' || spec === 'sqlite') {
    return openTransport(spec, options, options.watch);
  }
  return connectTransport(spec, { ...options, purpose: 'messages', onRetry: err });
}

/** Where to look when a transport does not answer, by scheme. */
function hint(spec: string): string {
  if (spec.startsWith('nats') || spec.startsWith('tls')) return 'is nats-server running there?';
  if (spec.startsWith('redis')) return 'is Redis running there?';
  if (spec.startsWith('amqp')) return 'is RabbitMQ running there, and are the credentials right?';
  if (spec.startsWith('ws')) return "is 'llmwire up' or 'llmwire gateway' running there?";
  return 'check the URL';
}

/** Opens a transport shared with other processes and waits until it is connected. */
export async function connectTransport(spec: string, options: ConnectOptions): Promise<Transport> {
  if (spec === 'memory') {
    throw new ConfigError(
      "the memory transport lives inside one process; reach it through that process's bus endpoint, e.g. --transport ws://127.0.0.1:8787/v1/bus",
    );
  }
  if (spec === 'sqlite') {
    if (options.purpose === 'messages') {
      throw new ConfigError(
        "sqlite carries messages inside one process; tail that process's bus endpoint instead, e.g. ws://127.0.0.1:8787/v1/bus",
      );
    }
    const journal = join(resolve(options.dataDir), 'journal.db');
    if (!existsSync(journal)) {
      throw new UnreachableError(
        `no sqlite journal at ${journal}; check --data-dir (the data dir of the running llmwire)`,
      );
    }
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  const shown = maskCredentials(spec);
  const fail = (detail: string, cause?: unknown) =>
    new UnreachableError(`cannot reach the broker at ${shown}: ${detail}; ${hint(spec)}`, {
      cause,
    });
  // A refused credential or certificate is not an absent broker: it keeps its own code.
  const refused = (err: unknown): err is Error =>
    err instanceof Error && (err as { code?: unknown }).code === 'unauthorized';
  const refusedBy = (err: Error) =>
    new UnauthorizedError(`the broker at ${shown} refused this client: ${err.message}`, {
      cause: err,
    });
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  let told = false;
  const retrying = (detail: string) => {
    if (told || options.onRetry === undefined) return;
    told = true;
    options.onRetry(
      maskCredentials(
        `llmwire: cannot reach ${shown} yet (${detail}); ${hint(spec)} Retrying for up to ${timeoutMs / 1000} s.`,
      ),
    );
  };
  let transport: Transport | undefined;
  for (let delayMs = 250; transport === undefined; delayMs = Math.min(delayMs * 2, 2000)) {
    const creating = createTransport(spec, {
      dataDir: options.dataDir,
      token: options.token,
      broker: options.broker,
      inboxPrefix: options.inboxPrefix,
    });
    try {
      transport = await withTimeout(creating, left());
    } catch (err) {
      if (err instanceof TimedOut) {
        void creating.then((t) => t.close()).catch(() => undefined);
        throw fail(`no connection after ${timeoutMs} ms`);
      }
      if (err instanceof ConfigError || err instanceof MissingPackageError) throw err;
      if (refused(err)) throw refusedBy(err);
      const detail = err instanceof Error ? err.message : String(err);
      if (options.onRetry === undefined || Date.now() + delayMs >= deadline)
        throw fail(detail, err);
      retrying(detail);
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
  options.watch?.(transport);
  const opened = transport;
  let last: TransportStatus | undefined;
  let lastError: Error | undefined;
  const connected = (async () => {
    for await (const s of opened.status()) {
      last = s;
      if ('error' in s && s.error !== undefined) {
        lastError = s.error;
        const detail = s.error.message;
        if (!refused(s.error)) retrying(detail);
      }
      if (s.type === 'reconnecting') retrying('no answer');
      if (s.type === 'connected') return;
      if (s.type === 'closed') break;
    }
    throw new Error('the transport closed');
  })();
  try {
    await withTimeout(connected, left());
    if (isAmqp(opened)) await withTimeout(opened.ready, left());
  } catch (err) {
    await withTimeout(opened.close(), 2000).catch(() => undefined);
    if (refused(lastError)) throw refusedBy(lastError);
    const reason =
      last !== undefined && 'error' in last && last.error !== undefined
        ? last.error.message
        : `no connection after ${timeoutMs} ms`;
    throw fail(reason, err);
  }
  return opened;
}

/**
 * Prints the connection's changes after the first connect: `connection lost`, `reconnecting`
 * and `reconnected` lines on stderr. Ends when the transport closes.
 */
export function watchConnection(transport: Transport, spec: string, err: (line: string) => void) {
  const shown = maskCredentials(spec);
  void (async () => {
    let up = false;
    let lost = false;
    for await (const s of transport.status()) {
      switch (s.type) {
        case 'connected':
          if (!up) err(`connected to ${shown}`);
          else if (lost) err(`reconnected to ${shown}`);
          up = true;
          lost = false;
          break;
        case 'disconnected':
          if (up && !lost)
            err(`connection to ${shown} lost${s.error ? `: ${s.error.message}` : ''}`);
          lost = up;
          break;
        case 'reconnecting':
          if (up) err(`reconnecting to ${shown} (attempt ${s.attempt})`);
          lost = up;
          break;
        case 'error':
          if (up) err(`connection error: ${s.error.message}`);
          break;
        case 'connecting':
        case 'closed':
          break;
      }
    }
  })().catch(() => undefined);
}

class TimedOut extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimedOut()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
