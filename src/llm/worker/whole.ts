// A whole answer from a streamed one: what a worker sends for an `inference.request` that did
// not ask for a stream (no `credit`; docs/protocol.md, "inference.request").
import type { InferenceResult } from '../../protocol/index.js';
import { ToolCallJoiner } from '../tool-calls.js';

/** Runs a streamed answer to its end: the text of every delta, joined, in one result. */
export async function wholeAnswer(
  stream: AsyncGenerator<{ text: string; tool_calls?: unknown[] }, InferenceResult>,
): Promise<InferenceResult> {
  let text = '';
  const tools = new ToolCallJoiner();
  for (;;) {
    const step = await stream.next();
    if (step.done === true) {
      const calls = tools.result();
      return calls === undefined
        ? { ...step.value, text }
        : { ...step.value, text, tool_calls: calls };
    }
    text += step.value.text;
    if (step.value.tool_calls !== undefined) tools.add(step.value.tool_calls);
  }
}
