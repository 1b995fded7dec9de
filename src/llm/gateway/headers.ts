// The gateway's own request headers: x-llmwire-priority and x-llmwire-timeout-ms, checked with
// errors that name the header.
import { InvalidMessageError, Priority } from '../../protocol/index.js';
import type { CallOptions } from './dispatch.js';
import type { Ctx } from './http.js';

/** x-llmwire-priority: high | normal | low, or 0-9. */
export function parsePriority(value: string | string[] | undefined): number {
  if (value === undefined) return Priority.normal;
  const v = Array.isArray(value) ? value[0] : value;
  if (v === 'high' || v === 'normal' || v === 'low') return Priority[v];
  if (v !== undefined && /^[0-9]$/.test(v)) return Number(v);
  throw new InvalidMessageError("x-llmwire-priority must be 'high', 'normal', 'low' or 0-9", {
    details: { param: 'x-llmwire-priority' },
  });
}

/** x-llmwire-timeout-ms: 1 to 3,600,000. */
export function parseTimeout(value: string | string[] | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const v = Array.isArray(value) ? value[0] : value;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 3_600_000) {
    throw new InvalidMessageError('x-llmwire-timeout-ms must be an integer from 1 to 3600000', {
      details: { param: 'x-llmwire-timeout-ms' },
    });
  }
  return n;
}

/** The dispatch options of a request: its id, tenant, priority, deadline, session and trace. */
export function callOptions(
  ctx: Ctx,
  request: { model: string; user?: string | undefined },
  defaultTimeoutMs: number,
): CallOptions {
  const h = ctx.req.headers;
  const call: CallOptions = {
    requestId: ctx.requestId,
    tenant: ctx.tenant.name,
    prio: parsePriority(h['x-llmwire-priority']),
    deadline: ctx.arrived + parseTimeout(h['x-llmwire-timeout-ms'], defaultTimeoutMs),
    signal: ctx.signal,
    sessionKey: typeof h['x-session-id'] === 'string' ? h['x-session-id'] : request.user,
  };
  call.trace = ctx.obs.context;
  call.log = ctx.obs.log;
  return call;
}
