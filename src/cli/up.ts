// `llmwire up`: the whole path in one process — the bus (SQLite journal by default), the
// OpenAI-compatible gateway with its WebSocket bus endpoint, and simulated workers.
import { createBus, serveBlobs } from '../bus/index.js';
import type { Backend } from '../llm/backends/backend.js';
import { createGateway } from '../llm/gateway/server.js';
import { createParamsService } from '../llm/params/service.js';
import { validateNamespace } from '../llm/subjects.js';
import { peerIdentity } from '../llm/security/roles.js';
import { createWorker, type Worker } from '../llm/worker/worker.js';
import { maskCredentials, WorkerMetrics } from '../ops/index.js';
import { ConfigError } from '../protocol/index.js';
import { isValidSubject } from '../transport/subject.js';
import { createBusHub } from '../transport/ws/index.js';
import { intFlag, parse, type Options } from './args.js';
import { startBackend } from './backend.js';
import {
  DEFAULT_CONFIG,
  merge,
  mergeConfig,
  readConfigFile,
  validateConfig,
  type Config,
} from './config.js';
import { identityTable } from './identities.js';
import { busSecurity } from './crypto.js';
import { logTransportStatus, OBSERVE_HELP, OBSERVE_OPTIONS, observe } from './observe.js';
import { connectService, SERVICE_CONNECT_TIMEOUT_MS } from './connect.js';
import { responseStore, untilSignal } from './runtime.js';
import { batchStoreName } from '../llm/gateway/batches/index.js';
import { readBroker, readServerTls } from './tls.js';

/** The --transport and --connect-timeout-ms lines, the same for `up` and `gateway`. */
const TRANSPORT_HELP = `  --transport T     sqlite (default: durable journal in the data dir), memory, or a broker
                    shared with other processes: nats://HOST:4222 (several comma-separated),
                    redis://HOST:6379, amqp://USER:PASS@HOST:5672 (rediss://, amqps://, tls://
                    with TLS), or another process's bus ws://HOST:PORT/v1/bus
  --connect-timeout-ms N  how long to keep trying to reach a broker at start (default 30000),
                    then exit 3`;

export const UP_HELP = `Usage: llmwire up [options]

Runs llmwire in this process: the bus, the OpenAI-compatible gateway (with the WebSocket bus
endpoint at /v1/bus for workers in other processes) and simulated workers.

Options (each also as an environment variable, e.g. LLMWIRE_PORT):
  --port N          gateway port (default 8787)
  --host ADDR       gateway address (default 127.0.0.1; others need API keys in the config)
  --workers N       in-process workers (default 2)
  --backend KIND    backend of the in-process workers: sim (default), openai, llama-cpp
${TRANSPORT_HELP}
  --data-dir DIR    where the journal lives (default .llmwire)
  --namespace NAME  LLM subjects become NAME.llm.* (share a broker with other deployments)
  --inbox-prefix P  root of this process's reply subjects (default _INBOX); on NATS with
                    'llmwire nats-config' users: _INBOX.<its NATS user>
  --config FILE     YAML or JSON configuration (flags win over it); HTTPS and wss:// with
                    gateway.tls, broker credentials and TLS with broker (docs/deploy.md)
  --once            start, print what runs, and exit
${OBSERVE_HELP}  -h, --help        show this help
`;

const OPTIONS: Options = {
  port: { type: 'string' },
  host: { type: 'string' },
  workers: { type: 'string' },
  backend: { type: 'string' },
  transport: { type: 'string' },
  'connect-timeout-ms': { type: 'string' },
  'data-dir': { type: 'string' },
  namespace: { type: 'string' },
  'inbox-prefix': { type: 'string' },
  config: { type: 'string' },
  once: { type: 'boolean' },
  ...OBSERVE_OPTIONS,
  help: { type: 'boolean', short: 'h' },
};

/** A flag as a number when it is one; otherwise as typed, for the schema check to name. */
function int(value: string | boolean | undefined): number | string | boolean | undefined {
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
}

