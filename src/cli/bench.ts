// `llmwire bench`: a load run against a gateway — one given by URL, or one started in this
// process on a memory bus with simulated workers — with a progress line while it runs and a
// summary (throughput, tokens/s, time to first token, latency percentiles) at the end.
import { createBus } from '../bus/index.js';
import { createBackend } from '../llm/backends/create.js';
import { createGateway } from '../llm/gateway/server.js';
import { createWorker, type Worker } from '../llm/worker/worker.js';
import { ConfigError } from '../protocol/index.js';
import { createMemoryTransport } from '../transport/memory/index.js';
import { parse, type Options } from './args.js';
import { maskCredentials } from '../ops/mask.js';
import { UnreachableError } from './errors.js';
import { LoadRun, percentile, type LoadCounts } from './load.js';
import { untilSignal } from './runtime.js';

export const BENCH_HELP = `Usage: llmwire bench [options]

Keeps --concurrency chat requests in flight against a gateway and reports requests done,
tokens/s and errors every second on stderr, then a summary on stdout. Without --gateway it
starts one in this process: a memory bus, the gateway on a free port and simulated workers.

Options (each also as an environment variable, e.g. LLMWIRE_CONCURRENCY):
  --gateway URL      gateway base URL; default: start one here
  --key KEY          API key, when the gateway requires one
  --model NAME       model to ask (default sim)
  --concurrency N    requests in flight (default 16)
  --requests N       requests to send (default 200)
  --duration-ms N    or: send for this long instead of a count
  --max-tokens N     tokens per answer (default 32)
  --no-stream        ask for whole answers instead of SSE streams
  --workers N        started here: simulated workers (default 2)
  --sim-ttft-ms N    started here: time to first token (default 20)
  --sim-itl-ms N     started here: time between tokens (default 5)
  --progress-ms N    how often the progress line is printed (default 1000)
  --json             print the summary as JSON
  -h, --help         show this help

Exit codes: 0 every request succeeded, 1 some failed, 2 bad flags, 3 gateway unreachable.
`;

const OPTIONS: Options = {
  gateway: { type: 'string' },
  key: { type: 'string' },
  model: { type: 'string' },
  concurrency: { type: 'string' },
  requests: { type: 'string' },
  'duration-ms': { type: 'string' },
  'max-tokens': { type: 'string' },
  'no-stream': { type: 'boolean' },
  workers: { type: 'string' },
  'sim-ttft-ms': { type: 'string' },
  'sim-itl-ms': { type: 'string' },
  'progress-ms': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

function int(flag: string, value: string | boolean | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min || !Number.isSafeInteger(n)) {
    throw new ConfigError(`--${flag} must be an integer >= ${min}, got '${String(value)}'`);
  }
  return n;
}

interface Target {
  base: string;
  close(): Promise<void>;
}

