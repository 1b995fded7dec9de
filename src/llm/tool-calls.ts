// Tool calls streamed as OpenAI deltas, joined back into whole calls: by the worker for an
// answer sent whole and by the gateway for a non-streamed chat completion.
import type { InferenceResult } from '../protocol/index.js';

type ToolCall = NonNullable<InferenceResult['tool_calls']>[number];

/** Joins OpenAI-style tool-call deltas (by `index`; `arguments` concatenated) into tool calls. */
export class ToolCallJoiner {
  private readonly calls = new Map<number, ToolCall>();

  add(deltas: readonly unknown[]): void {
    for (const [i, raw] of deltas.entries()) {
      if (typeof raw !== 'object' || raw === null) continue;
      const d = raw as {
        index?: unknown;
        id?: unknown;
        function?: { name?: unknown; arguments?: unknown };
      };
      const index = typeof d.index === 'number' ? d.index : i;
      let call = this.calls.get(index);
      if (call === undefined) {
        call = { id: '', type: 'function', function: { name: '', arguments: '' } };
        this.calls.set(index, call);
      }
      if (typeof d.id === 'string' && d.id !== '') call.id = d.id;
      if (typeof d.function?.name === 'string') call.function.name += d.function.name;
      if (typeof d.function?.arguments === 'string') {
        call.function.arguments += d.function.arguments;
      }
    }
  }

  /** The joined calls in index order, or undefined when there were none. */
  result(): InferenceResult['tool_calls'] {
    if (this.calls.size === 0) return undefined;
    return [...this.calls.entries()].sort((a, b) => a[0] - b[0]).map(([, call]) => call);
  }
}
