// Credentials -> identities, as middleware. With no credential configured every request is the
// `default` tenant (the gateway then only listens on loopback; see server.ts). With some, a
// route says which roles may use it (docs/security.md): a key of another role gets 403.
import { ForbiddenError, UnauthorizedError } from '../../protocol/index.js';
import type { IdentityTable } from '../security/identities.js';
import type { Role } from '../security/roles.js';
import type { Middleware, Tenant } from './http.js';

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
    const header = ctx.req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    const token = match?.[1] ?? (queryToken ? ctx.url.searchParams.get('token') : null);
    if (token === null || token === undefined) {
      throw new UnauthorizedError('missing API key: send Authorization: Bearer <key>');
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

export function checkModelAllowed(tenant: Tenant, model: string): void {
  if (tenant.models !== undefined && !tenant.models.includes(model)) {
    throw new ForbiddenError(`this API key may not use model '${model}'`, {
      details: { param: 'model' },
    });
  }
}
