// A gateway hosted in the test process with its WebSocket bus endpoint (wired as `llmwire up`
// wires them), and real worker processes (`llmwire worker`) joined to it over WebSocket; for
// tests that kill workers. Disposed with `await using`: every child is killed and awaited.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import OpenAI, { APIError } from 'openai';
import { createBus, type Bus } from '../../src/bus/index.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/llm/gateway/server.js';
import type { WorkerEntry } from '../../src/llm/gateway/registry.js';
import { ERROR_TABLE, isErrorCode } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { createBusHub, type BusHub } from '../../src/transport/ws/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { waitUntil as pollUntil } from '../wait.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const CRASH_WORKER = fileURLToPath(new URL('./process-crash-worker.js', import.meta.url));

/** Children still running when this process exits are killed, so none outlives a failed run. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorkerProcess {
  readonly id: string;
  readonly child: ChildProcess;
  /** Resolves with how the process ended. */
  readonly exited: Promise<Exit>;
  /** stdout and stderr so far, for assertions and failure messages. */
  output(): string;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

export interface ProcessStack {
  /** The gateway's base URL, http://127.0.0.1:PORT. */
  readonly url: string;
  /** The bus endpoint workers join, ws://127.0.0.1:PORT/v1/bus. */
  readonly busUrl: string;
  readonly gateway: Gateway;
  readonly bus: Bus;
  client(): OpenAI;
  /** Spawns `llmwire worker --connect <busUrl> --id <id> ...args` and waits until it is ready. */
  startWorker(id: string, args?: string[]): Promise<WorkerProcess>;
  /** Spawns the crash fixture: a sim worker that SIGKILLs itself after `crashAfterTokens`. */
  startCrashingWorker(
    id: string,
    options: { crashAfterTokens: number; ttftMs?: number; itlMs?: number },
  ): Promise<WorkerProcess>;
  /** The gateway's view of a worker; undefined once it is gone (lost or stopped). */
  worker(id: string): WorkerEntry | undefined;
  /** Ids of the workers the gateway has requests outstanding on. */
  serving(): string[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** Polls `check` until it returns true; throws `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  return pollUntil(check, what, timeoutMs);
}

/** Rejects with `what` if `promise` has not settled within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

export function spawnProcess(id: string, file: string, args: string[]): WorkerProcess {
  const child = spawn(process.execPath, [file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // The worker reads LLMWIRE_* variables as flag defaults: keep the test's environment out.
    env: Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('LLMWIRE_')),
    ),
  });
  live.add(child);
  let text = '';
  const waiters = new Set<() => void>();
  const append = (chunk: string) => {
    text += chunk;
    for (const w of waiters) w();
  };
  child.stdout.setEncoding('utf8').on('data', append);
  child.stderr.setEncoding('utf8').on('data', append);
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
      for (const w of waiters) w();
    });
  });
  return {
    id,
    child,
    exited,
    output: () => text,
    waitForOutput(pattern, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`worker ${id} did not print ${String(pattern)}; output:\n${text}`));
        }, timeoutMs);
        function check() {
          if (pattern.test(text)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`worker ${id} exited before printing ${String(pattern)}:\n${text}`));
          }
        }
        waiters.add(check);
        check();
      });
    },
  };
}

export interface DrainReport extends Exit {
  completed: number;
  failed: number;
  cancelled: number;
}

/**
 * Stops a worker process with SIGTERM (a drain) and reads the counts it prints on the way out:
 * the requests it completed, failed and had cancelled over its life.
 */
export async function drain(w: WorkerProcess, timeoutMs = 10_000): Promise<DrainReport> {
  w.child.kill('SIGTERM');
  const exit = await within(w.exited, `worker ${w.id} to drain and exit`, timeoutMs);
  const m = /stopped: (\d+) completed, (\d+) failed, (\d+) cancelled/.exec(w.output());
  if (m === null) throw new Error(`worker ${w.id} printed no counts:\n${w.output()}`);
  return { ...exit, completed: Number(m[1]), failed: Number(m[2]), cancelled: Number(m[3]) };
}

async function stop(w: WorkerProcess): Promise<void> {
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await within(w.exited, `worker ${w.id} to exit`, 5000);
}

export async function startProcessStack(
  options: { gateway?: Partial<GatewayOptions> } = {},
): Promise<ProcessStack> {
  const transport: Transport = createMemoryTransport();
  const bus = createBus({ transport, source: 'test', onError: () => undefined });
  await bus.ready;
  const gateway = createGateway({ bus, port: 0, ...options.gateway });
  const hub: BusHub = createBusHub(transport, {
    server: gateway.server,
    onError: () => undefined,
  });
  const url = await gateway.listen();
  const busUrl = `${url.replace('http://', 'ws://')}/v1/bus`;
  const workers: WorkerProcess[] = [];

  const ready = async (w: WorkerProcess): Promise<WorkerProcess> => {
    workers.push(w);
    await w.waitForOutput(/^llmwire worker /m);
    await waitUntil(
      () => gateway.registry.get(w.id)?.status === 'ready',
      `worker ${w.id} to join the gateway`,
    );
    return w;
  };

  return {
    url,
    busUrl,
    gateway,
    bus,
    client: () => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 }),
    startWorker: (id, args = []) =>
      ready(spawnProcess(id, CLI, ['worker', '--connect', busUrl, '--id', id, ...args])),
    startCrashingWorker: (id, crash) =>
      ready(spawnProcess(id, CRASH_WORKER, [JSON.stringify({ connect: busUrl, id, ...crash })])),
    worker: (id) => gateway.registry.get(id),
    serving: () =>
      gateway.registry
        .all()
        .filter((w) => w.outstanding > 0)
        .map((w) => w.id),
    async [Symbol.asyncDispose]() {
      await Promise.all(workers.map(stop));
      gateway.server.closeAllConnections();
      await hub.close();
      await gateway.close();
      await bus.close();
      await transport.close();
    },
  };
}

export interface StreamOutcome {
  /** The content of every delta, joined. */
  text: string;
  /** Deltas with content. */
  deltas: number;
  finishReason: string | null | undefined;
  completionTokens: number | undefined;
  /** What ended the stream early: an APIError for an error status or an SSE error event. */
  error: unknown;
  /** The guard timer cut the stream: it hung. */
  hung: boolean;
}

/**
 * Streams one chat completion with the SDK and reports how it ended. `onDelta` runs after each
 * content delta (with the count so far) before the next is read. A stream still open after
 * `timeoutMs` is aborted and reported as hung, since the SDK ends quietly on its own abort.
 */
export async function streamChat(
  client: OpenAI,
  request: OpenAI.ChatCompletionCreateParamsNonStreaming,
  options: { timeoutMs?: number; onDelta?: (deltas: number) => void | Promise<void> } = {},
): Promise<StreamOutcome> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? 20_000);
  const outcome: StreamOutcome = {
    text: '',
    deltas: 0,
    finishReason: undefined,
    completionTokens: undefined,
    error: undefined,
    hung: false,
  };
  try {
    const stream = await client.chat.completions.create(
      { ...request, stream: true, stream_options: { include_usage: true } },
      { signal },
    );
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (chunk.usage) outcome.completionTokens = chunk.usage.completion_tokens;
      if (choice?.finish_reason) outcome.finishReason = choice.finish_reason;
      const content = choice?.delta.content ?? '';
      if (content === '') continue;
      outcome.text += content;
      outcome.deltas++;
      await options.onDelta?.(outcome.deltas);
    }
  } catch (err) {
    outcome.error = err;
  }
  outcome.hung = signal.aborted;
  return outcome;
}

/** An error for an assertion message: its class, code and message. */
export function explain(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${err.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${err.message}`;
  }
  return JSON.stringify(err) ?? 'undefined';
}