export async function bench(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<number> {
  const flags = parse('bench', args, OPTIONS);
  if (flags.help === true) {
    out(BENCH_HELP);
    return 0;
  }
  if (flags.requests !== undefined && flags['duration-ms'] !== undefined) {
    throw new ConfigError('give --requests or --duration-ms, not both');
  }
  const durationMs =
    flags['duration-ms'] === undefined ? undefined : int('duration-ms', flags['duration-ms'], 0);
  const requests = durationMs === undefined ? int('requests', flags.requests, 200) : undefined;
  const concurrency = int('concurrency', flags.concurrency, 16);
  const maxTokens = int('max-tokens', flags['max-tokens'], 32);
  const progressMs = int('progress-ms', flags['progress-ms'], 1000, 10);
  const key = typeof flags.key === 'string' ? flags.key : undefined;
  const target =
    typeof flags.gateway === 'string'
      ? await remote(flags.gateway, key)
      : await embedded({
          workers: int('workers', flags.workers, 2),
          ttftMs: int('sim-ttft-ms', flags['sim-ttft-ms'], 20, 0),
          itlMs: int('sim-itl-ms', flags['sim-itl-ms'], 5, 0),
          concurrency,
        });
  const stop = new AbortController();
  void untilSignal().then(() => stop.abort());
  const load = new LoadRun({
    base: target.base,
    key,
    model: typeof flags.model === 'string' ? flags.model : 'sim',
    maxTokens,
    stream: flags['no-stream'] !== true,
    concurrency,
    requests,
    durationMs,
    signal: stop.signal,
  });
  err(
    `bench: ${concurrency} in flight against ${maskCredentials(target.base)}, ${requests === undefined ? `for ${durationMs} ms` : `${requests} requests`}`,
  );
  const ticker = setInterval(() => err(progress(load.counts, load.elapsedMs())), progressMs);
  let counts: LoadCounts;
  try {
    counts = await load.run();
  } finally {
    clearInterval(ticker);
    await target.close();
  }
  const result = summarize(counts, load.elapsedMs());
  if (flags.json === true) out(JSON.stringify(result, null, 2));
  else printSummary(result, out);
  return counts.errors > 0 ? 1 : 0;
}

function progress(c: LoadCounts, elapsedMs: number): string {
  const secs = elapsedMs / 1000;
  return `[${secs.toFixed(1)}s] ${c.done} done, ${c.errors} errors, ${c.inflight} in flight, ${Math.round(c.tokens / Math.max(secs, 1e-3))} tokens/s`;
}

async function remote(url: string, key: string | undefined): Promise<Target> {
  const base = url.replace(/\/+$/, '').replace(/\/v1$/, '');
  try {
    await fetch(`${base}/healthz`, {
      headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
      signal: AbortSignal.timeout(5000),
    });
  } catch (cause) {
    const reason = ((cause as Error).cause ?? cause) as Error;
    throw new UnreachableError(
      `cannot reach the gateway at ${maskCredentials(base)}: ${reason.message}; is 'llmwire up' or 'llmwire gateway' running there?`,
      { cause },
    );
  }
  return { base, close: () => Promise.resolve() };
}

async function embedded(o: {
  workers: number;
  ttftMs: number;
  itlMs: number;
  concurrency: number;
}): Promise<Target> {
  const transport = createMemoryTransport();
  const bus = createBus({ transport, source: 'llmwire-bench' });
  await bus.ready;
  const gateway = createGateway({ bus, port: 0 });
  const base = await gateway.listen();
  const workers: Worker[] = [];
  for (let i = 0; i < o.workers; i++) {
    const backend = await createBackend({
      kind: 'sim',
      models: ['sim'],
      ttftMs: o.ttftMs,
      itlMs: o.itlMs,
    });
    const w = createWorker({ bus, backend, id: `bench-${i + 1}`, concurrency: o.concurrency });
    await w.start();
    workers.push(w);
  }
  // Serve once the registry has heard every worker.
  const until = Date.now() + 10_000;
  while (gateway.registry.forModel('sim').length < o.workers && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    base,
    close: async () => {
      await Promise.all(workers.map((w) => w.drain(5000)));
      await gateway.close();
      await bus.close();
      await transport.close();
    },
  };
}

export interface BenchSummary {
  requests: number;
  completed: number;
  errors: number;
  firstError: string | null;
  durationMs: number;
  requestsPerSecond: number;
  tokens: number;
  tokensPerSecond: number;
  ttftMs: { p50: number | null; p95: number | null; p99: number | null };
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
}

function percentiles(values: number[]): BenchSummary['ttftMs'] {
  const at = (p: number) => {
    const v = percentile(values, p);
    return v === undefined ? null : Math.round(v * 10) / 10;
  };
  return { p50: at(50), p95: at(95), p99: at(99) };
}

function summarize(c: LoadCounts, elapsedMs: number): BenchSummary {
  const secs = Math.max(elapsedMs / 1000, 1e-3);
  return {
    requests: c.started,
    completed: c.done,
    errors: c.errors,
    firstError: c.firstError ?? null,
    durationMs: Math.round(elapsedMs),
    requestsPerSecond: Math.round((c.done / secs) * 10) / 10,
    tokens: c.tokens,
    tokensPerSecond: Math.round(c.tokens / secs),
    ttftMs: percentiles(c.ttftMs),
    latencyMs: percentiles(c.latencyMs),
  };
}

function printSummary(s: BenchSummary, out: (line: string) => void): void {
  const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
  out(`requests      ${s.completed} completed, ${s.errors} errors of ${s.requests}`);
  out(`duration      ${(s.durationMs / 1000).toFixed(2)} s`);
  out(`throughput    ${s.requestsPerSecond} requests/s, ${s.tokensPerSecond} tokens/s`);
  out(`ttft          p50 ${ms(s.ttftMs.p50)}, p95 ${ms(s.ttftMs.p95)}, p99 ${ms(s.ttftMs.p99)}`);
  out(
    `latency       p50 ${ms(s.latencyMs.p50)}, p95 ${ms(s.latencyMs.p95)}, p99 ${ms(s.latencyMs.p99)}`,
  );
  if (s.firstError !== null) out(`first error   ${s.firstError}`);
}
