// A streamed answer joined back into a whole one: text, reasoning and refusal concatenated,
// tool-call deltas joined into calls (by `index`, `arguments` concatenated). Used by the worker
// for an answer sent whole, by the gateway for a non-streamed one, and by the dispatcher to know
// what a failed worker already sent.
import type { InferenceResult, ToolCall, ToolCallDelta } from '../protocol/index.js';
import type { TokenDelta } from './backends/backend.js';

/** Text pieces kept before they are joined into one flat string. */
const JOIN_EVERY = 64;

export class AnswerJoiner {
  reasoning = '';
  refusal = '';
  private calls: Map<number, ToolCall> | undefined;
  /**
   * The text so far, as a flat string and the pieces added since. A string grown by `+=` keeps
   * a 32-byte rope node per piece for as long as the answer lives (the dispatcher holds one per
   * open stream); joining every JOIN_EVERY pieces keeps about a byte per character instead.
   */
  private joined = '';
  private pieces: string[] = [];

  /** The text added so far. */
  get text(): string {
    this.join();
    return this.joined;
  }

  private join(): void {
    if (this.pieces.length === 0) return;
    this.joined += this.pieces.join('');
    this.pieces = [];
  }

  add(delta: TokenDelta): void {
    if (delta.text !== '' && this.pieces.push(delta.text) >= JOIN_EVERY) this.join();
    if (delta.reasoning !== undefined) this.reasoning += delta.reasoning;
    if (delta.refusal !== undefined) this.refusal += delta.refusal;
    if (delta.tool_calls !== undefined) this.addCalls(delta.tool_calls);
  }

  private addCalls(deltas: readonly ToolCallDelta[]): void {
    const calls = (this.calls ??= new Map());
    for (const d of deltas) {
      let call = calls.get(d.index);
      if (call === undefined) {
        call = { id: '', type: 'function', function: { name: '', arguments: '' } };
        calls.set(d.index, call);
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
    if (this.calls === undefined || this.calls.size === 0) return undefined;
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
