// Configuration: a YAML or JSON file, then environment variables and flags on top, checked
// against one schema with one clear message per wrong field.
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../protocol/index.js';
import { BrokerSchema, ServerTlsSchema } from './tls.js';

const Policy = Type.Union([
  Type.Literal('round-robin'),
  Type.Literal('least-outstanding'),
  Type.Literal('power-of-two'),
  Type.Literal('session-affinity'),
  Type.Literal('prefix-affinity'),
]);

const TenantSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    models: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    requestsPerMinute: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    tokensPerMinute: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    weight: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    /** 'sqlite' (embedded, durable), 'memory', or a URL of a remote bus (ws://host:port/v1/bus). */
    transport: Type.String({ minLength: 1 }),
    dataDir: Type.String({ minLength: 1 }),
    /** Credentials and TLS for the broker `transport` names (nats, redis, amqp, wss). */
    broker: Type.Optional(BrokerSchema),
    /** Puts every LLM subject under `NAME.` so deployments can share a broker (llm/subjects.ts). */
    namespace: Type.Optional(Type.String()),
    gateway: Type.Object(
      {
        host: Type.String({ minLength: 1 }),
        port: Type.Integer({ minimum: 0, maximum: 65535 }),
        apiKeys: Type.Optional(Type.Record(Type.String({ minLength: 8 }), TenantSchema)),
        /** HTTPS for the API and wss:// for the bus endpoint; with `ca`, mutual TLS. */
        tls: Type.Optional(ServerTlsSchema),
        routing: Type.Optional(
          Type.Object(
            {
              policy: Type.Optional(Policy),
              models: Type.Optional(Type.Record(Type.String(), Policy)),
            },
            { additionalProperties: false },
          ),
        ),
        bodyLimitBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
        defaultTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
        maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
        /** Prometheus metrics at /metrics; default true. */
        metrics: Type.Optional(Type.Boolean()),
        /** The live dashboard at /dashboard (needs metrics); default true. */
        dashboard: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    workers: Type.Object(
      {
        count: Type.Integer({ minimum: 0, maximum: 256 }),
        concurrency: Type.Integer({ minimum: 1 }),
        heartbeatMs: Type.Optional(Type.Integer({ minimum: 10 })),
        backend: Type.Record(Type.String(), Type.Unknown()),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type Config = Static<typeof ConfigSchema>;

const check = TypeCompiler.Compile(ConfigSchema);

export const DEFAULT_CONFIG: Config = {
  transport: 'sqlite',
  dataDir: '.llmwire',
  gateway: { host: '127.0.0.1', port: 8787, metrics: true, dashboard: true },
  workers: {
    count: 2,
    concurrency: 64,
    backend: { kind: 'sim', models: ['sim'], ttftMs: 20, itlMs: 10 },
  },
};

/** Reads a config file (.yaml, .yml or .json). */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read config file ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    return path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (cause) {
    throw new ConfigError(
      `config file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges plain objects; arrays and scalars from `over` replace. */
export function merge<T>(base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = v === undefined ? out[k] : merge(out[k], v);
  return out as T;
}

/** Checks a whole config; the error lists every wrong field, one per line. */
export function validateConfig(value: unknown, source: string): Config {
  if (check.Check(value)) return value;
  const lines = [...check.Errors(value)]
    .slice(0, 20)
    .map((e) => `  ${e.path.replace(/^\//, '').replace(/\//g, '.') || '(root)'}: ${e.message}`);
  throw new ConfigError(`invalid configuration (${source}):\n${[...new Set(lines)].join('\n')}`);
}
