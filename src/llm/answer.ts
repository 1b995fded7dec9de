// A streamed answer joined back into a whole one: text, reasoning and refusal concatenated,
// tool-call deltas joined into calls (by `index`, `arguments` concatenated). Used by the worker
// for an answer sent whole, by the gateway for a non-streamed one, and by the dispatcher to know
// what a failed worker already sent.
import type { InferenceResult, ToolCall, ToolCallDelta } from '../protocol/index.js';
import type { TokenDelta } from './backends/backend.js';

export class AnswerJoiner {
  text = '';
  reasoning = '';
  refusal = '';
  private readonly calls = new Map<number, ToolCall>();

  add(delta: TokenDelta): void {
    this.text += delta.text;
    if (delta.reasoning !== undefined) this.reasoning += delta.reasoning;
    if (delta.refusal !== undefined) this.refusal += delta.refusal;
    if (delta.tool_calls !== undefined) this.addCalls(delta.tool_calls);
  }

  private addCalls(deltas: readonly ToolCallDelta[]): void {
    for (const d of deltas) {
      let call = this.calls.get(d.index);
      if (call === undefined) {
        call = { id: '', type: 'function', function: { name: '', arguments: '' } };
        this.calls.set(d.index, call);
      }
      if (typeof d.id === 'string' && d.id !== '') call.id = d.id;
      if (typeof d.function?.name === 'string') call.function.name += d.function.name;
      if (typeof d.function?.arguments === 'string') {
        call.function.arguments += d.function.arguments;
      }
    }
  }

  /** The joined calls in index order, or undefined when there were none. */
  toolCalls(): ToolCall[] | undefined {
    if (this.calls.size === 0) return undefined;
    return [...this.calls.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, call]) => ({ ...call, function: { ...call.function } }));
  }

  /** The final result of a stream with everything joined in (a stream's own result holds none of it). */
  result(end: InferenceResult): InferenceResult {
    const result: InferenceResult = { ...end, text: this.text };
    const calls = this.toolCalls();
    if (calls !== undefined) result.tool_calls = calls;
    if (this.reasoning !== '') result.reasoning = this.reasoning;
    if (this.refusal !== '') result.refusal = this.refusal;
    return result;
  }
}
