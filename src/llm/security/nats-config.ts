// The NATS side of identities (docs/security.md, "NATS"): on NATS the peers connect to the broker
// itself, so the hub cannot enforce a role; nats-server does, from the `authorization` block
// written here. Each identity becomes a NATS user (user = its name, password = its key) whose
// permissions are its role's (roles.ts) plus what the bus needs on NATS:
//
// - a private reply root `_INBOX.<user>`: the process runs with `--inbox-prefix _INBOX.<user>`,
//   so its bus inbox, nats.js's request inboxes and the NATS adapter's private subjects
//   (`_INBOX.<user>._LLMW.<nuid>...`) all sit under it, and only it may subscribe there;
// - answers: a worker replies on its requester's inbox (the envelope's replyTo, which nats-server
//   does not see), so workers may publish on the inboxes of clients, operators and the gateway;
//   a requester sends credit and cancel to the inbox of the worker streaming to it, so clients
//   and the gateway may publish on the workers' inboxes;
// - allow_responses: the NATS-level replies (large-message claims and parts) travel on reply
//   subjects nats-server grants for a while;
// - JetStream (`$JS.API.>`, durable queues): operators only, who get every subject; the
//   gateway gets the KV buckets it keeps (stored responses, batches, params records, and the
//   tenant rate limits all gateways share), and only the gateway announces gateway heartbeats
//   (which the other gateways hear: they carry the demand by which gateways share slots);
// - blobs (the `<prefix>_BLOBS` Object Store bucket): operators read and write, workers only
//   read (to fetch weights and adapters); clients and observers get none of its subjects.
import { BLOB_SERVICE_SUBJECTS } from '../../bus/blob-wire.js';
import { ConfigError } from '../../protocol/index.js';
import type { SubjectPermission } from '../../transport/permissions.js';
import {
  blobReadSubjects,
  blobWriteSubjects,
  DEFAULT_STREAM_PREFIX,
  limitStoreSubjects,
  PULL_ROOT,
  queueNames,
  queueSubjects,
  recordStoreSubjects,
} from '../../transport/nats/names.js';
import { batchGrantNames } from '../gateway/batches/index.js';
import { responseStoreName } from '../gateway/responses/store.js';
import { paramsStoreName } from '../params/service.js';
import { limitStoreName, llmSubjects } from '../subjects.js';
import { peerIdentity, type Identity } from './roles.js';

/** One credential holder of the deployment and its password on nats-server. */
export interface NatsUserInput {
  readonly identity: Identity;
  readonly password: string;
}

export interface NatsConfigInput {
  readonly users: readonly NatsUserInput[];
  /** The gateway's own NATS user (it has no identity of its own). */
  readonly gateway?: { readonly name: string; readonly password: string } | undefined;
  readonly namespace?: string | undefined;
  /** The NATS transport's stream prefix (default LLMWIRE): names the gateway's record bucket. */
  readonly streamPrefix?: string | undefined;
}

/** The reply root a user's processes must run with (`--inbox-prefix`). */
export function natsInboxPrefix(user: string): string {
  return `_INBOX.${user}`;
}

/** nats-server's grant for responses: enough for a large message's parts, for ten minutes. */
const RESPONSES = { max: 100_000, expires: '10m' };

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

interface NatsUser {
  user: string;
  password: string;
  /** Undefined: every subject (operators). */
  permissions?: {
    publish: SubjectPermission;
    subscribe: SubjectPermission;
    allowResponses: boolean;
  };
}

