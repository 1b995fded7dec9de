// `llmwire up` as a child process, as an operator runs it: started from the built CLI with a
// config file, its gateway URL read from what it prints, its resident memory read from /proc.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadClient } from './client.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const GATEWAY_LINE = /gateway\s+(http:\/\/\S+)\/v1/;

export interface UpProcess {
  pid: number;
  /** Gateway base URL, without /v1. */
  url: string;
  /** Resident set size in bytes, now. */
  rss(): number;
  /** CPU time (user + system) used so far, in ms; NaN where /proc is not available. */
  cpuMs(): number;
  /** SIGTERM (drain and exit), SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // no /proc (not Linux): ask ps
  }
  return (
    Number(
      execFileSync('ps', ['-o', 'rss=', '-p', String(pid)])
        .toString()
        .trim(),
    ) * 1024
  );
}

let ticksPerSecond: number | undefined;

export function cpuMsOf(pid: number): number {
  try {
    ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    // Fields after the command name, which may hold spaces: utime and stime are 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return NaN;
  }
}

/**
 * Polls /readyz until the gateway counts `workers` ready workers. `up` prints "ready" before
 * its gateway has heard a heartbeat (its workers send their first one before the gateway
 * subscribes), and until the next one arrives every request is a 404.
 */
export async function untilWorkers(url: string, workers: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/readyz`).catch(() => undefined);
    const body = (await res?.json().catch(() => undefined)) as { workers?: number } | undefined;
    if ((body?.workers ?? 0) >= workers) return;
    if (Date.now() > until) throw new Error(`llmwire up: ${workers} workers not ready in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs `llmwire up ARGS` and resolves once it prints its gateway URL, says it is ready, and
 * its gateway counts `workers` ready workers.
 */
export async function startUp(
  args: string[],
  workers: number,
  timeoutMs = 15_000,
  /** Options for node itself, before the CLI (e.g. V8 flags). */
  nodeOptions: string[] = [],
): Promise<UpProcess> {
  // LLMWIRE_* variables would override the flags given here.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('LLMWIRE_')),
  );
  // BENCH_UP_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles this process alone.
  const nodeArgs = process.env['BENCH_UP_NODE_ARGS']?.split(' ').filter((a) => a !== '') ?? [];
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeOptions, ...nodeArgs, CLI, 'up', ...args],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    let found: string | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`llmwire up did not get ready in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onText = (chunk: Buffer) => {
      output += chunk.toString();
      found ??= GATEWAY_LINE.exec(output)?.[1];
      if (found !== undefined && output.includes('\nready')) {
        clearTimeout(timer);
        // From here on the log is read and dropped: kept, and searched on every chunk, it cost
        // the bench process time quadratic in the requests logged, and a slow reader makes
        // the child's synchronous log writes wait on a full pipe.
        child.stdout!.off('data', onText).resume();
        child.stderr!.off('data', onText).resume();
        resolve(found);
      }
    };
    child.stdout!.on('data', onText);
    child.stderr!.on('data', onText);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`llmwire up exited (${signal ?? code}) before it was ready:\n${output}`));
    });
  });
  await untilWorkers(url, workers, timeoutMs);
  const pid = child.pid!;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid,
    url,
    rss: () => rssOf(pid),
    cpuMs: () => cpuMsOf(pid),
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The sim fleet of a `llmwire up` run by `withSimUp`. */
export interface SimFleet {
  workers: number;
  /** Slots per worker. */
  concurrency: number;
  ttftMs: number;
  itlMs: number;
  /** The gateway's connection limit (`gateway.http.maxConnections`), when above its default. */
  maxConnections?: number;
  /** Options for node itself (e.g. `--optimize-for-size`). */
  nodeOptions?: string[];
}

/**
 * Starts `llmwire up` with `fleet` (sim workers, a data dir of its own) and a load generator
 * process, runs `body`, and stops both and removes the dir whatever happens.
 */
export function withSimUp<T>(
  fleet: SimFleet,
  body: (up: UpProcess, client: LoadClient) => Promise<T>,
): Promise<T> {
  return withUp(
    {
      workers: fleet.workers,
      concurrency: fleet.concurrency,
      backend: { kind: 'sim', models: ['sim'], ttftMs: fleet.ttftMs, itlMs: fleet.itlMs },
      ...(fleet.maxConnections === undefined ? {} : { maxConnections: fleet.maxConnections }),
      ...(fleet.nodeOptions === undefined ? {} : { nodeOptions: fleet.nodeOptions }),
    },
    body,
  );
}

/** A `llmwire up` run by `withUp`: its in-process workers and their backend config. */
export interface UpFleet {
  workers: number;
  /** Slots per worker. */
  concurrency: number;
  /** The config file's `workers.backend` (kind and that backend's options). */
  backend: Record<string, unknown>;
  /** `--transport`; default `up`'s own (SQLite). */
  transport?: string;
  /** The gateway's connection limit (`gateway.http.maxConnections`), when above its default. */
  maxConnections?: number;
  /** Options for node itself (e.g. `--optimize-for-size`). */
  nodeOptions?: string[];
}

/**
 * Starts `llmwire up` with `fleet` (a data dir of its own, default transport) and a load
 * generator process, runs `body`, and stops both and removes the dir whatever happens.
 */
export async function withUp<T>(
  fleet: UpFleet,
  body: (up: UpProcess, client: LoadClient) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-bench-up-'));
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      workers: { concurrency: fleet.concurrency, backend: fleet.backend },
      ...(fleet.maxConnections === undefined
        ? {}
        : { gateway: { http: { maxConnections: fleet.maxConnections } } }),
    }),
  );
  const client = await LoadClient.start();
  let up: UpProcess | undefined;
  try {
    up = await startUp(
      [
        '--port',
        '0',
        '--workers',
        String(fleet.workers),
        '--data-dir',
        join(dir, 'data'),
        '--config',
        config,
        ...(fleet.transport === undefined ? [] : ['--transport', fleet.transport]),
      ],
      fleet.workers,
      15_000,
      fleet.nodeOptions,
    );
    return await body(up, client);
  } finally {
    await up?.stop();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
