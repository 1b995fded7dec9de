// OpenTelemetry span export, set up only when the standard OTEL_* environment variables ask for
// it (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/). The
// provider is returned, never registered globally: components are handed its tracer. The SDK
// and exporter packages are optional peers, loaded only when export is switched on.
import { createRequire } from 'node:module';
import type { Tracer } from '@opentelemetry/api';
import type * as OtlpExporter from '@opentelemetry/exporter-trace-otlp-http';
import type * as Resources from '@opentelemetry/resources';
import type * as SdkTraceNode from '@opentelemetry/sdk-trace-node';
import { ConfigError, MissingPackageError } from '../protocol/index.js';

const require = createRequire(import.meta.url);

/** Loads an optional package (synchronously: setupTracing is); a MissingPackageError names it. */
function load<T>(name: string): T {
  try {
    require.resolve(name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new MissingPackageError(name, 'OpenTelemetry span export (OTEL_* settings)', {
      cause: err,
    });
  }
  return require(name) as T;
}

export interface TracingSetup {
  /** The tracer to hand to the gateway and workers; undefined when export is off. */
  readonly tracer: Tracer | undefined;
  /** Where spans go (the OTLP/HTTP traces URL), when export is on. */
  readonly endpoint: string | undefined;
  /** Sends the spans still buffered and stops the provider. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Used when OTEL_SERVICE_NAME is not set, e.g. 'llmwire-gateway'. */
  serviceName: string;
  /** Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** One line per configuration problem that does not stop the process. */
  warn?: (message: string) => void;
}

const OFF: TracingSetup = { tracer: undefined, endpoint: undefined, shutdown: async () => {} };

function setting(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/** The OTLP/HTTP traces URL the environment names (signal-specific URL used as is). */
export function tracesEndpoint(env: NodeJS.ProcessEnv): string | undefined {
  const specific = setting(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (specific !== undefined) return specific;
  const base = setting(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (base === undefined) return undefined;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Reads the environment: export is on when OTEL_TRACES_EXPORTER is `otlp`, or when it is unset
 * and an OTLP endpoint is given; OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turns it
 * off. Only OTLP over HTTP with JSON bodies is built in: `http/protobuf` and `grpc` fall back
 * to it with one warning.
 */
export function setupTracing(options: TracingOptions): TracingSetup {
  const env = options.env ?? process.env;
  const warn = options.warn ?? ((m: string) => process.stderr.write(`llmwire: ${m}\n`));
  if (setting(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return OFF;
  const exporters = (setting(env, 'OTEL_TRACES_EXPORTER') ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (exporters.includes('none')) return OFF;
  for (const e of exporters) {
    if (e !== 'otlp') warn(`OTEL_TRACES_EXPORTER '${e}' is not supported; only 'otlp' is`);
  }
  const endpoint = tracesEndpoint(env) ?? 'http://localhost:4318/v1/traces';
  const wanted = exporters.includes('otlp') || (exporters.length === 0 && tracesEndpoint(env));
  if (!wanted) return OFF;
  if (!URL.canParse(endpoint) || !/^https?:/.test(endpoint)) {
    throw new ConfigError(
      `OTLP traces endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`,
    );
  }
  const protocol =
    setting(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ??
    setting(env, 'OTEL_EXPORTER_OTLP_PROTOCOL');
  if (protocol !== undefined && protocol !== 'http/json') {
    warn(`OTLP protocol '${protocol}' is not built in; exporting spans as http/json`);
  }
  const { OTLPTraceExporter } = load<typeof OtlpExporter>(
    '@opentelemetry/exporter-trace-otlp-http',
  );
  const { resourceFromAttributes } = load<typeof Resources>('@opentelemetry/resources');
  const { BatchSpanProcessor, NodeTracerProvider } = load<typeof SdkTraceNode>(
    '@opentelemetry/sdk-trace-node',
  );
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': setting(env, 'OTEL_SERVICE_NAME') ?? options.serviceName,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }))],
  });
  return {
    tracer: provider.getTracer('llmwire'),
    endpoint,
    shutdown: () => provider.shutdown(),
  };
}
