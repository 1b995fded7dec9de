// Upstream failures as protocol errors. The mapping goes by the SDK's error classes and HTTP
// status, never by message text. What reaches the client is a code, the upstream status and,
// for request errors only, the upstream's message (it is about the client's own request).
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import {
  CancelledError,
  DeadlineExceededError,
  InvalidMessageError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  UnavailableError,
  UpstreamError,
  WireError,
} from '../../../protocol/index.js';
import { abortError } from '../signal.js';

export interface FailureContext {
  /** The caller's signal: when it fired, the failure is the cancellation, whatever the SDK says. */
  signal: AbortSignal;
  /** True when the backend's own idle timer aborted the request. */
  timedOut: boolean;
  timeoutMs: number;
}

export function toUpstreamError(err: unknown, ctx: FailureContext): WireError {
  if (err instanceof WireError) return err;
  if (ctx.signal.aborted) return abortError(ctx.signal);
  if (ctx.timedOut || err instanceof APIConnectionTimeoutError) {
    return new DeadlineExceededError(`upstream did not answer within ${ctx.timeoutMs} ms`, {
      cause: err,
    });
  }
  if (err instanceof APIUserAbortError)
    return new CancelledError('request cancelled', { cause: err });
  if (err instanceof APIConnectionError) {
    const code = systemErrorCode(err.cause);
    return new UnavailableError('upstream model server is unreachable', {
      cause: err,
      ...(code === undefined ? {} : { details: { reason: code } }),
    });
  }
  if (err instanceof APIError) return fromStatus(err);
  // A body cut short ('terminated'), or a chunk that is not JSON: the upstream broke mid-stream.
  return new UpstreamError('upstream stream broke off', { cause: err });
}

function fromStatus(err: APIError): WireError {
  const status = err.status;
  const details: Record<string, unknown> = {};
  if (status !== undefined) details['upstream_status'] = status;
  if (typeof err.type === 'string') details['upstream_type'] = err.type;
  if (typeof err.code === 'string') details['upstream_code'] = err.code;
  const options = { cause: err, details };
  const upstreamMessage = messageOf(err);
  if (status === undefined) {
    // An `error` object inside an SSE stream (vLLM sends these when generation fails).
    return new UpstreamError('upstream reported an error mid-stream', options);
  }
  switch (status) {
    case 400:
    case 422:
      return new InvalidMessageError(upstreamMessage ?? 'upstream rejected the request', options);
    case 401:
    case 403:
      // The client's credentials were checked by the gateway; these are this worker's
      // credentials to the upstream. Reporting unauthorized/forbidden would blame the client,
      // so it is an upstream_error; retryable, since another worker may hold a valid key.
      return new UpstreamError("upstream rejected this worker's credentials", options);
    case 404:
      return new NotFoundError(upstreamMessage ?? 'upstream has no such model or route', options);
    case 408:
      return new DeadlineExceededError('upstream timed out the request', options);
    case 413:
      return new PayloadTooLargeError(upstreamMessage ?? 'request too large for upstream', options);
    case 429:
      return new RateLimitedError('upstream rate limit reached', {
        ...options,
        details: { ...details, ...retryAfter(err.headers) },
      });
    default:
      return new UpstreamError(`upstream answered with status ${status}`, options);
  }
}

function messageOf(err: APIError): string | undefined {
  const body: unknown = err.error;
  if (typeof body !== 'object' || body === null) return undefined;
  const message = (body as Record<string, unknown>)['message'];
  return typeof message === 'string' && message.length > 0 ? message : undefined;
}

/** Retry-After (seconds or HTTP date) and the non-standard retry-after-ms, as sent. */
function retryAfter(headers: Headers | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const raw = headers?.get('retry-after');
  const rawMs = headers?.get('retry-after-ms');
  if (raw !== null && raw !== undefined) out['retry_after'] = raw;
  let ms = rawMs !== null && rawMs !== undefined ? Number(rawMs) : NaN;
  if (Number.isNaN(ms) && raw !== null && raw !== undefined) {
    ms = /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) * 1000 : Date.parse(raw) - Date.now();
  }
  if (Number.isFinite(ms) && ms >= 0) out['retry_after_ms'] = Math.round(ms);
  return out;
}

/** The system error code (ECONNREFUSED, ENOTFOUND, ...) found down a cause chain. */
function systemErrorCode(cause: unknown): string | undefined {
  for (let e = cause, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
