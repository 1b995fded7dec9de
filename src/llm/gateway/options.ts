// The options of the gateway (createGateway): where it listens, who may call it, its limits,
// and what it reports.
import type { Bus } from '../../bus/index.js';
import type { Logger, Tracer } from '../../ops/index.js';
import type { PolicyName } from '../routing/policy.js';
import type { IdentityTable } from '../security/identities.js';
import type { ServerTlsOptions } from '../../transport/tls.js';
import type { CorsOptions } from './cors.js';
import type { Tenant } from './http.js';
import type { HttpServerOptions } from './http-server.js';
import type { ObservabilityOptions } from './observability.js';
import type { ResponseRecords } from './responses/store.js';
import type { RecordStore } from '../../transport/records.js';
import type { LimitStore } from '../../transport/limits.js';
import type { BatchOptions } from './batches/index.js';

export interface GatewayOptions extends ObservabilityOptions {
  bus: Bus;
  /** Default 127.0.0.1. Any other address requires `apiKeys`. */
  host?: string;
  /** Default 8787; 0 picks a free port. */
  port?: number;
  /**
   * Serve HTTPS (and the hub attached to `server` serves wss://). With `tls.ca`, clients must
   * present a certificate signed by it: mutual TLS, refused at the handshake otherwise.
   */
  tls?: ServerTlsOptions;
  /** API key -> tenant. Without keys the gateway accepts anyone, so it only listens on loopback. */
  apiKeys?: Record<string, Tenant>;
  /** Credentials with roles (docs/security.md); when given, `apiKeys` is not read. */
  identities?: IdentityTable;
  routing?: { policy?: PolicyName; models?: Record<string, PolicyName> };
  /** Largest request body. Default 4 MiB. */
  bodyLimitBytes?: number;
  /** Deadline of a request that sends no x-llmwire-timeout-ms. Default 120 s. */
  defaultTimeoutMs?: number;
  /** Workers tried per request before giving up. Default 3. */
  maxAttempts?: number;
  /**
   * Where tenant rate limits are kept. Default: the bus transport's limit store when it has one
   * (NATS, Redis), shared by every gateway of the namespace on that broker; else, or with
   * `false`, this gateway's own buckets.
   */
  limitStore?: LimitStore | false;
  /** Queue limits of admission control: requests waiting per model, and how long. */
  queue?: { maxLength?: number; maxWaitMs?: number };
  /** Serves only the workers of this namespace (their subjects are `NAME.llm.*`; see subjects.ts). */
  namespace?: string;
  /** Structured logs (docs/tracing.md); default none. */
  logger?: Logger;
  /** Log prompts and answers on the finished line. Off by default. */
  logBodies?: boolean;
  /** Records spans when given (see setupTracing); trace context travels either way. */
  tracer?: Tracer;
  /**
   * Browser origins whose pages may call the API (CORS). A request whose `Origin` is neither
   * listed nor the gateway's own is refused with 403 on every route but /healthz.
   */
  cors?: CorsOptions;
  /**
   * Where the Responses API keeps stored responses: the transport's `records('responses')`, so
   * every gateway on the bus sees them. Default: this process's memory.
   */
  responseStore?: ResponseRecords;
  /**
   * Where the Batch API keeps batches and their results: the transport's `records('batches')`,
   * so a batch resumes on any gateway of the bus. Default: this process's memory. The files
   * are kept on the bus's blob store (`bus.blobs`).
   */
  batchStore?: RecordStore;
  /** The Batch API's limits and its share of the workers (batches/index.ts has the defaults). */
  batches?: BatchOptions;
  /** Timeouts and the connection cap of the HTTP server (http-server.ts has the defaults). */
  http?: HttpServerOptions;
}
