// The gateway's own request headers: x-llmwire-priority and x-llmwire-timeout-ms.
import { InvalidMessageError, Priority } from '../../protocol/index.js';

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
