// In-process subject routing: the reference semantics of publish/subscribe and queue groups.
// Delivery is synchronous but never re-entrant: a message published from inside a handler is
// queued and delivered after the current one, so every subscriber sees one publisher's
// messages in the order they were published.
import type { Envelope } from '../../protocol/index.js';
import { noRespondersReply } from '../queue-policy.js';
import { checkPattern, checkSubject, matchTokens } from '../subject.js';
import type { MessageHandler, SubscribeOptions, TransportSubscription } from '../transport.js';

interface Sub {
  readonly tokens: string[];
  readonly handler: MessageHandler;
  readonly queue: string | undefined;
  active: boolean;
}

interface Route {
  readonly plain: Sub[];
  readonly groups: { members: Sub[]; next: number }[];
}

const READY = Promise.resolve();

export class SubjectRouter {
  private subs: Sub[] = [];
  private routes = new Map<string, Route>();
  private readonly pending: Envelope[] = [];
  private dispatching = false;

  constructor(private readonly onHandlerError: (err: unknown, env: Envelope) => void) {}

  subscribe(
    pattern: string,
    handler: MessageHandler,
    options: SubscribeOptions = {},
  ): TransportSubscription {
    const tokens = checkPattern(pattern);
    const sub: Sub = { tokens, handler, queue: options.queue, active: true };
    this.subs = [...this.subs, sub];
    this.routes.clear();
    return {
      ready: READY,
      unsubscribe: () => {
        if (!sub.active) return;
        sub.active = false;
        this.subs = this.subs.filter((s) => s !== sub);
        this.routes.clear();
      },
    };
  }

  /** Routes one envelope to its subscribers (a bad subject throws to the publisher). */
  publish(env: Envelope): void {
    if (this.dispatching) {
      this.route(env.subject); // refuse a bad subject to its publisher, not to a later one
      this.pending.push(env);
      return;
    }
    this.dispatching = true;
    try {
      this.deliver(env);
      const pending = this.pending;
      if (pending.length > 0) {
        for (let i = 0; i < pending.length; i++) this.deliver(pending[i]!);
        pending.length = 0;
      }
    } finally {
      if (this.pending.length > 0) this.pending.length = 0;
      this.dispatching = false;
    }
  }

  get subscriptionCount(): number {
    return this.subs.length;
  }

  private route(subject: string): Route {
    let route = this.routes.get(subject);
    if (route !== undefined) return route;
    checkSubject(subject);
    const tokens = subject.split('.');
    const plain: Sub[] = [];
    const byGroup = new Map<string, Sub[]>();
    for (const sub of this.subs) {
      if (!matchTokens(sub.tokens, tokens)) continue;
      if (sub.queue === undefined) plain.push(sub);
      else {
        const members = byGroup.get(sub.queue);
        if (members) members.push(sub);
        else byGroup.set(sub.queue, [sub]);
      }
    }
    route = { plain, groups: [...byGroup.values()].map((members) => ({ members, next: 0 })) };
    if (this.routes.size > 10_000) this.routes.clear();
    this.routes.set(subject, route);
    return route;
  }

  private deliver(env: Envelope): void {
    const route = this.route(env.subject);
    let delivered = 0;
    for (const sub of route.plain) {
      if (!sub.active) continue;
      delivered++;
      this.call(sub, env);
    }
    for (const group of route.groups) {
      const n = group.members.length;
      for (let tries = 0; tries < n; tries++) {
        const sub = group.members[group.next++ % n]!;
        if (!sub.active) continue;
        delivered++;
        this.call(sub, env);
        break;
      }
    }
    if (delivered === 0) {
      const reply = noRespondersReply(env);
      if (reply !== undefined) this.pending.push(reply);
    }
  }

  private call(sub: Sub, env: Envelope): void {
    try {
      sub.handler(env);
    } catch (err) {
      this.onHandlerError(err, env);
    }
  }
}
