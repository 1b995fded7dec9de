// Credentials -> identities, as middleware. A key comes as `Authorization: Bearer` (OpenAI) or
// `x-api-key` (Anthropic). With no credential configured every request is the `default` tenant
// (the gateway then only listens on loopback; see server.ts). With some, a route says which
// roles may use it (docs/security.md): a key of another role gets 403.
import { ForbiddenError, UnauthorizedError } from '../../protocol/index.js';
import type { IdentityTable } from '../security/identities.js';
import type { Role } from '../security/roles.js';
import type { Ctx, Middleware, Tenant } from './http.js';

export const DEFAULT_TENANT: Tenant = { name: 'default' };

/** Clients and operators use the API; operators and observers watch it. */
export const API_ROLES: readonly Role[] = ['client', 'operator'];
export const WATCH_ROLES: readonly Role[] = ['operator', 'observer'];

export function authMiddleware(
  table: IdentityTable,
  roles: readonly Role[],
  /** Also take the key from a `token` query parameter (EventSource cannot set headers). */
  queryToken = false,
): Middleware {
  if (table.empty) {
    return async (ctx, next) => {
      ctx.tenant = DEFAULT_TENANT;
      await next();
    };
  }
  return async (ctx, next) => {
    const token = presentedKey(ctx) ?? (queryToken ? ctx.url.searchParams.get('token') : null);
    if (token === null) {
      throw new UnauthorizedError(
        'missing API key: send Authorization: Bearer <key> or x-api-key: <key>',
      );
    }
    const identity = table.lookup(token);
    if (identity === undefined) throw new UnauthorizedError('invalid API key');
    ctx.tenant = identity.tenant ?? { name: identity.name };
    if (!roles.includes(identity.role)) {
      throw new ForbiddenError(
        `a ${identity.role} credential may not use ${ctx.url.pathname} (allowed: ${roles.join(', ')})`,
      );
    }
    await next();
  };
}

/**
 * The key a request presents: `Authorization: Bearer <key>` (OpenAI) or `x-api-key: <key>`
 * (Anthropic). Both at once must agree, so no proxy can pick one the other side did not check.
 */
function presentedKey(ctx: Ctx): string | null {
  const header = ctx.req.headers.authorization;
  const bearer =
    typeof header === 'string' ? (/^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? null) : null;
  const apiKey = ctx.req.headers['x-api-key'];
  const key = typeof apiKey === 'string' && apiKey !== '' ? apiKey : null;
  if (bearer !== null && key !== null && bearer !== key) {
    throw new UnauthorizedError('Authorization and x-api-key name different keys; send one');
  }
  return bearer ?? key;
}

/**
 * True when a tenant's model list allows `model`: named as it is, or, for `model@adapter` and
 * pinned versions (llm/params), by its base model (the part before `@`, or before the last `:`).
 */
export function modelAllowed(allowed: readonly string[] | undefined, model: string): boolean {
  if (allowed === undefined || allowed.includes(model)) return true;
  const at = model.indexOf('@');
  if (at > 0) return allowed.includes(model.slice(0, at));
  const colon = model.lastIndexOf(':');
  return colon > 0 && allowed.includes(model.slice(0, colon));
}

export function checkModelAllowed(tenant: Tenant, model: string): void {
  if (!modelAllowed(tenant.models, model)) {
    throw new ForbiddenError(`this API key may not use model '${model}'`, {
      details: { param: 'model' },
    });
  }
}
