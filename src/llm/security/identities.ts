// Credentials → identities. A presented token is compared with every configured key in constant
// time (SHA-256 digests, every entry compared, no early exit), over the table's own entries
// only: no property lookup, so `constructor` or `__proto__` is just another wrong key.
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../../protocol/index.js';
import type { Tenant } from '../gateway/http.js';
import type { Identity } from './roles.js';

function digest(key: string | Uint8Array): Buffer {
  return createHash('sha256').update(key).digest();
}

export class IdentityTable {
  private readonly entries: { digest: Buffer; identity: Identity }[] = [];

  constructor(entries: Iterable<{ key: string | Uint8Array; identity: Identity }> = []) {
    for (const { key, identity } of entries) {
      const d = digest(key);
      if (this.entries.some((e) => e.digest.equals(d))) {
        throw new ConfigError(
          `identity '${identity.name}' has the same key as '${this.find(d)!.name}'; every credential must be distinct`,
        );
      }
      this.entries.push({ digest: d, identity });
    }
  }

  /** The legacy `apiKeys` map: each key a client of its tenant. */
  static fromApiKeys(apiKeys: Record<string, Tenant> | undefined): IdentityTable {
    return new IdentityTable(
      Object.entries(apiKeys ?? {}).map(([key, tenant]) => ({
        key,
        identity: { name: tenant.name, role: 'client' as const, tenant },
      })),
    );
  }

  /** True when no credential is configured: the open, loopback-only mode. */
  get empty(): boolean {
    return this.entries.length === 0;
  }

  get size(): number {
    return this.entries.length;
  }

  identities(): Identity[] {
    return this.entries.map((e) => e.identity);
  }

  /** The identity whose key is `token`, or undefined. */
  lookup(token: string | undefined): Identity | undefined {
    if (token === undefined || token.length === 0) return undefined;
    return this.find(digest(token));
  }

  private find(presented: Buffer): Identity | undefined {
    let found: Identity | undefined;
    for (const e of this.entries) {
      // Every entry is compared, so the time taken does not say where a match was.
      if (timingSafeEqual(e.digest, presented) && found === undefined) found = e.identity;
    }
    return found;
  }
}
