// `llmwire worker`: one worker process hosting one backend, joined to a bus (the gateway's
// WebSocket endpoint by default). SIGTERM drains it: it finishes what it has and takes nothing new.
import { createBus } from '../bus/index.js';
import { validateNamespace } from '../llm/subjects.js';
import { createWorker } from '../llm/worker/worker.js';
import { maskCredentials, serveMetrics, WorkerMetrics, type MetricsServer } from '../ops/index.js';
import { ConfigError } from '../protocol/index.js';
import { isValidSubject } from '../transport/subject.js';
import { intFlag, parse, type Options } from './args.js';
import { startBackend } from './backend.js';
import { DEFAULT_CONFIG, mergeConfig, readConfigFile, validateConfig } from './config.js';
import { busSecurity } from './crypto.js';
import { logTransportStatus, OBSERVE_HELP, OBSERVE_OPTIONS, observe } from './observe.js';
import { connectService, SERVICE_CONNECT_TIMEOUT_MS } from './connect.js';
import { untilSignal } from './runtime.js';
import { BROKER_HELP, BROKER_OPTIONS, brokerFromFlags } from './tls.js';

export const WORKER_HELP = `Usage: llmwire worker [options]

Runs one worker: a backend on the bus, announced by heartbeat, with a concurrency limit.

Options (each also as an environment variable, e.g. LLMWIRE_CONNECT):
  --connect URL       bus to join (default ws://127.0.0.1:8787/v1/bus): a gateway's endpoint
                      ws://HOST:PORT/v1/bus or wss://, or a broker: nats://HOST:4222,
                      redis://HOST:6379, amqp://USER:PASS@HOST:5672 (as the gateway's --transport)
  --connect-timeout-ms N  how long to keep trying to reach it at start (default 30000), then
                      exit 3
  --token KEY         API key for the bus endpoint, when the gateway requires one
  --backend KIND      sim (default), openai, llama-cpp
  --model NAME        model name(s) served, comma-separated (sim default: sim)
  --upstream URL      openai backend: the upstream base URL (e.g. http://127.0.0.1:8000/v1)
  --model-path FILE   llama-cpp backend: the GGUF file
  --params-hook URL   openai backend: where to POST each pushed weights or adapter version to
                      load (llmwire params push); without it the worker takes no rollouts
  --concurrency N     requests at once (default 16)
  --id ID             worker id (default: the name of its worker credential, else random)
  --namespace NAME    join the gateways of this namespace (subjects NAME.llm.*)
  --inbox-prefix P    root of its reply subjects (default _INBOX); on NATS with
                      'llmwire nats-config' users: _INBOX.<its NATS user>
  --sim-ttft-ms N     sim: time to first token (default 20)
  --sim-itl-ms N      sim: time between tokens (default 10)
  --sim-crash-after-tokens N  sim: fail after N tokens (failure injection for failover drills)
  --sim-crash-mode M  how it fails: exit (SIGKILL this process) or throw (default throw)
  --params-dir DIR    where pushed weights and adapters are downloaded (llmwire params push;
                      default <tmpdir>/llmwire-params/<id>); kept across restarts to resume
  --no-params         take no params rollouts
  --heartbeat-ms N    heartbeat period (default 1000; the gateway drops a worker after 3 missed)
  --drain-timeout-ms N  how long SIGTERM waits for running requests (default 30000)
  --metrics-port N    serve Prometheus metrics at http://127.0.0.1:N/metrics (0: a free port)
  --metrics-host ADDR address of the metrics server (default 127.0.0.1)
  --config FILE       YAML or JSON configuration, the format of 'llmwire up': its crypto
                      section (signing, encryption, integrity keys) is used
  --coalesce-ms N     send tokens produced within N ms of each other as one message to
                      readers that accept it (0-1000; default 0: only tokens produced in
                      the same event-loop turn go together, which delays none)
${BROKER_HELP}${OBSERVE_HELP}  -h, --help          show this help
`;