/** The `authorization { users = [...] }` block for nats-server. Throws ConfigError on bad input. */
export function natsAuthorization(input: NatsConfigInput): string {
  const s = llmSubjects(input.namespace);
  const names = new Set<string>();
  const entries = [
    ...input.users.map((u) => ({ name: u.identity.name, password: u.password })),
    ...(input.gateway === undefined ? [] : [input.gateway]),
  ];
  for (const { name, password } of entries) {
    if (!NAME_RE.test(name)) {
      throw new ConfigError(`NATS user '${name}' must be 1-64 letters, digits, '_' or '-'`);
    }
    if (names.has(name)) throw new ConfigError(`two NATS users are named '${name}'`);
    names.add(name);
    checkPassword(name, password);
  }
  const inbox = (name: string) => `${natsInboxPrefix(name)}.>`;
  const ofRole = (role: Identity['role']) =>
    input.users.filter((u) => u.identity.role === role).map((u) => u.identity.name);
  const workerInboxes = ofRole('worker').map(inbox);
  const requesterInboxes = [
    ...ofRole('client'),
    ...ofRole('operator'),
    ...(input.gateway === undefined ? [] : [input.gateway.name]),
  ].map(inbox);

  const prefix = input.streamPrefix ?? DEFAULT_STREAM_PREFIX;
  const blobRead = blobReadSubjects(prefix);
  const blobWrite = [...blobRead, ...blobWriteSubjects(prefix)];

  const users: NatsUser[] = input.users.map(({ identity, password }) => {
    const grant = peerIdentity(identity, input.namespace);
    if (identity.role === 'operator' && identity.permissions === undefined) {
      return { user: identity.name, password };
    }
    const extraPublish =
      identity.role === 'worker'
        ? [...requesterInboxes, ...blobRead]
        : identity.role === 'client'
          ? workerInboxes
          : identity.role === 'operator'
            ? [...workerInboxes, ...requesterInboxes, ...blobWrite]
            : [];
    return {
      user: identity.name,
      password,
      permissions: {
        // Its own inbox too: the NATS transport answers a request nobody serves with a
        // `no_responders` error published there.
        publish: widen(grant.publish ?? {}, [...extraPublish, inbox(identity.name)]),
        subscribe: widen(grant.subscribe ?? {}, [inbox(identity.name)]),
        allowResponses: grant.allowResponses !== false,
      },
    };
  });
  if (input.gateway !== undefined) {
    const { name, password } = input.gateway;
    users.push({
      user: name,
      password,
      permissions: {
        publish: {
          allow: [
            s.chat('*'),
            s.embed('*'),
            s.responseCancel,
            // Its heartbeats (llm/gateway-presence.ts): only gateways may say a gateway is alive
            // or stopped, since a stopped one has its generations cancelled.
            s.gatewayHeartbeats,
            // The params rollout service (llmwire up and gateway run it): it announces records
            // and answers the operators and observers who push and list them, and itself.
            s.paramsList,
            s.paramsRollouts,
            inbox(name),
            ...ofRole('operator').map(inbox),
            ...ofRole('observer').map(inbox),
            ...workerInboxes,
            // Stored responses (the Responses API) in their JetStream KV bucket.
            ...recordStoreSubjects(prefix, responseStoreName(input.namespace)),
            // Tenant rate limits shared by the gateways (transport/limits.ts), in theirs.
            ...limitStoreSubjects(prefix, limitStoreName(input.namespace)),
            // Params rollout records, in theirs.
            ...recordStoreSubjects(prefix, paramsStoreName(input.namespace)),
            // The Files and Batch APIs: their records, queues and cancels, and the blob store.
            ...batchGrants(prefix, input.namespace),
            ...blobWrite,
          ],
        },
        subscribe: {
          allow: [
            s.heartbeats,
            // The other gateways' heartbeats: the demand by which they share each model's slots.
            s.gatewayHeartbeats,
            s.responseCancel,
            s.paramsPush,
            s.paramsList,
            s.paramsRollouts,
            // The blob service (bus/blob-service.ts): the gateway serves its store to the peers
            // of its WebSocket hub, which keep none; NATS users reach the Object Store directly.
            BLOB_SERVICE_SUBJECTS,
            batchGrantNames(input.namespace).cancel,
            ...batchGrantNames(input.namespace).queues.map((q) => queueNames(prefix, q).wake),
            // A queue consumer's pulls are answered on `_LLMW_PULL.<nuid>` (nats/names.ts),
            // outside its reply root.
            `${PULL_ROOT}.>`,
            inbox(name),
          ],
        },
        allowResponses: true,
      },
    });
  }
  return render(users);
}

/** What the gateway's batches use on NATS (batches/index.ts names them). */
function batchGrants(prefix: string, namespace: string | undefined): string[] {
  const names = batchGrantNames(namespace);
  return [
    names.cancel,
    ...recordStoreSubjects(prefix, names.records),
    ...names.queues.flatMap((q) => queueSubjects(prefix, q)),
  ];
}

/** Adds subjects to an allow list; an absent list already allows everything. */
function widen(p: SubjectPermission, extra: readonly string[]): SubjectPermission {
  if (p.allow === undefined) return p;
  return { ...p, allow: [...new Set([...p.allow, ...extra])] };
}

function checkPassword(name: string, password: string): void {
  // nats-server's config syntax has its own escapes and `$VARIABLE` references; a key that could
  // be misread is refused rather than written in a form nats-server might take differently.
  if (password.length === 0 || !/^[\x21-\x7e]+$/.test(password) || /["\\$]/.test(password)) {
    throw new ConfigError(
      `the key of NATS user '${name}' must be printable ASCII without spaces, '"', '\\' or '$' to be written into a nats-server config`,
    );
  }
}

function list(items: readonly string[]): string {
  return `[${items.map((i) => JSON.stringify(i)).join(', ')}]`;
}

function permission(p: SubjectPermission): string {
  const parts: string[] = [];
  // An empty allow list allows nothing; nats-server reads an empty list as no restriction.
  if (p.allow !== undefined && p.allow.length === 0) parts.push('deny: [">"]');
  else {
    if (p.allow !== undefined) parts.push(`allow: ${list(p.allow)}`);
    if (p.deny !== undefined && p.deny.length > 0) parts.push(`deny: ${list(p.deny)}`);
  }
  return `{ ${parts.join(', ')} }`;
}

function render(users: readonly NatsUser[]): string {
  const lines = [
    "# Written by llmwire nats-config. It holds every identity's key: readable by nats-server only.",
    'authorization {',
    '  users = [',
  ];
  for (const u of users) {
    lines.push('    {');
    lines.push(`      user: ${JSON.stringify(u.user)}`);
    lines.push(`      password: ${JSON.stringify(u.password)}`);
    if (u.permissions !== undefined) {
      const p = u.permissions;
      lines.push('      permissions: {');
      lines.push(`        publish: ${permission(p.publish)}`);
      lines.push(`        subscribe: ${permission(p.subscribe)}`);
      if (p.allowResponses) {
        lines.push(
          `        allow_responses: { max: ${RESPONSES.max}, expires: "${RESPONSES.expires}" }`,
        );
      }
      lines.push('      }');
    }
    lines.push('    }');
  }
  lines.push('  ]', '}', '');
  return lines.join('\n');
}
