// `llmwire worker`: one worker process hosting one backend, joined to a bus (the gateway's
// WebSocket endpoint by default). SIGTERM drains it: it finishes what it has and takes nothing new.
import { createBus } from '../bus/index.js';
import { createBackend } from '../llm/backends/index.js';
import { validateNamespace } from '../llm/subjects.js';
import { createWorker } from '../llm/worker/worker.js';
import { maskCredentials, serveMetrics, WorkerMetrics, type MetricsServer } from '../ops/index.js';
import { ConfigError } from '../protocol/index.js';
import { isValidSubject } from '../transport/subject.js';
import { parse, type Options } from './args.js';
import { DEFAULT_CONFIG, merge, readConfigFile, validateConfig } from './config.js';
import { busSecurity } from './crypto.js';
import { logTransportStatus, OBSERVE_HELP, OBSERVE_OPTIONS, observe } from './observe.js';
import { openTransport, untilSignal } from './runtime.js';
import { BROKER_HELP, BROKER_OPTIONS, brokerFromFlags } from './tls.js';

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
  --id ID             worker id (default: the name of its worker credential, else random)
  --namespace NAME    join the gateways of this namespace (subjects NAME.llm.*)
  --inbox-prefix P    root of its reply subjects (default _INBOX); on NATS with
                      'llmwire nats-config' users: _INBOX.<its NATS user>
  --sim-ttft-ms N     sim: time to first token (default 20)
  --sim-itl-ms N      sim: time between tokens (default 10)
  --sim-crash-after-tokens N  sim: fail after N tokens (failure injection for failover drills)
  --sim-crash-mode M  how it fails: exit (SIGKILL this process) or throw (default throw)
  --heartbeat-ms N    heartbeat period (default 1000; the gateway drops a worker after 3 missed)
  --drain-timeout-ms N  how long SIGTERM waits for running requests (default 30000)
  --metrics-port N    serve Prometheus metrics at http://127.0.0.1:N/metrics (0: a free port)
  --metrics-host ADDR address of the metrics server (default 127.0.0.1)
  --config FILE       YAML or JSON configuration, the format of 'llmwire up': its crypto
                      section (signing, encryption, integrity keys) is used
  --coalesce-ms N     send tokens produced within N ms of each other as one message to
                      readers that accept it (1-1000; default 0: one message per token)
${BROKER_HELP}${OBSERVE_HELP}  -h, --help          show this help
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
  namespace: { type: 'string' },
  'inbox-prefix': { type: 'string' },
  'sim-ttft-ms': { type: 'string' },
  'sim-itl-ms': { type: 'string' },
  'sim-crash-after-tokens': { type: 'string' },
  'sim-crash-mode': { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'drain-timeout-ms': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  'coalesce-ms': { type: 'string' },
  config: { type: 'string' },
  ...BROKER_OPTIONS,
  ...OBSERVE_OPTIONS,
  help: { type: 'boolean', short: 'h' },
};

function positiveInt(
  flag: string,
  value: string | boolean | undefined,
  fallback: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(`--${flag} must be an integer ${range}, got '${String(value)}'`);
  }
  return n;
}

/**
 * Without --id, a worker that joined with a worker credential takes the credential's name: the
 * id its heartbeats may carry (docs/security.md). Otherwise the worker picks a random one.
 */
function defaultId(transport: { identity?: { name: string; role: string } | undefined }) {
  const identity = transport.identity;
  return identity?.role === 'worker' ? { id: identity.name } : {};
}

export async function worker(args: string[], out: (line: string) => void): Promise<number> {
  const flags = parse('worker', args, OPTIONS);
  if (flags.help === true) {
    out(WORKER_HELP);
    return 0;
  }
  const namespace =
    typeof flags.namespace === 'string' ? validateNamespace(flags.namespace) : undefined;
  // Checked before anything connects, so a typo fails at once.
  const metricsPort =
    flags['metrics-port'] === undefined
      ? undefined
      : positiveInt('metrics-port', flags['metrics-port'], 0, 0, 65_535);
  // The whole file is checked (a typo anywhere fails at once); the worker uses its crypto keys.
  const security =
    typeof flags.config === 'string'
      ? busSecurity(
          validateConfig(merge(DEFAULT_CONFIG, readConfigFile(flags.config)), flags.config).crypto,
        )
      : undefined;
  const broker = brokerFromFlags(flags);
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
  const coalesceMs = positiveInt('coalesce-ms', flags['coalesce-ms'], 0, 0);
  if (coalesceMs > 1000) {
    throw new ConfigError(`--coalesce-ms must be at most 1000, got '${coalesceMs}'`);
  }
  const backend = await createBackend(spec);
  const url = typeof flags.connect === 'string' ? flags.connect : 'ws://127.0.0.1:8787/v1/bus';
  const inboxPrefix = flags['inbox-prefix'];
  if (
    inboxPrefix !== undefined &&
    (typeof inboxPrefix !== 'string' || !isValidSubject(inboxPrefix))
  ) {
    throw new ConfigError(`--inbox-prefix must be a subject, got '${String(inboxPrefix)}'`);
  }
  const inbox = inboxPrefix === undefined ? {} : { inboxPrefix };
  const transport = await openTransport(
    url,
    { dataDir: '.llmwire', token: flags.token as string | undefined, broker, ...inbox },
    (t) => logTransportStatus(t, obs.logger),
  );
  const bus = createBus({
    transport,
    ...inbox,
    source: 'llmwire-worker',
    ...(security === undefined ? {} : { security }),
    ...(coalesceMs > 0 ? { coalesce: { maxDelayMs: coalesceMs } } : {}),
    onError: (err, where) =>
      obs.logger.error({ ...where, reason: maskCredentials(String(err)) }, 'bus error'),
  });
  await bus.ready;
  const metrics = metricsPort === undefined ? undefined : new WorkerMetrics();
  let metricsServer: MetricsServer | undefined;
  if (metrics !== undefined && metricsPort !== undefined) {
    metricsServer = await serveMetrics({
      registry: metrics.registry,
      port: metricsPort,
      host: typeof flags['metrics-host'] === 'string' ? flags['metrics-host'] : '127.0.0.1',
    });
  }
  const w = createWorker({
    ...(metrics === undefined ? {} : { observer: metrics }),
    bus,
    backend,
    concurrency: positiveInt('concurrency', flags.concurrency, 16),
    heartbeatMs: positiveInt('heartbeat-ms', flags['heartbeat-ms'], 1000, 10),
    logger: obs.logger,
    ...(obs.tracer === undefined ? {} : { tracer: obs.tracer }),
    ...(typeof flags.id === 'string' ? { id: flags.id } : defaultId(transport)),
    ...(namespace === undefined ? {} : { namespace }),
  });
  await w.start();
  if (metricsServer !== undefined) out(`metrics ${metricsServer.url}/metrics`);
  out(
    `llmwire worker ${w.id}: ${backend.kind} serving ${backend.models().join(', ')} via ${url} (concurrency ${w.concurrency}${namespace === undefined ? '' : `, namespace ${namespace}`})`,
  );
  const signal = await untilSignal();
  out(`${signal}: draining (${w.stats.inflight} in flight)`);
  await w.drain(positiveInt('drain-timeout-ms', flags['drain-timeout-ms'], 30_000));
  out(
    `stopped: ${w.stats.completed} completed, ${w.stats.failed} failed, ${w.stats.cancelled} cancelled`,
  );
  await metricsServer?.close();
  await bus.close();
  await transport.close();
  await obs.shutdown();
  return 0;
}
