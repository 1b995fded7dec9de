// Subscriptions of the amqp transport. Plain subscriptions share one exclusive, auto-delete
// queue per transport, bound to the subject exchange once per distinct pattern; a message is
// matched locally against every subscription, so one publisher's order holds across all of
// them and overlapping patterns still get one copy each. A queue group is a shared auto-delete
// queue per (pattern, group) that every member process consumes from (competing consumers);
// members inside one process take turns.
import { noRespondersReply } from '../queue-policy.js';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Codec } from '../../codec/codec.js';
import { ClosedError, type Envelope } from '../../protocol/index.js';
import { checkPattern, isValidSubject, matchTokens } from '../subject.js';
import type { MessageHandler, SubscribeOptions, TransportSubscription } from '../transport.js';
import { ManagedChannel, type AmqpLink } from './connection.js';
import { bindingKey, type Names } from './names.js';

interface Sub {
  readonly tokens: string[];
  readonly handler: MessageHandler;
  active: boolean;
}

/** A subscription's `ready`, settled once its binding or consumer is in place. */
interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Binding {
  count: number;
  /** The channel generation this key is bound on. */
  boundOn: number;
  readonly waiting: Waiter[];
}

interface Group {
  readonly queue: string;
  readonly key: string;
  members: Sub[];
  next: number;
  consumerTag: string | undefined;
  /** An openGroup is under way on the current channel: nobody else starts one. */
  opening?: boolean;
  readonly waiting: Waiter[];
}

export class Subscriptions {
  private readonly managed: ManagedChannel<Channel>;
  private queueName = '';
  private subs: Sub[] = [];
  private readonly routes = new Map<string, Sub[]>();
  private readonly bindings = new Map<string, Binding>();
  private readonly groups = new Map<string, Group>();
  private closed = false;
  private readonly onError: (err: unknown, env?: Envelope) => void;

  constructor(
    link: AmqpLink,
    private readonly names: Names,
    private readonly codec: Codec,
    onError: (err: unknown, env?: Envelope) => void,
  ) {
    // Unbinds and cancels still on their way when the transport closes fail harmlessly.
    this.onError = (err, env) => {
      if (!this.closed) onError(err, env);
    };
    link.onShutdown((err) => this.failWaiters(err));
    this.managed = new ManagedChannel<Channel>(link, {
      confirm: false,
      setup: (ch) => this.setup(ch),
      // A subscription made between the end of the setup's loops and the channel becoming
      // current found no channel to bind on: bind it now.
      onReady: (ch) => void this.catchUp(ch),
      onLost: () => {
        for (const g of this.groups.values()) {
          g.consumerTag = undefined;
          g.opening = false;
        }
      },
    });
    this.managed.start();
  }

  private async setup(ch: Channel): Promise<void> {
    const exchange = this.names.exchange;
    await ch.assertExchange(exchange, 'topic', { durable: true });
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    this.queueName = q.queue;
    await ch.consume(q.queue, (msg) => this.onPlain(msg), { noAck: true });
    const gen = this.managed.generation + 1; // the generation this channel gets once set up
    // Subscriptions made while this runs are picked up by the loops, not lost between them.
    for (let missing = this.unbound(gen); missing.length > 0; missing = this.unbound(gen)) {
      for (const [key, b] of missing) {
        await ch.bindQueue(q.queue, exchange, key);
        this.markBound(b, gen);
      }
    }
    for (let open = this.unopened(); open.length > 0; open = this.unopened()) {
      for (const g of open) await this.openGroup(ch, g);
    }
  }

  private async catchUp(ch: Channel): Promise<void> {
    const gen = this.managed.generation;
    try {
      for (let missing = this.unbound(gen); missing.length > 0; missing = this.unbound(gen)) {
        for (const [key, b] of missing) {
          await ch.bindQueue(this.queueName, this.names.exchange, key);
          this.markBound(b, gen);
        }
      }
      for (let open = this.unopened(); open.length > 0; open = this.unopened()) {
        for (const g of open) await this.openGroup(ch, g);
      }
    } catch (err) {
      this.onError(err); // the channel closes; its next setup binds again
    }
  }

  private unbound(gen: number): [string, Binding][] {
    return [...this.bindings].filter(([, b]) => b.boundOn !== gen);
  }
  private unopened(): Group[] {
    return [...this.groups.values()].filter(
      (g) => g.consumerTag === undefined && g.opening !== true,
    );
  }

  private markBound(b: Binding, gen: number): void {
    b.boundOn = gen;
    for (const w of b.waiting.splice(0)) w.resolve();
  }

  /** The link is down for good: subscriptions still waiting to be ready never will be. */
  private failWaiters(err: Error): void {
    for (const x of [...this.bindings.values(), ...this.groups.values()]) {
      for (const w of x.waiting.splice(0)) w.reject(err);
    }
  }

  private async openGroup(ch: Channel, g: Group): Promise<void> {
    g.opening = true;
    try {
      await this.openGroupOn(ch, g);
    } finally {
      g.opening = false;
    }
  }

  private async openGroupOn(ch: Channel, g: Group): Promise<void> {
    await ch.assertQueue(g.queue, { durable: false, autoDelete: true, exclusive: false });
    await ch.bindQueue(g.queue, this.names.exchange, g.key);
    const { consumerTag } = await ch.consume(g.queue, (msg) => this.onGroup(g, msg), {
      noAck: true,
    });
    g.consumerTag = consumerTag;
    if (this.groups.get(g.queue) !== g) {
      await ch.cancel(consumerTag); // every member left while it was being opened
      return;
    }
    for (const w of g.waiting.splice(0)) w.resolve();
  }

