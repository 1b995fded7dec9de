// Who a hub peer is and what it may do (docs/security.md): the identity its credential maps to,
// its subject permissions, private inboxes bound to the connection that claims them, and the
// reply subjects it may answer on (the NATS `allow_responses` rule).
import { ForbiddenError, type WireError } from '../../protocol/index.js';
import { SubjectRule, type SubjectPermission, type SubscribeVerdict } from '../permissions.js';

export interface PeerIdentity {
  /** For logs, metrics and `peers()`. */
  readonly name: string;
  /** A label: client, worker, operator, observer. The permissions are what count. */
  readonly role: string;
  /** Stamped as `source` on every envelope the peer publishes; undefined leaves the peer's own. */
  readonly source?: string | undefined;
  /** Stamped as `tenant` on every envelope the peer publishes; undefined leaves the peer's own. */
  readonly tenant?: string | undefined;
  /** Subjects it may publish on; undefined = all. Replies are allowed by `allowResponses`. */
  readonly publish?: SubjectPermission | undefined;
  /** Subjects it may subscribe to; undefined = all. Its own inbox is always allowed. */
  readonly subscribe?: SubjectPermission | undefined;
  /** Durable queues (by name, matched like subjects) it may use; undefined = all. */
  readonly queues?: SubjectPermission | undefined;
  /**
   * May publish on the reply subject of a message it received, until that message's deadline
   * (at most an hour). Default true.
   */
  readonly allowResponses?: boolean | undefined;
  /** Connections open at once with this identity. Default: the hub's maxConnectionsPerIdentity. */
  readonly maxConnections?: number | undefined;
}

/** The identity of every peer on a hub without `authenticate`: nothing restricted. */
export const OPEN_IDENTITY: PeerIdentity = { name: 'local', role: 'operator' };

/** Subjects under this first token are inboxes: `_INBOX.<owner token>[.more]`. */
export const INBOX_TOKEN = '_INBOX';

/** An identity's permissions, compiled once. */
export class Grant {
  readonly publish: SubjectRule;
  readonly subscribe: SubjectRule;
  readonly queues: SubjectRule;
  readonly allowResponses: boolean;

  private constructor(readonly identity: PeerIdentity) {
    this.publish = new SubjectRule(identity.publish, `identity ${identity.name} publish`);
    this.subscribe = new SubjectRule(identity.subscribe, `identity ${identity.name} subscribe`);
    this.queues = new SubjectRule(identity.queues, `identity ${identity.name} queues`);
    this.allowResponses = identity.allowResponses !== false;
  }

  private static readonly cache = new WeakMap<PeerIdentity, Grant>();

  static of(identity: PeerIdentity): Grant {
    let grant = Grant.cache.get(identity);
    if (grant === undefined) {
      grant = new Grant(identity);
      Grant.cache.set(identity, grant);
    }
    return grant;
  }
}

/** The holder of inboxes of the hub's own process (peer ids are never empty). */
const LOCAL = '';

/** How long an inbox stays bound to its identity after its connection ends. */
const INBOX_GRACE_MS = 10 * 60_000;
const MAX_RELEASED_INBOXES = 100_000;

/**
 * Inbox tokens bound to the connection that subscribed first. While it lives no other
 * connection may subscribe there; after it ends, the token stays reserved to the same identity
 * for a grace period, so a reconnecting peer gets its inbox back and nobody else can take it.
 */
export class InboxClaims {
  private readonly live = new Map<string, { peer: string; identity: string; refs: number }>();
  private readonly released = new Map<string, { identity: string; until: number }>();

  /** Claims `token` for `peer`; throws ForbiddenError when someone else holds it. */
  claim(token: string, peer: string, identity: string, now = Date.now()): void {
    const held = this.live.get(token);
    if (held !== undefined) {
      if (held.peer !== peer) throw inboxTaken(token);
      held.refs++;
      return;
    }
    const reserved = this.released.get(token);
    if (reserved !== undefined) {
      if (reserved.until > now && reserved.identity !== identity) throw inboxTaken(token);
      this.released.delete(token);
    }
    this.live.set(token, { peer, identity, refs: 1 });
  }

  /**
   * A message from this hub's own process asks for replies on `_INBOX.<token>` (a local bus's
   * inbox, which no peer subscribed): no peer may claim it, or a peer that saw a request could
   * read every answer to it.
   */
  reserveLocal(token: string): void {
    if (this.live.has(token) || this.released.has(token)) return;
    this.live.set(token, { peer: LOCAL, identity: LOCAL, refs: 1 });
  }

  /** One subscription under `token` ended. */
  release(token: string, peer: string, now = Date.now()): void {
    const held = this.live.get(token);
    if (held === undefined || held.peer !== peer) return;
    if (--held.refs > 0) return;
    this.live.delete(token);
    this.released.set(token, { identity: held.identity, until: now + INBOX_GRACE_MS });
    if (this.released.size > MAX_RELEASED_INBOXES) {
      for (const [t, r] of this.released) {
        if (this.released.size <= MAX_RELEASED_INBOXES && r.until > now) break;
        this.released.delete(t);
      }
    }
  }
}

function inboxTaken(token: string): WireError {
  return new ForbiddenError(`inbox '${INBOX_TOKEN}.${token}' belongs to another connection`);
}

/** The owner token of an inbox subject or pattern (`_INBOX.<token>...`), if it names one. */
export function inboxToken(tokens: readonly string[]): string | undefined {
  if (tokens[0] !== INBOX_TOKEN || tokens.length < 2) return undefined;
  const t = tokens[1]!;
  return t === '*' || t === '>' ? undefined : t;
}

const MAX_RESPONSES = 65_536;
const MAX_RESPONSE_MS = 60 * 60_000;
const DEFAULT_RESPONSE_MS = 2 * 60_000;

/** Reply subjects a peer may publish on, each until its request's deadline. */
export class ResponseGrants {
  private readonly until = new Map<string, number>();

  /** The peer was handed a message that asks for replies on `replyTo`. */
  grant(replyTo: string, deadline: number | undefined, now = Date.now()): void {
    const end = Math.min(now + MAX_RESPONSE_MS, deadline ?? now + DEFAULT_RESPONSE_MS);
    const known = this.until.get(replyTo);
    if (known !== undefined && known >= end) return;
    this.until.delete(replyTo);
    this.until.set(replyTo, end);
    if (this.until.size > MAX_RESPONSES) {
      const oldest = this.until.keys().next();
      if (oldest.done !== true) this.until.delete(oldest.value);
    }
  }

  allows(subject: string): boolean {
    const end = this.until.get(subject);
    if (end === undefined) return false;
    if (end >= Date.now()) return true;
    this.until.delete(subject);
    return false;
  }

  /** Forgets grants whose time is up (called now and then). */
  prune(now = Date.now()): void {
    for (const [subject, end] of this.until) if (end < now) this.until.delete(subject);
  }
}

export type { SubscribeVerdict };
