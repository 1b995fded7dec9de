// The four roles of a locked-down deployment and the bus permissions each gets by default
// (docs/security.md). The same table drives the hub (identities on the WebSocket endpoint) and
// the NATS users `llmwire nats-config` writes, so a role means the same on every transport.
import { BLOB_READ_SUBJECTS } from '../../bus/blob-wire.js';
import type { SubjectPermission } from '../../transport/permissions.js';
import type { PeerIdentity } from '../../transport/ws/hub-identity.js';
import type { Tenant } from '../gateway/http.js';
import { llmSubjects } from '../subjects.js';

export const ROLES = ['client', 'worker', 'operator', 'observer'] as const;
export type Role = (typeof ROLES)[number];

export interface Permissions {
  publish?: SubjectPermission;
  subscribe?: SubjectPermission;
  /** Durable queues by name (matched like subjects). */
  queues?: SubjectPermission;
}

/** One credential's holder: who it is, what it may do, and (for a client) its tenant. */
export interface Identity {
  readonly name: string;
  readonly role: Role;
  /** Clients: the tenant whose limits and models apply; its name is stamped on the bus. */
  readonly tenant?: Tenant | undefined;
  /** Workers: the worker ids it may announce and serve. Default: its own name. */
  readonly workers?: readonly string[] | undefined;
  /** Replace the role's default permissions, field by field. */
  readonly permissions?: Permissions | undefined;
  readonly maxConnections?: number | undefined;
}

/** What a role may do on the bus of `namespace`, before any per-identity override. */
export function roleDefaults(
  role: Role,
  options: { namespace?: string | undefined; workers?: readonly string[] } = {},
): Required<Permissions> & { allowResponses: boolean } {
  const s = llmSubjects(options.namespace);
  const none: SubjectPermission = { allow: [] };
  switch (role) {
    case 'client':
      // Requests to any worker, answers on its own inbox (always allowed), control messages
      // back to the worker streaming to it (allow_responses). No heartbeats, no queues.
      return {
        publish: { allow: [s.chat('*'), s.embed('*')] },
        subscribe: none,
        queues: none,
        allowResponses: true,
      };
    case 'worker': {
      const ids = options.workers ?? [];
      // Its own heartbeats, blob reads (weights, adapters, data; never blob writes), and params
      // rollouts: it hears new records and asks for the current ones, but may not push one. It
      // hears gateways' heartbeats, to stop the generations of a gateway that died.
      return {
        publish: { allow: [...ids.map((id) => s.heartbeat(id)), BLOB_READ_SUBJECTS, s.paramsList] },
        subscribe: {
          allow: [...ids.map((id) => `${s.address(id)}.>`), s.paramsRollouts, s.gatewayHeartbeats],
        },
        queues: none,
        allowResponses: true,
      };
    }
    case 'observer':
      return {
        publish: { allow: [s.paramsList] },
        subscribe: { allow: [s.heartbeats, s.paramsRollouts] },
        queues: none,
        allowResponses: false,
      };
    case 'operator':
      return { publish: {}, subscribe: {}, queues: {}, allowResponses: true };
  }
}

/** The identity as the hub enforces it: stamped source and tenant, and its permissions. */
export function peerIdentity(identity: Identity, namespace?: string): PeerIdentity {
  const defaults = roleDefaults(identity.role, {
    namespace,
    workers: identity.workers ?? [identity.name],
  });
  const p = identity.permissions ?? {};
  return {
    name: identity.name,
    role: identity.role,
    source: sourceOf(identity),
    tenant: identity.role === 'client' ? (identity.tenant?.name ?? identity.name) : undefined,
    publish: p.publish ?? defaults.publish,
    subscribe: p.subscribe ?? defaults.subscribe,
    queues: p.queues ?? defaults.queues,
    allowResponses: defaults.allowResponses,
    maxConnections: identity.maxConnections,
  };
}

/** The `source` stamped on what an identity publishes: `<role>:<name>`. */
export function sourceOf(identity: Pick<Identity, 'role' | 'name'>): string {
  return `${identity.role}:${identity.name}`;
}
