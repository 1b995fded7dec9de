// Reaching a broker from a short-lived command: connect within a time limit or fail with
// `unreachable` naming the URL, and report the connection's ups and downs on stderr while a
// long-running command (tail, status --watch) holds it.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, UnauthorizedError } from '../protocol/index.js';
import type { Transport, TransportStatus } from '../transport/transport.js';
import { maskCredentials } from '../ops/mask.js';
import { UnreachableError } from './errors.js';
import { createTransport } from './runtime.js';

export interface ConnectOptions {
  dataDir: string;
  token?: string | undefined;
  /** Give up after this long. Default 5000 ms. */
  timeoutMs?: number;
  /** What the command needs the transport for, for the message when it cannot have it. */
  purpose: 'queues' | 'messages';
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
  const creating = createTransport(spec, { dataDir: options.dataDir, token: options.token });
  let transport: Transport;
  try {
    transport = await withTimeout(creating, timeoutMs);
  } catch (err) {
    if (err instanceof TimedOut) {
      void creating.then((t) => t.close()).catch(() => undefined);
      throw fail(`no connection after ${timeoutMs} ms`);
    }
    if (err instanceof ConfigError) throw err;
    if (refused(err)) throw refusedBy(err);
    throw fail(err instanceof Error ? err.message : String(err), err);
  }
  let last: TransportStatus | undefined;
  let lastError: Error | undefined;
  const connected = (async () => {
    for await (const s of transport.status()) {
      last = s;
      if ('error' in s && s.error !== undefined) lastError = s.error;
      if (s.type === 'connected') return;
      if (s.type === 'closed') break;
    }
    throw new Error('the transport closed');
  })();
  try {
    await withTimeout(connected, Math.max(1, deadline - Date.now()));
  } catch (err) {
    await withTimeout(transport.close(), 2000).catch(() => undefined);
    if (refused(lastError)) throw refusedBy(lastError);
    const reason =
      last !== undefined && 'error' in last && last.error !== undefined
        ? last.error.message
        : `no connection after ${timeoutMs} ms`;
    throw fail(reason, err);
  }
  return transport;
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
