// Browser origins at the gateway (Fetch standard, "CORS protocol"): listed origins get CORS
// headers and answered preflights; a request from any other origin that is not the gateway's
// own is refused, so a web page the developer visits cannot spend a local gateway's models.
// Requests without an `Origin` header (curl, SDKs) pass untouched.
import { ForbiddenError } from '../../protocol/index.js';
import { isSameOrigin, parseOrigins } from '../../transport/ws/origin.js';
import type { Ctx } from './http.js';

export interface CorsOptions {
  /** Exact origins (e.g. 'https://app.example') whose pages may call the API. Default none. */
  origins?: string[];
}

/** Request headers a page may send: the ones the gateway reads (headers.ts, tracing). */
export const ALLOWED_HEADERS = [
  'authorization',
  'x-api-key',
  'anthropic-version',
  'anthropic-beta',
  'anthropic-dangerous-direct-browser-access',
  'content-type',
  'x-request-id',
  'x-llmwire-priority',
  'x-llmwire-timeout-ms',
  'x-session-id',
  'traceparent',
  'tracestate',
].join(', ');
const EXPOSED_HEADERS = [
  'x-request-id',
  'request-id',
  'x-llmwire-worker',
  'x-llmwire-trace-id',
  'traceparent',
  'retry-after',
].join(', ');
/** Paths that answer whatever the origin: liveness probes carry no data. */
const OPEN_PATHS = new Set(['/healthz']);

export class Cors {
  private readonly origins: ReadonlySet<string>;

  constructor(options: CorsOptions | undefined) {
    this.origins = parseOrigins(options?.origins, 'gateway option cors.origins');
  }

  /**
   * Judges the request's `Origin`. A listed origin gets its CORS headers (and a preflight is
   * answered here: returns true); the gateway's own origin and no origin pass; any other
   * origin is a ForbiddenError. `methods` are the methods the path serves (empty: no route).
   */
  handle(ctx: Ctx, methods: string[]): boolean {
    const origin = ctx.req.headers.origin;
    if (origin === undefined || OPEN_PATHS.has(ctx.url.pathname)) return false;
    const { res } = ctx;
    if (this.origins.has(origin)) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      if (ctx.req.method === 'OPTIONS' && methods.length > 0) {
        res.writeHead(204, {
          'access-control-allow-methods': methods.join(', '),
          'access-control-allow-headers': ALLOWED_HEADERS,
          'access-control-max-age': '600',
          vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
          'content-length': 0,
          'x-request-id': ctx.requestId,
        });
        res.end();
        return true;
      }
      res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
      return false;
    }
    if (isSameOrigin(origin, ctx.req.headers.host)) return false;
    throw new ForbiddenError(
      `origin '${origin.slice(0, 200)}' may not call this gateway; list it in gateway.cors.origins`,
      { details: { param: 'origin' } },
    );
  }
}
