// The simulator's answer text: a deterministic token sequence from a seeded generator, cut by
// max tokens or stop sequences, and resumable from any prefix of itself (continue_from).
import type { FinishReason } from '../../../protocol/index.js';
import { InvalidMessageError, type WireError } from '../../../protocol/index.js';
import { SeededRandom } from './random.js';

const WORDS = [
  'the', 'message', 'bus', 'carries', 'a', 'token', 'stream', 'to', 'every', 'worker',
  'model', 'prompt', 'cache', 'prefix', 'router', 'queue', 'request', 'reply', 'answer', 'of',
  'and', 'with', 'from', 'each', 'batch', 'deadline', 'is', 'sent', 'over', 'wire',
  'client', 'gateway', 'chunk', 'in', 'order', 'it', 'keeps', 'load', 'balanced', 'by',
  'heartbeat', 'that', 'holds', 'fast', 'small', 'large', 'on', 'time', 'when', 'then',
  'after', 'before', 'text', 'result', 'retry', 'credit', 'flow', 'ack', 'for', 'one',
] as const; // prettier-ignore

/** Chance that a token after a word is punctuation. */
const PUNCTUATION_RATE = 0.12;

/** What decides the text; nothing else (not the worker, not the time) may. */
export interface TextPlan {
  model: string;
  prompt: string;
  seed: number;
  /** Tokens in the answer when the request sets no max tokens. */
  naturalTokens: { min: number; max: number };
  maxTokens: number | undefined;
  stop: readonly string[];
  /** Text already sent; the steps yield only what follows it. */
  continueFrom: string;
}

export interface TextEnd {
  finish: Extract<FinishReason, 'stop' | 'length'>;
  /** The stop sequence that ended the text, when one did. */
  stopSequence?: string;
  /** Tokens in the whole answer, the continued-from part included. */
  tokens: number;
}

/**
 * Yields once per generated token after `continueFrom`, with the text that token releases to
 * the client. A token may release '' (its text could be the start of a stop sequence, so it is
 * held back, as vLLM does) or more than itself (held text that turned out not to be a stop).
 * Throws InvalidMessageError, before its first yield, when `continueFrom` is not a prefix of
 * the answer.
 */
export function* textSteps(plan: TextPlan): Generator<string, TextEnd, void> {
  const random = new SeededRandom('text', plan.model, plan.prompt, plan.seed);
  const { min, max } = plan.naturalTokens;
  const natural = min + random.below(max - min + 1);
  const answerTokens = plan.maxTokens ?? natural;
  const endReason = plan.maxTokens === undefined ? 'stop' : 'length';
  const stops = plan.stop.filter((s) => s.length > 0);
  const longestStop = stops.reduce((n, s) => Math.max(n, s.length), 0);
  const sent = plan.continueFrom;
  const words = new WordSource(random);

  // Only the text not yet released and the last characters a stop sequence could span are kept:
  // slicing the whole answer each token would flatten it each time (quadratic in its length).
  let length = 0;
  let released = sent.length;
  /** The answer from `released` to `length`: generated, not yet yielded. */
  let held = '';
  /** The answer's last longestStop - 1 characters before this token (stop search). */
  let tail = '';
  for (let tokens = 1; tokens <= answerTokens; tokens++) {
    const word = words.next();
    const before = length;
    length += word.length;
    if (before < sent.length) {
      const end = Math.min(length, sent.length);
      if (word.slice(0, end - before) !== sent.slice(before, end)) throw notAPrefix();
    }
    if (length > released) held += before >= released ? word : word.slice(released - before);
    // The stop search and hold-back look at the end of the answer: `window`, from `windowAt`.
    const window = stops.length === 0 ? word : tail + word;
    const windowAt = before - (window.length - word.length);
    if (longestStop > 1) tail = window.slice(-(longestStop - 1));
    const found = stops.length === 0 ? -1 : firstStop(window, stops, 0);
    if (found !== -1) {
      const cut = windowAt + found;
      if (cut < sent.length) throw notAPrefix();
      if (length > sent.length) yield held.slice(0, Math.max(0, cut - released));
      const stopSequence = stops.find((stop) => window.startsWith(stop, found));
      return stopSequence === undefined
        ? { finish: 'stop', tokens }
        : { finish: 'stop', tokens, stopSequence };
    }
    if (tokens === answerTokens) {
      if (length < sent.length) throw notAPrefix();
      if (length > sent.length) yield held;
      return { finish: endReason, tokens };
    }
    if (length <= sent.length) continue;
    const safe = length - (stops.length === 0 ? 0 : heldBack(window, stops));
    let piece = '';
    if (safe > released) {
      piece = held.slice(0, safe - released);
      held = held.slice(safe - released);
      released = safe;
    }
    yield piece;
  }
  // Only reached when length is 0, which validation rules out.
  return { finish: endReason, tokens: 0 };
}

/** Words with leading spaces and some punctuation, capitalised like sentences. */
class WordSource {
  private first = true;
  private afterPunctuation = false;
  private capital = true;

  constructor(private readonly random: SeededRandom) {}

  next(): string {
    if (!this.first && !this.afterPunctuation && this.random.next() < PUNCTUATION_RATE) {
      const mark = this.random.next() < 0.6 ? ',' : '.';
      this.afterPunctuation = true;
      this.capital = mark === '.';
      return mark;
    }
    const word = WORDS[this.random.below(WORDS.length)] ?? 'the';
    const shown = this.capital ? word.charAt(0).toUpperCase() + word.slice(1) : word;
    const token = this.first ? shown : ` ${shown}`;
    this.first = false;
    this.afterPunctuation = false;
    this.capital = false;
    return token;
  }
}

/** Index of the earliest stop sequence starting at or after `from`, or -1. */
export function firstStop(text: string, stops: readonly string[], from: number): number {
  let cut = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop, Math.max(0, from));
    if (at !== -1 && (cut === -1 || at < cut)) cut = at;
  }
  return cut;
}

/** Length of the longest end of `text` that a stop sequence starts with (and is not all of). */
export function heldBack(text: string, stops: readonly string[]): number {
  let held = 0;
  for (const stop of stops) {
    for (let k = Math.min(stop.length - 1, text.length); k > held; k--) {
      if (text.endsWith(stop.slice(0, k))) {
        held = k;
        break;
      }
    }
  }
  return held;
}

function notAPrefix(): WireError {
  return new InvalidMessageError(
    'continue_from is not a prefix of the answer this model gives to this request',
  );
}
