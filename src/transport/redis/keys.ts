// Where llmwire lives in a Redis keyspace: the channels subjects are published on, the glob
// patterns subscriptions are made with, and the keys of each durable queue. Everything sits
// under one prefix, so deployments (and tests) sharing a Redis do not meet.
import { ConfigError } from '../../protocol/index.js';

/** Characters Redis glob patterns treat specially (`stringmatchlen`). */
const GLOB_SPECIAL = /[*?[\]\\]/g;

export function checkPrefix(prefix: string): string {
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 128) {
    throw new ConfigError('redis transport prefix must be 1 to 128 characters');
  }
  if (/[\s{}]/.test(prefix)) {
    // Braces would change the cluster hash tag of queue keys; spaces make keys hard to handle.
    throw new ConfigError(`redis transport prefix '${prefix}' may not contain spaces or braces`);
  }
  return prefix;
}

function escapeGlob(text: string): string {
  return text.replace(GLOB_SPECIAL, (c) => `\\${c}`);
}

export class KeyLayout {
  /** What every subject channel starts with. */
  readonly subjectRoot: string;
  private readonly globRoot: string;

  constructor(readonly prefix: string) {
    this.subjectRoot = `${prefix}s:`;
    this.globRoot = escapeGlob(this.subjectRoot);
  }

  /** The channel a subject is published on. */
  channel(subject: string): string {
    return this.subjectRoot + subject;
  }

  /** The subject a channel carries, or undefined for a channel that is not a subject's. */
  subjectOf(channel: string): string | undefined {
    return channel.startsWith(this.subjectRoot)
      ? channel.slice(this.subjectRoot.length)
      : undefined;
  }

  /**
   * The glob a wildcard pattern subscribes with. Glob '*' also crosses dots, so '*' and '>' both
   * become '*' and the receiver filters each message on the exact token rules (subject.ts);
   * literal tokens are escaped, since subject tokens may hold '?', '[', ']' or '\'.
   */
  glob(tokens: readonly string[]): string {
    const parts = tokens.map((t) => (t === '*' || t === '>' ? '*' : escapeGlob(t)));
    return this.globRoot + parts.join('.');
  }

  /** Base of one queue's keys. The braces are a cluster hash tag: one queue, one slot. */
  queueBase(name: string): string {
    return `${this.prefix}q:{${name}}:`;
  }

  /** Base of one record store's keys (`<base><record key>`); one store, one cluster slot. */
  recordBase(store: string): string {
    return `${this.prefix}r:{${store}}:`;
  }

  /** The hash of one key of a limit store (limits.ts); one key, one cluster slot. */
  limitKey(store: string, key: string): string {
    return `${this.prefix}l:{${store}}:${key}`;
  }

  /** Root of the blob store's keys (blobs.ts): `<root>{<blob name>}:...` and `<root>names`. */
  blobRoot(): string {
    return `${this.prefix}b:`;
  }

  /** Published on (by the queue scripts) when a queue may have a message ready. */
  bell(queueBase: string): string {
    return `${queueBase}bell`;
  }

  /** Base of the keys electing which process delivers a group's messages on a subject. */
  groupBase(group: string, subject: string): string {
    return `${this.prefix}g:{${group}:${subject}}:`;
  }
}
