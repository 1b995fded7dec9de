// Small HTTP plumbing for the gateway on node:http: a context per request, composable
// middleware, JSON bodies with a size limit, and errors with the status from the protocol's
// error table in the JSON of the request's API (OpenAI's by default). Written straight on node:http so the token path is a plain
// socket write (see BENCHMARKS.md, gateway group).
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ERROR_TABLE,
  InvalidMessageError,
  PayloadTooLargeError,
  toWireError,
  UnsupportedMediaTypeError,
  WireError,
} from '../../protocol/index.js';
import type { RequestObservation } from './observation.js';

export interface Tenant {
  name: string;
  /** Models this tenant may use; undefined = all. */
  models?: string[];
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  /** Share of capacity under contention, relative to other tenants. Default 1. */
  weight?: number;
}

export interface Ctx {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  requestId: string;
  tenant: Tenant;
  /** Fires when the client goes away before the answer is complete. */
  readonly signal: AbortSignal;
  /** ms epoch when the request arrived. */
  readonly arrived: number;
  /** Its span, its logger and what its finished log line says. */
  readonly obs: RequestObservation;
  /** Values of the route's `{name}` path segments. */
  params?: Record<string, string>;
  /** The error body of the API this request speaks (OpenAI's unless a route says otherwise). */
  errorShape?: ErrorShape;
}

/** An API's error JSON for a WireError answered with `status`. */
export type ErrorShape = (err: WireError, status: number) => unknown;

export type Handler = (ctx: Ctx) => Promise<void>;
export type Middleware = (ctx: Ctx, next: () => Promise<void>) => Promise<void>;

export function compose(middleware: Middleware[], handler: Handler): Handler {
  return (ctx) => {
    const run = (i: number): Promise<void> =>
      i < middleware.length ? middleware[i]!(ctx, () => run(i + 1)) : handler(ctx);
    return run(0);
  };
}

/** `application/json` or `application/<anything>+json` (RFC 6839), parameters allowed. */
const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9.!#$&^_-]+\+)?json[ \t]*(?:;.*)?$/i;

/**
 * Refuses a body that is not declared as JSON (415), before any of it is read. A `text/plain`,
 * form or missing content type is what a web page can send cross-site without a CORS
 * preflight (Fetch standard, "CORS-safelisted request-header"), so only JSON is served.
 */
export function requireJsonContentType(ctx: Ctx): void {
  const type = ctx.req.headers['content-type'];
  if (type === undefined || !JSON_MEDIA_TYPE.test(type)) {
    throw new UnsupportedMediaTypeError(
      `content-type must be application/json, got ${type === undefined ? 'none' : `'${type.slice(0, 100)}'`}`,
      { details: { param: 'content-type' } },
    );
  }
}

/**
 * Reads a JSON body, refusing a content type other than JSON (415), more than `limit` bytes
 * (413) and malformed JSON (400).
 */
export async function readJson(ctx: Ctx, limit: number): Promise<unknown> {
  requireJsonContentType(ctx);
  const declared = Number(ctx.req.headers['content-length'] ?? NaN);
  if (declared > limit) {
    throw new PayloadTooLargeError(
      `request body of ${declared} bytes exceeds the ${limit}-byte limit`,
    );
  }
  const body = await readBody(ctx.req, limit);
  if (body.byteLength === 0)
    throw new InvalidMessageError('request body is empty; send a JSON object');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new InvalidMessageError('request body is not valid JSON');
  }
}

/**
 * The whole body, by 'data' events (an async iterator over the request costs several promises
 * per request); more than `limit` bytes destroys the request and is 413.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (err: Error | undefined) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', settle);
      req.off('close', onClose);
      if (err !== undefined) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) {
        settle(new PayloadTooLargeError(`request body exceeds the ${limit}-byte limit`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => settle(undefined);
    const onClose = () => settle(new InvalidMessageError('request body was cut off'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', settle);
    req.on('close', onClose);
  });
}

export interface OpenAIErrorJson {
  error: { message: string; type: string; param: string | null; code: string };
}

/** The OpenAI error JSON for a WireError; the `param` names the bad field when known. */
export function errorJson(err: WireError): OpenAIErrorJson {
  const param = typeof err.details?.param === 'string' ? err.details.param : null;
  return {
    error: { message: err.message, type: ERROR_TABLE[err.code].type, param, code: err.code },
  };
}

export function sendJson(
  ctx: Ctx,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  ctx.res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-request-id': ctx.requestId,
    ...headers,
  });
  ctx.res.end(text);
}

/** Sends an error as OpenAI JSON; unknown throws become a generic 500 (nothing internal leaks). */
export function sendError(ctx: Ctx, error: unknown): void {
  const err = toWireError(error);
  const headers: Record<string, string> = {};
  const retryAfterMs = err.details?.retryAfterMs;
  if (typeof retryAfterMs === 'number') {
    headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  } else if (err.code === 'rate_limited' || err.code === 'overloaded') {
    headers['retry-after'] = '1';
  }
  const status = err.code === 'cancelled' ? 499 : ERROR_TABLE[err.code].status;
  if (ctx.res.headersSent) {
    ctx.res.destroy();
    return;
  }
  sendJson(ctx, status, (ctx.errorShape ?? errorJson)(err, status), headers);
}

export { WireError };