export function upConfig(flags: Record<string, string | boolean | undefined>): Config {
  let config: Config = DEFAULT_CONFIG;
  if (typeof flags.config === 'string') config = mergeConfig(config, readConfigFile(flags.config));
  const overrides = {
    transport: flags.transport,
    dataDir: flags['data-dir'],
    namespace: flags.namespace,
    inboxPrefix: flags['inbox-prefix'],
    gateway: { host: flags.host, port: int(flags.port) },
    workers: { count: int(flags.workers) },
  };
  const merged = merge(config, overrides);
  // A backend named on the command line replaces the configured one rather than merging into
  // it: the options of one backend mean nothing to another.
  if (typeof flags.backend === 'string' && flags.backend !== merged.workers.backend.kind) {
    merged.workers = { ...merged.workers, backend: { kind: flags.backend } };
  }
  const valid = validateConfig(merged, typeof flags.config === 'string' ? flags.config : 'flags');
  if (valid.namespace !== undefined) validateNamespace(valid.namespace);
  if (valid.inboxPrefix !== undefined && !isValidSubject(valid.inboxPrefix)) {
    throw new ConfigError(`inboxPrefix '${valid.inboxPrefix}' is not a subject`);
  }
  return valid;
}

export const GATEWAY_HELP = `Usage: llmwire gateway [options]

Runs the bus and the OpenAI-compatible gateway with no workers of its own: workers join from
other processes through the WebSocket bus endpoint (llmwire worker --connect ws://HOST:PORT/v1/bus).

Options (each also as an environment variable, e.g. LLMWIRE_PORT):
  --port N          gateway port (default 8787)
  --host ADDR       gateway address (default 127.0.0.1; others need API keys in the config)
${TRANSPORT_HELP}
  --data-dir DIR    where the journal lives (default .llmwire)
  --namespace NAME  serve only workers started with the same --namespace (subjects NAME.llm.*)
  --inbox-prefix P  root of this process's reply subjects (default _INBOX); on NATS with
                    'llmwire nats-config' users: _INBOX.<its NATS user>, e.g. _INBOX.gateway
  --config FILE     YAML or JSON configuration (flags win over it; workers.count is ignored)
  --once            start, print what runs, and exit
${OBSERVE_HELP}  -h, --help        show this help
`;

const GATEWAY_OPTIONS: Options = Object.fromEntries(
  Object.entries(OPTIONS).filter(([name]) => name !== 'workers' && name !== 'backend'),
);

export async function gateway(args: string[], out: (line: string) => void): Promise<number> {
  const flags = parse('gateway', args, GATEWAY_OPTIONS);
  if (flags.help === true) {
    out(GATEWAY_HELP);
    return 0;
  }
  return run('gateway', { ...flags, workers: '0' }, out);
}

export async function up(args: string[], out: (line: string) => void): Promise<number> {
  const flags = parse('up', args, OPTIONS);
  if (flags.help === true) {
    out(UP_HELP);
    return 0;
  }
  return run('up', flags, out);
}

async function run(
  command: 'up' | 'gateway',
  flags: Record<string, string | boolean | undefined>,
  out: (line: string) => void,
): Promise<number> {
  const config = upConfig(flags);
  const connectTimeoutMs = intFlag(
    'connect-timeout-ms',
    flags['connect-timeout-ms'],
    SERVICE_CONNECT_TIMEOUT_MS,
  );
  // Keys are read before anything starts, so a missing key file fails at once.
  const security = busSecurity(config.crypto);
  // Certificates and broker secrets are read before anything starts: a bad file fails at once.
  const tlsConfig = config.gateway.tls;
  const tls = tlsConfig === undefined ? undefined : readServerTls(tlsConfig, 'gateway.tls');
  const broker = config.broker === undefined ? undefined : readBroker(config.broker);
  const obs = observe(flags, command === 'up' ? 'llmwire' : 'llmwire-gateway');
  // What is started is stopped again, last first, when a later step fails: a process that
  // cannot run its workers exits with the error rather than serving without them.
  const started: (() => Promise<void>)[] = [() => obs.shutdown()];
  const stopAll = async () => {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
  };
  try {
    return await serve(
      command,
      flags,
      config,
      { security, tls, broker, obs, connectTimeoutMs },
      started,
      out,
    );
  } catch (err) {
    await stopAll();
    throw err;
  }
}