  subscribe(
    pattern: string,
    handler: MessageHandler,
    options: SubscribeOptions = {},
  ): TransportSubscription {
    const tokens = checkPattern(pattern);
    const sub: Sub = { tokens, handler, active: true };
    const key = bindingKey(tokens);
    const ready =
      options.queue === undefined
        ? this.addPlain(sub, key)
        : this.addMember(sub, key, pattern, options.queue);
    ready.catch(() => undefined); // a caller who never awaits `ready` must not see it reject
    return {
      ready,
      unsubscribe: () => {
        if (!sub.active) return;
        sub.active = false;
        if (options.queue === undefined) this.removePlain(sub, key);
        else this.removeMember(sub, this.names.groupQueue(pattern, options.queue));
      },
    };
  }

  private addPlain(sub: Sub, key: string): Promise<void> {
    this.subs = [...this.subs, sub];
    this.routes.clear();
    let b = this.bindings.get(key);
    if (b === undefined) {
      b = { count: 0, boundOn: -1, waiting: [] };
      this.bindings.set(key, b);
      const ch = this.managed.current;
      if (ch !== undefined) {
        const gen = this.managed.generation;
        const binding = b;
        ch.bindQueue(this.queueName, this.names.exchange, key).then(
          () => this.markBound(binding, gen),
          (err: unknown) => this.onError(err), // the channel closes; its next setup binds again
        );
      }
    }
    b.count++;
    if (b.boundOn === this.managed.generation && this.managed.current !== undefined) {
      return Promise.resolve();
    }
    const binding = b;
    return new Promise<void>((resolve, reject) => binding.waiting.push({ resolve, reject }));
  }

  private removePlain(sub: Sub, key: string): void {
    this.subs = this.subs.filter((s) => s !== sub);
    this.routes.clear();
    const b = this.bindings.get(key);
    if (b === undefined || --b.count > 0) return;
    this.bindings.delete(key);
    for (const w of b.waiting.splice(0)) w.resolve(); // unsubscribed before it was ready
    const ch = this.managed.current;
    if (ch !== undefined && b.boundOn === this.managed.generation) {
      ch.unbindQueue(this.queueName, this.names.exchange, key).catch((e: unknown) =>
        this.onError(e),
      );
    }
  }

  private addMember(sub: Sub, key: string, pattern: string, group: string): Promise<void> {
    const queue = this.names.groupQueue(pattern, group);
    let g = this.groups.get(queue);
    if (g === undefined) {
      g = { queue, key, members: [], next: 0, consumerTag: undefined, waiting: [] };
      this.groups.set(queue, g);
      const ch = this.managed.current;
      if (ch !== undefined) this.openGroup(ch, g).catch((e: unknown) => this.onError(e));
    }
    g.members = [...g.members, sub];
    if (g.consumerTag !== undefined) return Promise.resolve();
    const opening = g;
    return new Promise<void>((resolve, reject) => opening.waiting.push({ resolve, reject }));
  }

  private removeMember(sub: Sub, queue: string): void {
    const g = this.groups.get(queue);
    if (g === undefined) return;
    g.members = g.members.filter((m) => m !== sub);
    if (g.members.length > 0) return;
    this.groups.delete(queue);
    for (const w of g.waiting.splice(0)) w.resolve(); // unsubscribed before it was ready
    // Cancelling the last consumer lets the broker delete the auto-delete queue, unless
    // another process still has members in the group.
    const ch = this.managed.current;
    if (ch !== undefined && g.consumerTag !== undefined) {
      ch.cancel(g.consumerTag).catch((e: unknown) => this.onError(e));
    }
  }

  private decode(msg: ConsumeMessage | null): Envelope | undefined {
    if (msg === null) return undefined; // the broker cancelled the consumer; setup runs again
    try {
      return this.codec.decode(msg.content);
    } catch (err) {
      this.onError(err);
      return undefined;
    }
  }

  private onPlain(msg: ConsumeMessage | null): void {
    const env = this.decode(msg);
    if (env !== undefined) this.deliver(env);
  }

  private onGroup(g: Group, msg: ConsumeMessage | null): void {
    const env = this.decode(msg);
    if (env === undefined) return;
    const n = g.members.length;
    for (let tries = 0; tries < n; tries++) {
      const sub = g.members[g.next++ % n]!;
      if (!sub.active || !matchTokens(sub.tokens, env.subject.split('.'))) continue;
      this.call(sub, env);
      return;
    }
  }

  /** Hands an envelope to this process's plain subscriptions that match its subject. */
  deliver(env: Envelope): void {
    let subs = this.routes.get(env.subject);
    if (subs === undefined) {
      const tokens = env.subject.split('.');
      subs = isValidSubject(env.subject)
        ? this.subs.filter((s) => matchTokens(s.tokens, tokens))
        : [];
      if (this.routes.size > 10_000) this.routes.clear();
      this.routes.set(env.subject, subs);
    }
    for (const sub of subs) if (sub.active) this.call(sub, env);
  }

  /**
   * A request that no queue took came back (basic.return of a mandatory publish): the
   * requester, which is in this process, gets `no_responders` on its reply subject.
   */
  noResponders(env: Envelope): void {
    const reply = noRespondersReply(env);
    if (reply !== undefined) this.deliver(reply);
  }

  private call(sub: Sub, env: Envelope): void {
    try {
      sub.handler(env);
    } catch (err) {
      this.onError(err, env);
    }
  }

  close(): Promise<void> {
    this.closed = true;
    this.failWaiters(new ClosedError('amqp transport'));
    return this.managed.stop();
  }
}
