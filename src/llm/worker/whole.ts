// A whole answer from a streamed one: what a worker sends for an `inference.request` that did
// not ask for a stream (no `credit`; docs/protocol.md, "inference.request").
import type { InferenceResult } from '../../protocol/index.js';
import { AnswerJoiner } from '../answer.js';
import type { TokenDelta } from '../backends/backend.js';

/** Runs a streamed answer to its end: every delta joined into one result. */
export async function wholeAnswer(
  stream: AsyncGenerator<TokenDelta, InferenceResult>,
): Promise<InferenceResult> {
  const answer = new AnswerJoiner();
  for (;;) {
    const step = await stream.next();
    if (step.done === true) return answer.result(step.value);
    answer.add(step.value);
  }
}