interface Prepared {
  security: ReturnType<typeof busSecurity>;
  tls: ReturnType<typeof readServerTls> | undefined;
  broker: ReturnType<typeof readBroker> | undefined;
  obs: ReturnType<typeof observe>;
  connectTimeoutMs: number;
}

async function serve(
  command: 'up' | 'gateway',
  flags: Record<string, string | boolean | undefined>,
  config: Config,
  { security, tls, broker, obs, connectTimeoutMs }: Prepared,
  started: (() => Promise<void>)[],
  out: (line: string) => void,
): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the files, read into `tls`
  const { tls: tlsFiles, ...gatewayConfig } = config.gateway;
  // Backends first: one that cannot start (a bad option, an upstream that does not answer)
  // stops the command before it listens.
  const backends: Backend[] = [];
  for (let i = 0; i < config.workers.count; i++) {
    const backend = await startBackend(config.workers.backend, {
      baseURL: 'workers.backend.baseURL (and optionally models) in a --config file',
    });
    backends.push(backend);
    if (backend.close !== undefined) started.push(() => backend.close!());
  }
  const inbox = config.inboxPrefix === undefined ? {} : { inboxPrefix: config.inboxPrefix };
  const transport = await connectService(
    config.transport,
    {
      dataDir: config.dataDir,
      broker,
      ...inbox,
      timeoutMs: connectTimeoutMs,
      watch: (t) => logTransportStatus(t, obs.logger),
    },
    (line) => process.stderr.write(`${line}\n`),
  );
  started.push(() => transport.close());
  const bus = createBus({
    transport,
    ...inbox,
    source: 'llmwire-up',
    ...(security === undefined ? {} : { security }),
    onError: (err, where) =>
      obs.logger.error({ ...where, reason: maskCredentials(String(err)) }, 'bus error'),
  });
  started.push(() => bus.close());
  await bus.ready;
  // Its blob store, for peers whose transport keeps none (workers and `llmwire blob` over /v1/bus).
  const blobStore = transport.blobs?.();
  const blobService = blobStore === undefined ? undefined : serveBlobs(bus, blobStore);
  if (blobService !== undefined) {
    started.push(() => Promise.resolve(blobService.close()));
    await blobService.ready;
  }
  const namespace = config.namespace === undefined ? {} : { namespace: config.namespace };
  const identities = identityTable(config);
  const responses = await responseStore(transport, config.dataDir, config.namespace);
  started.push(() => responses.close());
  const gateway = createGateway({
    bus,
    responseStore: responses.records,
    // Batches resume after a restart where the transport keeps records (not on RabbitMQ).
    ...(transport.records === undefined
      ? {}
      : { batchStore: transport.records(batchStoreName(config.namespace)) }),
    ...gatewayConfig,
    identities,
    ...(tls === undefined ? {} : { tls }),
    ...namespace,
    ...obs.options,
  });
  started.push(() => gateway.close());
  // Params rollouts (llmwire params push): records kept on the transport's record store.
  // A broker user without its subjects (an older nats-config) serves without it.
  const params = createParamsService({ bus, ...namespace });
  await params.start().catch((err: unknown) => {
    params.stop();
    obs.logger.warn({ reason: maskCredentials(String(err)) }, 'params rollouts: service off');
  });
  started.push(async () => params.stop());
  const hub = createBusHub(transport, {
    server: gateway.server,
    allowedOrigins: config.gateway.cors?.origins ?? [],
    ...config.hub,
    // No credentials configured: the loopback-only open mode, every local peer unrestricted.
    ...(identities.empty
      ? {}
      : {
          authenticate: (token: string | undefined) => {
            const identity = identities.lookup(token);
            return identity === undefined ? undefined : peerIdentity(identity, config.namespace);
          },
        }),
    onDenied: (e) => {
      obs.logger.warn(
        { peer: e.peer, identity: e.identity, role: e.role, action: e.action, target: e.target },
        `bus: refused: ${e.reason}`,
      );
      gateway.metrics?.deniedOnBus(e.identity, e.role, e.action);
    },
  });
  started.push(() => hub.close());
  const workers: Worker[] = [];
  // In-process workers report into the gateway's registry: one /metrics for the whole process.
  const workerMetrics =
    gateway.metrics === undefined
      ? undefined
      : new WorkerMetrics({ registry: gateway.metrics.registry });
  // Listening first: the registry then hears the workers' first heartbeats, so the gateway
  // serves as soon as 'ready' is printed.
  const url = await gateway.listen();
  for (const [i, backend] of backends.entries()) {
    const worker = createWorker({
      bus,
      backend,
      id: `local-${i + 1}`,
      ...(workerMetrics === undefined ? {} : { observer: workerMetrics }),
      concurrency: config.workers.concurrency,
      ...namespace,
      logger: obs.logger,
      ...(obs.tracer === undefined ? {} : { tracer: obs.tracer }),
      ...(config.workers.heartbeatMs === undefined
        ? {}
        : { heartbeatMs: config.workers.heartbeatMs }),
    });
    started.push(() => worker.drain(10_000));
    await worker.start();
    workers.push(worker);
  }
  out(`llmwire ${command} (pid ${process.pid})`);
  out(`  gateway     ${url}/v1  (OpenAI API; health ${url}/healthz)`);
  out(
    `  bus         ${transport.name}${config.transport === 'sqlite' ? ` journal in ${config.dataDir}/journal.db` : ''}; remote workers: ${url.replace(/^http/, 'ws')}/v1/bus`,
  );
  out(
    workers.length > 0
      ? `  workers     ${workers.map((w) => w.id).join(', ')} [${String(config.workers.backend.kind)}]`
      : '  workers     none here; start some with: llmwire worker --connect <the bus URL above>',
  );
  out(`  responses   stored in ${responses.where}`);
  out(
    `  blobs       ${blobStore === undefined ? 'none here' : `${blobStore.kind} store, served on the bus`}`,
  );
  out(`  routing     ${config.gateway.routing?.policy ?? 'least-outstanding'}`);
  if (config.crypto !== undefined) out(`  crypto      ${describeCrypto(config)}`);
  if (config.namespace !== undefined)
    out(`  namespace   ${config.namespace} (subjects ${config.namespace}.llm.*)`);
  if (gateway.metrics !== undefined) {
    out(
      `  metrics     ${url}/metrics${gateway.dashboard === undefined ? '' : `; dashboard ${url}/dashboard`}`,
    );
  }
  out(
    `  try         curl ${url}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"sim","messages":[{"role":"user","content":"hello"}],"stream":true}'`,
  );

  if (flags.once !== true) {
    out('ready; Ctrl-C to stop');
    await untilSignal();
    out('draining workers and closing');
  }
  await Promise.all(workers.map((w) => w.drain(10_000)));
  blobService?.close();
  await hub.close();
  await gateway.close();
  await bus.close();
  await transport.close();
  await obs.shutdown();
  return 0;
}

/** One line on what the `crypto` section switches on (no key material). */
export function describeCrypto(config: Pick<Config, 'crypto'>): string {
  const c = config.crypto;
  if (c === undefined) return 'off';
  const parts: string[] = [];
  if (c.integrity === true) parts.push('checksums');
  if (c.signing !== undefined) {
    parts.push(`signing (${c.signing.keys.map((k) => `${k.alg} ${k.kid}`).join(', ')})`);
  }
  if (c.encryption !== undefined) {
    parts.push(`encryption (A256GCM, current ${c.encryption.current})`);
  }
  return parts.length === 0 ? 'off' : parts.join('; ');
}
