// Which browser origins may reach an HTTP endpoint: the ones listed, and the endpoint's own.
// A request without an `Origin` header is not from a web page's script (curl, SDKs, the `ws`
// package) and is not judged here; browsers always send one on cross-origin requests and
// WebSocket upgrades (RFC 6454, section 7; RFC 6455, section 4.1).
import { ConfigError } from '../../protocol/index.js';

/**
 * Checks a list of exact origins (`scheme://host[:port]`, as browsers send them) and returns
 * them as a set. Anything else (a path, a wildcard, a trailing slash) is a ConfigError naming
 * `field`.
 */
export function parseOrigins(origins: readonly string[] | undefined, field: string): Set<string> {
  const out = new Set<string>();
  for (const [i, origin] of (origins ?? []).entries()) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (
      parsed === undefined ||
      (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') ||
      parsed.origin !== origin
    ) {
      throw new ConfigError(
        `${field}[${i}] must be an exact origin such as 'https://app.example' (scheme, host and ` +
          `port only, no path or trailing slash), got '${origin}'`,
      );
    }
    out.add(origin);
  }
  return out;
}

/** True when `origin` is the request's own: its host[:port] is the request's `Host`. */
export function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === host;
  } catch {
    return false;
  }
}

/**
 * Whether a request may proceed, judged by its `Origin` header alone: no header, a listed
 * origin, or the request's own origin. `Origin: null` (sandboxed frames, file: pages) is never
 * allowed.
 */
export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: ReadonlySet<string>,
): boolean {
  if (origin === undefined) return true;
  return allowed.has(origin) || isSameOrigin(origin, host);
}
