// Publish/subscribe over Redis pub/sub. A literal pattern SUBSCRIBEs its channel; a wildcard
// pattern PSUBSCRIBEs a glob that may match more than it should (glob '*' crosses dots), so
// every message is checked against the exact token rules before a handler sees it.
// Queue groups: groups.ts elects the process that delivers each message; within that process,
// its members of the group take turns.
import type { Redis } from 'ioredis';
import type { Codec } from '../../codec/codec.js';
import {
  createEnvelope,
  OverloadedError,
  UnavailableError,
  type Envelope,
} from '../../protocol/index.js';
import { checkPattern, checkSubject, matchTokens } from '../subject.js';
import type { MessageHandler, SubscribeOptions, TransportSubscription } from '../transport.js';
import type { GroupClaims } from './groups.js';
import type { KeyLayout } from './keys.js';
import { redisFailure } from './queue-store.js';

interface LocalSub {
  readonly tokens: readonly string[];
  readonly handler: MessageHandler;
  readonly queue: string | undefined;
  active: boolean;
}

/** One Redis channel or glob, and the local subscriptions it feeds. */
interface Feed {
  readonly name: string;
  readonly glob: boolean;
  /** Replaced, never changed in place: a handler that (un)subscribes leaves a delivery alone. */
  subs: readonly LocalSub[];
  ready: Promise<void>;
  /** The subscribe command failed (the connection gave up on it); tried again on reconnect. */
  failed: boolean;
}

export interface PubSubOptions {
  /** Bytes of publishes Redis has not answered yet (all, while it is away) before refusing more. */
  maxBufferedBytes: number;
  /** True while every connection is up: what a refused publish is told. */
  isConnected: () => boolean;
  cmd: Redis;
  sub: Redis;
  keys: KeyLayout;
  codec: Codec;
  groups: GroupClaims;
  onError: (err: unknown) => void;
}

export class RedisPubSub {
  private readonly feeds = new Map<string, Feed>();
  private readonly turns = new Map<string, number>();
  private bufferedBytes = 0;

