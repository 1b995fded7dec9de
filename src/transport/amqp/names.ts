// Names of everything the amqp transport declares on the broker, and the mapping of llmwire
// subject patterns onto AMQP topic binding keys. One namespace (the subject exchange's name)
// prefixes every object, so deployments sharing a vhost stay apart.
import { createHash } from 'node:crypto';
import { ConfigError, InvalidMessageError } from '../../protocol/index.js';

/** Levels of the delay ladder: level l holds a message 2^l ms, so delays up to 2^31 - 1 ms. */
export const DELAY_LEVELS = 31;
export const MAX_DELAY_MS = 2 ** DELAY_LEVELS - 1;

/** AMQP 0-9-1 short strings (routing keys, queue and exchange names) hold 255 bytes. */
const SHORTSTR_MAX = 255;
const NAMESPACE_RE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,31}$/;

export interface QueueNames {
  /** Unkeyed messages: priorities, competing consumers, x-max-length for maxDepth. */
  readonly main: string;
  /** Keyed messages: FIFO with a single active consumer, so one process holds every key's order. */
  readonly keyed: string;
  /** Retries and delayed messages coming back from the delay ladder (never refused for depth). */
  readonly retry: string;
  readonly dead: string;
}

export class Names {
  /** The topic exchange subjects are published to; also the namespace of every other name. */
  readonly exchange: string;
  /** Where the delay ladder hands messages back, routed by destination queue name. */
  readonly delayOut: string;

  constructor(namespace: string) {
    if (!NAMESPACE_RE.test(namespace)) {
      throw new ConfigError(
        `amqp exchange '${namespace}' must be 1-32 characters of letters, digits, '_', '-' or '.'`,
      );
    }
    this.exchange = namespace;
    this.delayOut = `${namespace}.delay.out`;
  }

  queue(name: string): QueueNames {
    const base = `${this.exchange}.q.${name}`;
    return { main: base, keyed: `${base}.keyed`, retry: `${base}.retry`, dead: `${base}.dead` };
  }

  /** Exchange and queue of one ladder level share this name. */
  delayLevel(level: number): string {
    return `${this.exchange}.delay.${level}`;
  }

  /**
   * The shared queue of one queue group on one pattern. Hashed, because patterns and group
   * names may hold characters (and lengths) a queue name cannot; the readable prefix helps
   * whoever lists the broker's queues.
   */
  groupQueue(pattern: string, group: string): string {
    const hash = createHash('sha256').update(`${pattern}\u0000${group}`).digest('hex').slice(0, 20);
    const label = group.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
    return `${this.exchange}.g.${label}.${hash}`;
  }
}

/**
 * The AMQP binding key for an llmwire pattern. '*' means one token in both; llmwire's final
 * '>' means one or more tokens, AMQP's '#' zero or more, so '>' becomes '*.#' (exactly the
 * same set of subjects). Receivers still match locally, because one queue carries the
 * bindings of every pattern this transport subscribes to.
 */
export function bindingKey(patternTokens: readonly string[]): string {
  return patternTokens.map((t) => (t === '>' ? '*.#' : t)).join('.');
}

/** Refuses a subject too long to be an AMQP routing key. */
export function checkRoutingKey(subject: string): void {
  if (Buffer.byteLength(subject) > SHORTSTR_MAX) {
    throw new InvalidMessageError(
      `subject of ${Buffer.byteLength(subject)} bytes is longer than an AMQP routing key (255)`,
    );
  }
}

/** Routing key into the ladder: one '0'/'1' word per level, highest first, then the queue. */
export function delayRoutingKey(units: number, destination: string): string {
  const words: string[] = [];
  for (let level = DELAY_LEVELS - 1; level >= 0; level--) {
    words.push(Math.floor(units / 2 ** level) % 2 === 1 ? '1' : '0');
  }
  return `${words.join('.')}.${destination}`;
}

/** Binding key of a ladder level: its own bit set (or clear), any value for the others. */
export function delayBindingKey(level: number, bit: '0' | '1'): string {
  const before = DELAY_LEVELS - 1 - level;
  return [...Array<string>(before).fill('*'), bit, '#'].join('.');
}

/** Binding of a destination queue on the ladder's exit: any bits, then its own name. */
export function delayOutBindingKey(destination: string): string {
  return [...Array<string>(DELAY_LEVELS).fill('*'), destination].join('.');
}
