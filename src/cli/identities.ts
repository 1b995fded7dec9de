// The credentials of a configuration, read (from files and the environment where the config
// says so) into one identity table: `identities`, plus each legacy `gateway.apiKeys` entry as a
// client of its tenant.
import type { Tenant } from '../llm/gateway/http.js';
import { IdentityTable } from '../llm/security/identities.js';
import type { Identity } from '../llm/security/roles.js';
import { ConfigError } from '../protocol/index.js';
import type { Config } from './config.js';
import { readSecret } from './secrets.js';

const MIN_KEY_LENGTH = 16;

export function identityTable(config: Config): IdentityTable {
  const entries: { key: string; identity: Identity }[] = [];
  const names = new Set<string>();
  for (const [i, spec] of (config.identities ?? []).entries()) {
    const field = `identities[${i}] (${spec.name})`;
    if (names.has(spec.name)) throw new ConfigError(`${field}: another identity has this name`);
    names.add(spec.name);
    const key = readSecret(spec.key, `${field}.key`);
    if (key.length < MIN_KEY_LENGTH) {
      throw new ConfigError(
        `${field}.key: a credential must be at least ${MIN_KEY_LENGTH} characters`,
      );
    }
    if (
      spec.role !== 'client' &&
      (spec.models ?? spec.requestsPerMinute ?? spec.tokensPerMinute ?? spec.tenant) !== undefined
    ) {
      throw new ConfigError(`${field}: tenant, models and limits apply to clients only`);
    }
    if (spec.role !== 'worker' && spec.workers !== undefined) {
      throw new ConfigError(`${field}: workers applies to worker identities only`);
    }
    const tenant: Tenant | undefined =
      spec.role !== 'client'
        ? undefined
        : {
            name: spec.tenant ?? spec.name,
            ...(spec.models === undefined ? {} : { models: spec.models }),
            ...(spec.requestsPerMinute === undefined
              ? {}
              : { requestsPerMinute: spec.requestsPerMinute }),
            ...(spec.tokensPerMinute === undefined
              ? {}
              : { tokensPerMinute: spec.tokensPerMinute }),
            ...(spec.weight === undefined ? {} : { weight: spec.weight }),
          };
    entries.push({
      key,
      identity: {
        name: spec.name,
        role: spec.role,
        tenant,
        workers: spec.workers,
        permissions: spec.permissions,
        maxConnections: spec.maxConnections,
      },
    });
  }
  for (const [key, tenant] of Object.entries(config.gateway.apiKeys ?? {})) {
    entries.push({ key, identity: { name: tenant.name, role: 'client', tenant } });
  }
  return new IdentityTable(entries);
}