const OPTIONS: Options = {
  connect: { type: 'string' },
  'connect-timeout-ms': { type: 'string' },
  token: { type: 'string' },
  backend: { type: 'string' },
  model: { type: 'string' },
  upstream: { type: 'string' },
  'model-path': { type: 'string' },
  'params-hook': { type: 'string' },
  concurrency: { type: 'string' },
  id: { type: 'string' },
  namespace: { type: 'string' },
  'inbox-prefix': { type: 'string' },
  'sim-ttft-ms': { type: 'string' },
  'sim-itl-ms': { type: 'string' },
  'sim-crash-after-tokens': { type: 'string' },
  'sim-crash-mode': { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'params-dir': { type: 'string' },
  'no-params': { type: 'boolean' },
  'drain-timeout-ms': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  'coalesce-ms': { type: 'string' },
  config: { type: 'string' },
  ...BROKER_OPTIONS,
  ...OBSERVE_OPTIONS,
  help: { type: 'boolean', short: 'h' },
};

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
      : intFlag('metrics-port', flags['metrics-port'], 0, 0, 65_535);
  // The whole file is checked (a typo anywhere fails at once); the worker uses its crypto keys.
  const security =
    typeof flags.config === 'string'
      ? busSecurity(
          validateConfig(mergeConfig(DEFAULT_CONFIG, readConfigFile(flags.config)), flags.config)
            .crypto,
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
  if (typeof flags['params-hook'] === 'string') spec.paramsHook = flags['params-hook'];
  if (kind === 'sim') {
    spec.models ??= ['sim'];
    spec.ttftMs = intFlag('sim-ttft-ms', flags['sim-ttft-ms'], 20, 0);
    spec.itlMs = intFlag('sim-itl-ms', flags['sim-itl-ms'], 10, 0);
    if (flags['sim-crash-after-tokens'] !== undefined) {
      const mode = flags['sim-crash-mode'] ?? 'throw';
      if (mode !== 'exit' && mode !== 'throw') {
        throw new ConfigError(`--sim-crash-mode must be 'exit' or 'throw', got '${String(mode)}'`);
      }
      spec.failure = {
        crashAfterTokens: intFlag('sim-crash-after-tokens', flags['sim-crash-after-tokens'], 0, 0),
        mode,
      };
    }
  }
  const coalesceMs = intFlag('coalesce-ms', flags['coalesce-ms'], 0, 0, 1000);
  const concurrency = intFlag('concurrency', flags.concurrency, 16);
  const heartbeatMs = intFlag('heartbeat-ms', flags['heartbeat-ms'], 1000, 10);
  const drainTimeoutMs = intFlag('drain-timeout-ms', flags['drain-timeout-ms'], 30_000);
  const connectTimeoutMs = intFlag(
    'connect-timeout-ms',
    flags['connect-timeout-ms'],
    SERVICE_CONNECT_TIMEOUT_MS,
  );
  const backend = await startBackend(spec, { baseURL: '--upstream URL' });
  const url = typeof flags.connect === 'string' ? flags.connect : 'ws://127.0.0.1:8787/v1/bus';
  const inboxPrefix = flags['inbox-prefix'];
  if (
    inboxPrefix !== undefined &&
    (typeof inboxPrefix !== 'string' || !isValidSubject(inboxPrefix))
  ) {
    throw new ConfigError(`--inbox-prefix must be a subject, got '${String(inboxPrefix)}'`);
  }
  const inbox = inboxPrefix === undefined ? {} : { inboxPrefix };
  const transport = await connectService(
    url,
    {
      dataDir: '.llmwire',
      token: flags.token as string | undefined,
      broker,
      ...inbox,
      timeoutMs: connectTimeoutMs,
      watch: (t) => logTransportStatus(t, obs.logger),
    },
    (line) => process.stderr.write(`${line}\n`),
  );
  const bus = createBus({
    transport,
    ...inbox,
    source: 'llmwire-worker',
    ...(security === undefined ? {} : { security }),
    coalesce: { maxDelayMs: coalesceMs },
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
    concurrency,
    heartbeatMs,
    logger: obs.logger,
    ...(obs.tracer === undefined ? {} : { tracer: obs.tracer }),
    ...(typeof flags.id === 'string' ? { id: flags.id } : defaultId(transport)),
    ...(namespace === undefined ? {} : { namespace }),
    ...(flags['no-params'] === true
      ? { params: false as const }
      : typeof flags['params-dir'] === 'string'
        ? { params: { dir: flags['params-dir'] } }
        : {}),
  });
  await w.start();
  if (metricsServer !== undefined) out(`metrics ${metricsServer.url}/metrics`);
  out(
    `llmwire worker ${w.id}: ${backend.kind} serving ${backend.models().join(', ')} via ${url} (concurrency ${w.concurrency}${namespace === undefined ? '' : `, namespace ${namespace}`})`,
  );
  const signal = await untilSignal();
  out(`${signal}: draining (${w.stats.inflight} in flight)`);
  await w.drain(drainTimeoutMs);
  out(
    `stopped: ${w.stats.completed} completed, ${w.stats.failed} failed, ${w.stats.cancelled} cancelled`,
  );
  await metricsServer?.close();
  await bus.close();
  await transport.close();
  await obs.shutdown();
  return 0;
}
