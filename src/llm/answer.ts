// A streamed answer joined back into a whole one: text, reasoning and refusal concatenated,
// tool-call deltas joined into calls (by `index`, `arguments` concatenated). Used by the worker
// for an answer sent whole, by the gateway for a non-streamed one, and by the dispatcher to know
// what a failed worker already sent.
import type { InferenceResult, ToolCall, ToolCallDelta } from '../protocol/index.js';
import type { TokenDelta } from './backends/backend.js';

/** Text pieces kept before they are joined into one flat string. */
const JOIN_EVERY = 64;

/**
 * Text that grows a piece at a time, for as long as a stream runs. A string grown by `+=` keeps
 * a 32-byte rope node per piece until it is read whole; this joins the pieces every JOIN_EVERY,
 * so an answer held open costs about a byte per character.
 */
export class TextPieces {
  private joined = '';
  private pieces: string[] = [];

  add(piece: string): void {
    if (piece !== '' && this.pieces.push(piece) >= JOIN_EVERY) this.join();
  }

  /** The text added so far. */
  get value(): string {
    this.join();
    return this.joined;
  }

  private join(): void {
    if (this.pieces.length === 0) return;
    this.joined += this.pieces.join('');
    this.pieces = [];
  }
}

export class AnswerJoiner {
  reasoning = '';
  refusal = '';
  private calls: Map<number, ToolCall> | undefined;
  /** What a failed worker already sent, held by the dispatcher for each open stream. */
  private readonly sentText = new TextPieces();

  /** The text added so far. */
  get text(): string {
    return this.sentText.value;
  }

  add(delta: TokenDelta): void {
    this.sentText.add(delta.text);
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
