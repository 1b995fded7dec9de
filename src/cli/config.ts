// Configuration: a YAML or JSON file, then environment variables and flags on top, checked
// against one schema with one clear message per wrong field.
import { readFileSync } from 'node:fs';
import { BatchOptionsSchema } from '../llm/gateway/batches/index.js';
import { Type, type Static } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../protocol/index.js';
import { optionsCheck } from '../protocol/options.js';
import { SecretSchema } from './secrets.js';
import { CryptoSchema } from './crypto.js';
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

const Patterns = Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { maxItems: 1024 });
const PermissionSchema = Type.Object(
  { allow: Type.Optional(Patterns), deny: Type.Optional(Patterns) },
  { additionalProperties: false },
);
/** One token of a subject: identity names appear in sources, inboxes and NATS user names. */
const Name = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });

/** A credential and who holds it (docs/security.md). */
const IdentitySchema = Type.Object(
  {
    name: Name,
    role: Type.Union([
      Type.Literal('client'),
      Type.Literal('worker'),
      Type.Literal('operator'),
      Type.Literal('observer'),
    ]),
    /** The credential: inline, {file}, or {env}; at least 16 characters. */
    key: SecretSchema,
    /** client: tenant name (default: the identity's name) and its limits. */
    tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    models: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    requestsPerMinute: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    tokensPerMinute: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    weight: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** worker: the worker ids it may announce and serve (default: its name). */
    workers: Type.Optional(Type.Array(Name, { minItems: 1 })),
    permissions: Type.Optional(
      Type.Object(
        {
          publish: Type.Optional(PermissionSchema),
          subscribe: Type.Optional(PermissionSchema),
          queues: Type.Optional(PermissionSchema),
        },
        { additionalProperties: false },
      ),
    ),
    maxConnections: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type IdentityConfig = Static<typeof IdentitySchema>;
/** An exact browser origin as browsers send it: scheme, lower-case host, optional port. */
const Origin = Type.String({
  pattern: '^https?://([a-z0-9-]+(\\.[a-z0-9-]+)*|\\[[0-9a-f:.]+\\])(:[0-9]{1,5})?$',
  maxLength: 2048,
});

export const ConfigSchema = Type.Object(
  {
    /** 'sqlite' (embedded, durable), 'memory', or a URL of a remote bus (ws://host:port/v1/bus). */
    transport: Type.String({ minLength: 1 }),
    dataDir: Type.String({ minLength: 1 }),
    /** Credentials and TLS for the broker `transport` names (nats, redis, amqp, wss). */
    broker: Type.Optional(BrokerSchema),
    /** Puts every LLM subject under `NAME.` so deployments can share a broker (llm/subjects.ts). */
    namespace: Type.Optional(Type.String()),
    /** Root of this process's reply subjects (default _INBOX); see llmwire nats-config. */
    inboxPrefix: Type.Optional(Type.String({ minLength: 1 })),
    /** Who may use the gateway and the bus, with what role (docs/security.md). */
    identities: Type.Optional(Type.Array(IdentitySchema, { maxItems: 100_000 })),
    /** The WebSocket bus endpoint's limits. */
    hub: Type.Optional(
      Type.Object(
        {
          maxConnections: Type.Optional(Type.Integer({ minimum: 1 })),
          maxConnectionsPerIdentity: Type.Optional(Type.Integer({ minimum: 1 })),
          maxSubscriptionsPerPeer: Type.Optional(Type.Integer({ minimum: 1 })),
          maxBufferedBytes: Type.Optional(Type.Integer({ minimum: 65_536 })),
        },
        { additionalProperties: false },
      ),
    ),
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
        /** The Batch API's share of the workers and its limits (llm/gateway/batches). */
        batches: Type.Optional(BatchOptionsSchema),
        defaultTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
        maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
        /** Prometheus metrics at /metrics; default true. */
        metrics: Type.Optional(Type.Boolean()),
        /** The live dashboard at /dashboard (needs metrics); default true. */
        dashboard: Type.Optional(Type.Boolean()),
        /** Browser origins whose pages may call the API and join /v1/bus; default none. */
        cors: Type.Optional(
          Type.Object(
            { origins: Type.Optional(Type.Array(Origin, { maxItems: 256 })) },
            { additionalProperties: false },
          ),
        ),
        /** Limits on slow and idle clients (defaults in llm/gateway/http-server.ts). */
        http: Type.Optional(
          Type.Object(
            {
              headersTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
              requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
              idleTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
              maxConnections: Type.Optional(Type.Integer({ minimum: 1 })),
            },
            { additionalProperties: false },
          ),
        ),
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
    /** End-to-end checksums, signatures and encryption of bus messages (cli/crypto.ts). */
    crypto: Type.Optional(CryptoSchema),
  },
  { additionalProperties: false },
);
export type Config = Static<typeof ConfigSchema>;

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

/**
 * A config file over the defaults (or any config): deep-merged, except that a backend of another
 * kind replaces the base's backend whole — the options of one backend mean nothing to another.
 */
export function mergeConfig(base: Config, over: unknown): Config {
  const merged = merge(base, over);
  const workers = isObject(over) ? over['workers'] : undefined;
  const backend = isObject(workers) ? workers['backend'] : undefined;
  if (isObject(backend) && backend['kind'] !== undefined) {
    if (backend['kind'] !== base.workers.backend['kind']) {
      return { ...merged, workers: { ...merged.workers, backend } };
    }
  }
  return merged;
}

/** Checks a whole config; the error lists every wrong field, one per line. */
export function validateConfig(value: unknown, source: string): Config {
  return optionsCheck(`invalid configuration (${source})`, ConfigSchema)(value);
}
