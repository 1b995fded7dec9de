// `llmwire worker`: one worker process hosting one backend, joined to a bus (the gateway's
// WebSocket endpoint by default). SIGTERM drains it: it finishes what it has and takes nothing new.
import { createBus } from '../bus/index.js';
import { createBackend } from '../llm/backends/index.js';
import { createWorker } from '../llm/worker/worker.js';
import { ConfigError } from '../protocol/index.js';
import { parse, type Options } from './args.js';
import { logTransportStatus, OBSERVE_HELP, OBSERVE_OPTIONS, observe } from './observe.js';
import { openTransport, untilSignal } from './runtime.js';

export const WORKER_HELP = `Usage: llmwire worker [options]

Runs one worker: a backend on the bus, announced by heartbeat, with a concurrency limit.

Options (each also as an environment variable, e.g. LLMWIRE_CONNECT):
  --connect URL       bus to join (default ws://127.0.0.1:8787/v1/bus)
  --token KEY         API key for the bus endpoint, when the gateway requires one
  --backend KIND      sim (default), openai, llama-cpp
  --model NAME        model name(s) served, comma-separated (sim default: sim)
  --upstream URL      openai backend: the upstream base URL (e.g. http://127.0.0.1:8000/v1)
  --model-path FILE   llama-cpp backend: the GGUF file
  --concurrency N     requests at once (default 16)
  --id ID             worker id (default random)
  --sim-ttft-ms N     sim: time to first token (default 20)
  --sim-itl-ms N      sim: time between tokens (default 10)
  --sim-crash-after-tokens N  sim: fail after N tokens (failure injection for failover drills)
  --sim-crash-mode M  how it fails: exit (SIGKILL this process) or throw (default throw)
  --heartbeat-ms N    heartbeat period (default 1000; the gateway drops a worker after 3 missed)
  --drain-timeout-ms N  how long SIGTERM waits for running requests (default 30000)
${OBSERVE_HELP}  -h, --help          show this help
`;

const OPTIONS: Options = {
  connect: { type: 'string' },
  token: { type: 'string' },
  backend: { type: 'string' },
  model: { type: 'string' },
  upstream: { type: 'string' },
  'model-path': { type: 'string' },
  concurrency: { type: 'string' },
  id: { type: 'string' },
  'sim-ttft-ms': { type: 'string' },
  'sim-itl-ms': { type: 'string' },
  'sim-crash-after-tokens': { type: 'string' },
  'sim-crash-mode': { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'drain-timeout-ms': { type: 'string' },
  ...OBSERVE_OPTIONS,
  help: { type: 'boolean', short: 'h' },
};

function positiveInt(
  flag: string,
  value: string | boolean | undefined,
  fallback: number,
  min = 1,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min) {
    throw new ConfigError(`--${flag} must be an integer >= ${min}, got '${String(value)}'`);
  }
  return n;
}

export async function worker(args: string[], out: (line: string) => void): Promise<number> {
  const flags = parse('worker', args, OPTIONS);
  if (flags.help === true) {
    out(WORKER_HELP);
    return 0;
  }
  const obs = observe(flags, 'llmwire-worker');
  const kind = typeof flags.backend === 'string' ? flags.backend : 'sim';
  const spec: Record<string, unknown> = { kind };
  if (typeof flags.model === 'string')
    spec.models = flags.model
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean);
  if (typeof flags.upstream === 'string') spec.baseURL = flags.upstream;
  if (typeof flags['model-path'] === 'string') spec.modelPath = flags['model-path'];
  if (kind === 'sim') {
    spec.models ??= ['sim'];
    spec.ttftMs = positiveInt('sim-ttft-ms', flags['sim-ttft-ms'], 20, 0);
    spec.itlMs = positiveInt('sim-itl-ms', flags['sim-itl-ms'], 10, 0);
    if (flags['sim-crash-after-tokens'] !== undefined) {
      const mode = flags['sim-crash-mode'] ?? 'throw';
      if (mode !== 'exit' && mode !== 'throw') {
        throw new ConfigError(`--sim-crash-mode must be 'exit' or 'throw', got '${String(mode)}'`);
      }
      spec.failure = {
        crashAfterTokens: positiveInt(
          'sim-crash-after-tokens',
          flags['sim-crash-after-tokens'],
          0,
          0,
        ),
        mode,
      };
    }
  }
  const backend = await createBackend(spec);
  const url = typeof flags.connect === 'string' ? flags.connect : 'ws://127.0.0.1:8787/v1/bus';
  const transport = await openTransport(url, {
    dataDir: '.llmwire',
    token: flags.token as string | undefined,
  });
  logTransportStatus(transport, obs.logger);
  const bus = createBus({
    transport,
    source: 'llmwire-worker',
    onError: (err, where) => obs.logger.error({ ...where, reason: String(err) }, 'bus error'),
  });
  await bus.ready;
  const w = createWorker({
    bus,
    backend,
    concurrency: positiveInt('concurrency', flags.concurrency, 16),
    heartbeatMs: positiveInt('heartbeat-ms', flags['heartbeat-ms'], 1000, 10),
    logger: obs.logger,
    ...(obs.tracer === undefined ? {} : { tracer: obs.tracer }),
    ...(typeof flags.id === 'string' ? { id: flags.id } : {}),
  });
  await w.start();
  out(
    `llmwire worker ${w.id}: ${backend.kind} serving ${backend.models().join(', ')} via ${url} (concurrency ${w.concurrency})`,
  );
  const signal = await untilSignal();
  out(`${signal}: draining (${w.stats.inflight} in flight)`);
  await w.drain(positiveInt('drain-timeout-ms', flags['drain-timeout-ms'], 30_000));
  out(
    `stopped: ${w.stats.completed} completed, ${w.stats.failed} failed, ${w.stats.cancelled} cancelled`,
  );
  await bus.close();
  await transport.close();
  await obs.shutdown();
  return 0;
}