  constructor(private readonly o: PubSubOptions) {
    o.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      this.receive(this.feeds.get(`c${channel.toString()}`), channel, message);
    });
    o.sub.on('pmessageBuffer', (pattern: Buffer | string, channel: Buffer, message: Buffer) => {
      this.receive(this.feeds.get(`p${pattern.toString()}`), channel, message);
    });
  }

  publish(env: Envelope): void {
    checkSubject(env.subject);
    const frame = this.o.codec.encode(env);
    const size = frame.byteLength;
    // ioredis holds commands while it reconnects, without a bound; this is the bound.
    if (this.bufferedBytes + size > this.o.maxBufferedBytes && this.bufferedBytes > 0) {
      throw this.o.isConnected()
        ? new OverloadedError('redis is not keeping up with publishes; publish later')
        : new UnavailableError(
            'not connected to redis, and the buffer for publishes made meanwhile is full',
          );
    }
    this.bufferedBytes += size;
    const sent = this.o.cmd.publish(this.o.keys.channel(env.subject), asBuffer(frame));
    void sent.then(
      () => (this.bufferedBytes -= size),
      () => (this.bufferedBytes -= size),
    );
    // PUBLISH answers how many subscriptions (channels and globs) it reached; 0 means nobody,
    // and a request then gets its no_responders answer at once (transport.ts).
    if (env.replyTo !== undefined && env.kind !== 'error') {
      sent.then((receivers) => {
        if (receivers === 0) this.noResponders(env);
      }, this.o.onError);
    } else {
      sent.catch(this.o.onError);
    }
  }

  private noResponders(request: Envelope): void {
    try {
      this.publish(
        createEnvelope({
          kind: 'error',
          subject: request.replyTo!,
          corr: request.id,
          body: {
            code: 'no_responders',
            message: `no responders on '${request.subject}'`,
            retryable: true,
          },
        }),
      );
    } catch (err) {
      this.o.onError(err);
    }
  }

  subscribe(
    pattern: string,
    handler: MessageHandler,
    options: SubscribeOptions = {},
  ): TransportSubscription {
    const tokens = checkPattern(pattern);
    const glob = tokens.some((t) => t === '*' || t === '>');
    const name = glob ? this.o.keys.glob(tokens) : this.o.keys.channel(pattern);
    const id = `${glob ? 'p' : 'c'}${name}`;
    let feed = this.feeds.get(id);
    if (feed === undefined) {
      const created: Feed = {
        name,
        glob,
        subs: [],
        ready: Promise.resolve(),
        failed: false,
      };
      created.ready = this.register(created);
      feed = created;
      this.feeds.set(id, feed);
    }
    const sub: LocalSub = { tokens, handler, queue: options.queue, active: true };
    feed.subs = [...feed.subs, sub];
    if (sub.queue !== undefined && !glob) this.o.groups.join(sub.queue, pattern);
    const owner = feed;
    return {
      ready: owner.ready,
      unsubscribe: () => {
        if (!sub.active) return;
        sub.active = false;
        owner.subs = owner.subs.filter((s) => s !== sub);
        if (sub.queue !== undefined && !glob) this.o.groups.leave(sub.queue, pattern);
        if (owner.subs.length > 0 || this.feeds.get(id) !== owner) return;
        this.feeds.delete(id);
        const command = owner.glob ? this.o.sub.punsubscribe(name) : this.o.sub.unsubscribe(name);
        command.catch(() => undefined); // gone with the connection is unsubscribed too
      },
    };
  }

  /** Subscribes again whatever failed to subscribe before the connection came back. */
  retryFailed(): void {
    for (const feed of this.feeds.values()) {
      if (feed.failed) void this.register(feed).catch(() => undefined);
    }
  }

  private register(feed: Feed): Promise<void> {
    feed.failed = false;
    const command = feed.glob ? this.o.sub.psubscribe(feed.name) : this.o.sub.subscribe(feed.name);
    const ready = command.then(
      () => undefined,
      (err: unknown) => {
        feed.failed = true;
        const failure = redisFailure(err);
        this.o.onError(failure);
        throw failure;
      },
    );
    ready.catch(() => undefined); // a caller who never awaits `ready` must not see it reject
    return ready;
  }

  private receive(feed: Feed | undefined, channel: Buffer, message: Buffer): void {
    if (feed === undefined) return; // unsubscribed while the message was on its way
    const subject = this.o.keys.subjectOf(channel.toString());
    if (subject === undefined) return;
    const subjectTokens = subject.split('.');
    let env: Envelope | undefined;
    let groups: Map<string, LocalSub[]> | undefined;
    for (const sub of feed.subs) {
      if (!sub.active || (feed.glob && !matchTokens(sub.tokens, subjectTokens))) continue;
      if (env === undefined) {
        try {
          env = this.o.codec.decode(message);
        } catch (err) {
          this.o.onError(err);
          return;
        }
      }
      if (sub.queue === undefined) {
        this.call(sub, env);
        continue;
      }
      groups ??= new Map();
      const members = groups.get(sub.queue);
      if (members === undefined) groups.set(sub.queue, [sub]);
      else members.push(sub);
    }
    if (groups === undefined || env === undefined) return;
    for (const [group, members] of groups) this.claim(group, members, env);
  }

  private claim(group: string, members: LocalSub[], env: Envelope): void {
    this.o.groups.claim(group, env, () => {
      const turn = this.turns.get(group) ?? 0;
      this.turns.set(group, turn + 1);
      for (let i = 0; i < members.length; i++) {
        const sub = members[(turn + i) % members.length]!;
        if (!sub.active) continue;
        this.call(sub, env);
        return;
      }
    });
  }

  private call(sub: LocalSub, env: Envelope): void {
    try {
      sub.handler(env);
    } catch (err) {
      this.o.onError(err);
    }
  }
}

function asBuffer(frame: Uint8Array): Buffer {
  return Buffer.isBuffer(frame)
    ? frame
    : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
}