/** The error code of an APIError from the gateway, if it is one of the protocol's. */
export function errorCode(err: unknown): string | undefined {
  return err instanceof APIError && typeof err.code === 'string' ? err.code : undefined;
}

/** True for an APIError whose code the protocol's error table marks retryable. */
export function isRetryable(err: unknown): boolean {
  const code = errorCode(err);
  return isErrorCode(code) && ERROR_TABLE[code].retryable;
}

/**
 * Checks streams that ran through a worker kill: none hung; each either has exactly its
 * expected text and finished on `length` (with `completionTokens` of usage, when given), or
 * ended with a retryable error after a prefix of that text. Returns how many completed and the
 * error codes seen, with their counts.
 */
export function checkOutcomes(
  results: readonly StreamOutcome[],
  expected: readonly string[],
  completionTokens?: number,
): { completed: number; errors: Map<string, number> } {
  let completed = 0;
  const errors = new Map<string, number>();
  for (const [i, r] of results.entries()) {
    assert.equal(r.hung, false, `stream ${i} hung`);
    if (r.error === undefined) {
      assert.equal(r.text, expected[i], `stream ${i}: the exact text, nothing missing or repeated`);
      assert.equal(r.finishReason, 'length', `stream ${i} finished`);
      if (completionTokens !== undefined) {
        assert.equal(r.completionTokens, completionTokens, `stream ${i} usage`);
      }
      completed++;
    } else {
      assert.ok(isRetryable(r.error), `stream ${i} ended with ${explain(r.error)}`);
      assert.ok(expected[i]!.startsWith(r.text), `stream ${i}: text before the error is a prefix`);
      const code = errorCode(r.error) ?? 'unknown';
      errors.set(code, (errors.get(code) ?? 0) + 1);
    }
  }
  return { completed, errors };
}
