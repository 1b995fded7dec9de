// What one hub peer may do, checked record by record (docs/security.md): its identity's publish,
// subscribe and queue permissions, the inboxes it holds, the replies it may send, and the
// `source` and `tenant` stamped on what it publishes. Every refusal is reported and becomes a
// `forbidden` error for the peer.
import { ForbiddenError, type Envelope, type WireError } from '../../protocol/index.js';
import type { SubjectRule } from '../permissions.js';
import {
  Grant,
  inboxToken,
  ResponseGrants,
  type InboxClaims,
  type PeerIdentity,
} from './hub-identity.js';

/** What the hub reports when it refuses a peer's record. */
export interface DeniedEvent {
  readonly peer: string;
  readonly identity: string;
  readonly role: string;
  readonly action: 'publish' | 'subscribe' | 'queue' | 'connect';
  /** The subject, pattern or queue name refused. */
  readonly target: string;
  readonly reason: string;
}

export class PeerPolicy {
  private readonly grant: Grant;
  private readonly responses = new ResponseGrants();
  /** Inbox tokens claimed, by subscription id. */
  private readonly inboxOf = new Map<number, string>();

  constructor(
    private readonly peer: string,
    readonly identity: PeerIdentity,
    private readonly inboxes: InboxClaims,
    private readonly onDenied: (event: DeniedEvent) => void,
  ) {
    this.grant = Grant.of(identity);
  }

  /**
   * Checks that the peer may send `env` (published, or enqueued: then the queue permission,
   * checked before, governs the subject) and stamps its `source` and `tenant` from the identity.
   * Returns false when stamping changed the header, so the peer's bytes must not be forwarded
   * as they are. Throws `forbidden`.
   */
  admit(env: Envelope, via: 'publish' | 'queue'): boolean {
    const subject = env.subject;
    if (
      via === 'publish' &&
      !this.grant.publish.allowsSubject(subject) &&
      !(this.grant.allowResponses && this.responses.allows(subject))
    ) {
      throw this.deny('publish', subject, `may not publish on '${subject}'`);
    }
    // Replies must go where this peer itself may listen: otherwise a request could aim its
    // responder's answer at someone else's subject.
    if (env.replyTo !== undefined && !this.mayReceive(env.replyTo)) {
      throw this.deny('publish', env.replyTo, `may not ask for replies on '${env.replyTo}'`);
    }
    const { source, tenant } = this.identity;
    if (source === undefined) return true;
    if (env.source === source && (tenant === undefined || env.tenant === tenant)) return true;
    if (env.sig !== undefined) {
      // The hub cannot restamp a signed header; the peer's client stamps it before signing.
      throw this.deny(
        'publish',
        subject,
        `a signed frame must carry source '${source}'${tenant === undefined ? '' : ` and tenant '${tenant}'`}`,
      );
    }
    env.source = source;
    if (tenant !== undefined) env.tenant = tenant;
    return false;
  }

  /** Throws `forbidden` unless the peer may use durable queue `name`. */
  queue(name: string): void {
    if (!this.grant.queues.allowsSubject(name)) {
      throw this.deny('queue', name, `may not use queue '${name}'`);
    }
  }

  /**
   * Checks subscription `sid` on `pattern` (tokens already checked). An inbox pattern claims its
   * token for this connection. Returns the rule that filters what it receives, if any.
   */
  subscribe(sid: number, pattern: string, tokens: readonly string[]): SubjectRule | undefined {
    const inbox = inboxToken(tokens);
    if (inbox !== undefined) {
      // Every peer may have inboxes; each is bound to the connection that claims it first.
      this.inboxes.claim(inbox, this.peer, this.identity.name);
      this.inboxOf.set(sid, inbox);
      return undefined;
    }
    const verdict = this.grant.subscribe.subscribeVerdict(pattern);
    if (verdict === 'deny') {
      throw this.deny('subscribe', pattern, `may not subscribe to '${pattern}'`);
    }
    return verdict === 'filter' ? this.grant.subscribe : undefined;
  }

  /** Subscription `sid` ended: its inbox claim, if any, goes with it. */
  unsubscribed(sid: number): void {
    const inbox = this.inboxOf.get(sid);
    if (inbox === undefined) return;
    this.inboxOf.delete(sid);
    this.inboxes.release(inbox, this.peer);
  }

  /** The peer was handed `env`: it may answer it (allow_responses), until its deadline. */
  delivered(env: Envelope): void {
    if (env.replyTo === undefined) return;
    // A reply subject nobody claimed is an inbox of the hub's own process: reserved, so this
    // peer, having seen it, cannot subscribe there and read the answers meant for it.
    const inbox = inboxToken(env.replyTo.split('.'));
    if (inbox !== undefined) this.inboxes.reserveLocal(inbox);
    if (this.grant.allowResponses) this.responses.grant(env.replyTo, env.deadline);
  }

  /** Forgets reply grants whose time is up. */
  prune(): void {
    this.responses.prune();
  }

  /** The connection ended: every inbox it held is released. */
  dispose(): void {
    for (const inbox of this.inboxOf.values()) this.inboxes.release(inbox, this.peer);
    this.inboxOf.clear();
  }

  /** True when `subject` is in one of the inboxes this connection holds. */
  holdsInbox(subject: string): boolean {
    const inbox = inboxToken(subject.split('.'));
    if (inbox === undefined) return false;
    for (const token of this.inboxOf.values()) if (token === inbox) return true;
    return false;
  }

  /** Could this peer subscribe to `subject` (its own inboxes, or its subscribe permission)? */
  private mayReceive(subject: string): boolean {
    const tokens = subject.split('.');
    const inbox = inboxToken(tokens);
    if (inbox !== undefined) {
      for (const token of this.inboxOf.values()) if (token === inbox) return true;
    }
    return this.grant.subscribe.subscribeVerdict(subject) !== 'deny';
  }

  /** Reports a refusal; returns the error to send back. */
  private deny(action: DeniedEvent['action'], target: string, what: string): WireError {
    const reason = `${this.identity.role} '${this.identity.name}' ${what}`;
    this.onDenied({
      peer: this.peer,
      identity: this.identity.name,
      role: this.identity.role,
      action,
      target,
      reason,
    });
    return new ForbiddenError(reason, { details: { action, target } });
  }
}
