// The sim's answer text (textSteps) against a plain reference that keeps the whole answer and
// slices it every token (the same stop search and hold-back, run on the whole text): the same
// pieces, the same end, and the same refusals, over many plans with and without stop sequences
// and continue_from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  firstStop,
  heldBack,
  textSteps,
  type TextPlan,
} from '../../../src/llm/backends/sim/text.js';
import { SeededRandom } from '../../../src/llm/backends/sim/random.js';

/** The answer as textSteps gives it: its pieces and end, or the error it threw. */
function runSteps(steps: Generator<string, unknown, void>): { pieces: string[]; end: unknown } {
  const pieces: string[] = [];
  try {
    for (let step = steps.next(); ; step = steps.next()) {
      if (step.done === true) return { pieces, end: step.value };
      pieces.push(step.value);
    }
  } catch (err) {
    return { pieces, end: `threw ${(err as Error).message}` };
  }
}

/** The whole answer with no stops and no limit but `tokens`. */
function answerOf(plan: TextPlan, tokens: number): string {
  return runSteps(
    textSteps({ ...plan, stop: [], continueFrom: '', maxTokens: tokens }),
  ).pieces.join('');
}

const notAPrefix = () =>
  new Error('continue_from is not a prefix of the answer this model gives to this request');

/** The simple form: the whole text kept and sliced each token. */
function* reference(plan: TextPlan, words: string[]): Generator<string, unknown, void> {
  const stops = plan.stop.filter((s) => s.length > 0);
  const longest = stops.reduce((n, s) => Math.max(n, s.length), 0);
  const sent = plan.continueFrom;
  let text = '';
  let released = sent.length;
  for (let tokens = 1; tokens <= words.length; tokens++) {
    const before = text.length;
    text += words[tokens - 1];
    if (before < sent.length) {
      const end = Math.min(text.length, sent.length);
      if (text.slice(before, end) !== sent.slice(before, end)) throw notAPrefix();
    }
    const cut = stops.length === 0 ? -1 : firstStop(text, stops, before - longest + 1);
    if (cut !== -1) {
      if (cut < sent.length) throw notAPrefix();
      if (text.length > sent.length) yield text.slice(released, cut);
      const stopSequence = stops.find((stop) => text.startsWith(stop, cut));
      return { finish: 'stop', tokens, ...(stopSequence === undefined ? {} : { stopSequence }) };
    }
    if (tokens === words.length) {
      if (text.length < sent.length) throw notAPrefix();
      if (text.length > sent.length) yield text.slice(released);
      return { finish: plan.maxTokens === undefined ? 'stop' : 'length', tokens };
    }
    if (text.length <= sent.length) continue;
    const held = heldBack(text, stops);
    const safe = text.length - held;
    const piece = safe > released ? text.slice(released, safe) : '';
    released = Math.max(released, safe);
    yield piece;
  }
  return undefined;
}

test('sim text - the same pieces and end as the whole-text reference, over 600 plans', () => {
  const random = new SeededRandom('sim-text-test', 1);
  const seen = { stopped: 0, refused: 0, continued: 0 };
  for (let i = 0; i < 600; i++) {
    const tokens = 1 + random.below(60);
    const base: TextPlan = {
      model: 'm',
      prompt: `prompt ${i}`,
      seed: i,
      naturalTokens: { min: 1, max: 2 },
      maxTokens: tokens,
      stop: [],
      continueFrom: '',
    };
    const answer = answerOf(base, tokens);
    // The words, one per token, as the generator draws them.
    const words = runSteps(textSteps({ ...base, stop: [] })).pieces;
    assert.equal(words.join(''), answer);
    const piece = () => {
      const from = random.below(answer.length);
      return answer.slice(from, from + 1 + random.below(6));
    };
    const stop =
      random.below(3) === 0 ? [] : [piece(), ...(random.below(2) === 0 ? [] : [piece()])];
    const cut = random.below(answer.length + 1);
    const continueFrom = [
      '',
      answer.slice(0, cut),
      answer.slice(0, cut) + 'x', // not a prefix (unless the answer goes on with an x)
    ][random.below(3)]!;
    const plan = { ...base, stop, continueFrom };
    const got = runSteps(textSteps(plan));
    assert.deepEqual(
      got,
      runSteps(reference(plan, words)),
      JSON.stringify({ i, stop, continueFrom, answer }),
    );
    if (typeof got.end === 'string') seen.refused++;
    else if ((got.end as { stopSequence?: string }).stopSequence !== undefined) seen.stopped++;
    if (continueFrom !== '' && typeof got.end !== 'string') seen.continued++;
  }
  // Every path was taken, many times.
  for (const [path, n] of Object.entries(seen)) assert.ok(n >= 50, `${path}: ${n} plans`);
});
