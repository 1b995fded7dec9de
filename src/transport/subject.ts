// Subjects and patterns: '.'-separated tokens; in patterns '*' matches exactly one token and
// '>' (last token only) matches one or more. The same rules as NATS subjects, so the NATS
// adapter maps them one to one and the other adapters implement them here.
import { InvalidMessageError } from '../protocol/index.js';

/** A token: no whitespace, no '.', no wildcard characters. */
const TOKEN = String.raw`[^\s.*>]+`;
const TOKEN_RE = new RegExp(`^${TOKEN}$`);
/** A whole concrete subject in one pass (no split per publish). */
const SUBJECT_RE = new RegExp(`^${TOKEN}(?:\\.${TOKEN})*$`);

/** Throws InvalidMessageError unless `subject` is a concrete subject (no wildcards). */
export function checkSubject(subject: string): void {
  if (!isValidSubject(subject)) {
    throw new InvalidMessageError(
      `invalid subject '${subject}': use non-empty '.'-separated tokens without spaces or wildcards`,
    );
  }
}

export function isValidSubject(subject: string): boolean {
  return subject.length > 0 && subject.length <= 512 && SUBJECT_RE.test(subject);
}

/** Throws InvalidMessageError unless `pattern` is a valid subscription pattern. */
export function checkPattern(pattern: string): string[] {
  const tokens = pattern.split('.');
  const ok =
    pattern.length > 0 &&
    pattern.length <= 512 &&
    tokens.every((t, i) => t === '*' || (t === '>' && i === tokens.length - 1) || TOKEN_RE.test(t));
  if (!ok) {
    throw new InvalidMessageError(
      `invalid subject pattern '${pattern}': tokens are names, '*', or a final '>'`,
    );
  }
  return tokens;
}

/** True when the concrete subject (given as tokens) matches the pattern tokens. */
export function matchTokens(pattern: readonly string[], subject: readonly string[]): boolean {
  const n = pattern.length;
  for (let i = 0; i < n; i++) {
    const p = pattern[i]!;
    if (p === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== '*' && p !== subject[i]) return false;
  }
  return subject.length === n;
}
