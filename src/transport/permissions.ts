// Subject permissions, NATS-style (docs/security.md): allow and deny lists of subject patterns
// for publishing and for subscribing. A publish is allowed when some allow pattern matches the
// subject and no deny pattern does. A subscription is allowed when its pattern is covered by an
// allow pattern (every subject it could match is allowed) and no deny pattern covers it; when a
// deny pattern only overlaps it, the subscription stands and the denied subjects are filtered
// out of what it receives (as nats-server does).
import { ConfigError } from '../protocol/index.js';
import { checkPattern, matchTokens } from './subject.js';

export interface SubjectPermission {
  /** Patterns allowed; undefined allows everything, [] nothing. */
  allow?: readonly string[];
  deny?: readonly string[];
}

/** What a subscription may do: refused, allowed, or allowed with some subjects filtered out. */
export type SubscribeVerdict = 'deny' | 'allow' | 'filter';

const MAX_VERDICTS = 4096;

/** One compiled allow/deny list. */
export class SubjectRule {
  private readonly allow: string[][] | undefined;
  private readonly deny: string[][];
  private readonly verdicts = new Map<string, boolean>();

  constructor(permission: SubjectPermission | undefined, field: string) {
    this.allow = permission?.allow?.map((p) => compile(p, `${field}.allow`));
    this.deny = (permission?.deny ?? []).map((p) => compile(p, `${field}.deny`));
  }

  /** True when nothing is restricted (allow everything, deny nothing). */
  get open(): boolean {
    return this.allow === undefined && this.deny.length === 0;
  }

  /** May a message be published on this concrete subject? */
  allowsSubject(subject: string): boolean {
    if (this.allow === undefined && this.deny.length === 0) return true;
    // A peer sends on few subjects (a stream's every item goes to one inbox): remembered.
    let verdict = this.verdicts.get(subject);
    if (verdict === undefined) {
      const tokens = subject.split('.');
      verdict =
        (this.allow === undefined || this.allow.some((a) => matchTokens(a, tokens))) &&
        !this.deny.some((d) => matchTokens(d, tokens));
      if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.clear();
      this.verdicts.set(subject, verdict);
    }
    return verdict;
  }

  /** May a subscription on `pattern` be made, and must its messages be filtered? */
  subscribeVerdict(pattern: string): SubscribeVerdict {
    const tokens = pattern.split('.');
    if (this.allow !== undefined && !this.allow.some((a) => covers(a, tokens))) return 'deny';
    if (this.deny.some((d) => covers(d, tokens))) return 'deny';
    return this.deny.some((d) => overlaps(d, tokens)) ? 'filter' : 'allow';
  }
}

function compile(pattern: string, field: string): string[] {
  try {
    return checkPattern(pattern);
  } catch {
    throw new ConfigError(
      `${field}: '${pattern}' is not a subject pattern (tokens, '*', or a final '>')`,
    );
  }
}

/** True when every subject matching `inner` also matches `outer`. */
export function covers(outer: readonly string[], inner: readonly string[]): boolean {
  for (let i = 0; i < outer.length; i++) {
    const o = outer[i]!;
    if (o === '>') return inner.length > i;
    const t = inner[i];
    if (t === undefined || t === '>') return false;
    if (o !== '*' && (t === '*' || t !== o)) return false;
  }
  return inner.length === outer.length;
}

/** True when some subject matches both patterns. */
export function overlaps(a: readonly string[], b: readonly string[]): boolean {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x === '>' || y === '>') return x !== undefined && y !== undefined;
    if (x === undefined || y === undefined) return false;
    if (x !== '*' && y !== '*' && x !== y) return false;
  }
  return true;
}
