// API keys -> tenants, as middleware. With no keys configured every request is the `default`
// tenant (the gateway then only listens on loopback; see server.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import { ForbiddenError, UnauthorizedError } from '../../protocol/index.js';
import type { Middleware, Tenant } from './http.js';

export const DEFAULT_TENANT: Tenant = { name: 'default' };

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export function authMiddleware(apiKeys: Record<string, Tenant> | undefined): Middleware {
  if (apiKeys === undefined || Object.keys(apiKeys).length === 0) {
    return async (ctx, next) => {
      ctx.tenant = DEFAULT_TENANT;
      await next();
    };
  }
  // Compare digests in constant time so response timing says nothing about a key's prefix.
  const table = Object.entries(apiKeys).map(([key, tenant]) => ({ digest: digest(key), tenant }));
  return async (ctx, next) => {
    const header = ctx.req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (match === null) {
      throw new UnauthorizedError('missing API key: send Authorization: Bearer <key>');
    }
    const presented = digest(match[1]!);
    const found = table.find((t) => timingSafeEqual(t.digest, presented));
    if (found === undefined) throw new UnauthorizedError('invalid API key');
    ctx.tenant = found.tenant;
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
