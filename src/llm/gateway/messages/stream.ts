// A streamed answer as Anthropic's Messages events: message_start, ping, then per content
// block content_block_start, its deltas and content_block_stop, then message_delta and
// message_stop. Thinking, text and each tool call are blocks of their own, in the order the
// deltas come; a new block starts when the kind of delta (or the tool call's index) changes.
import type { InferenceResult, WireError } from '../../../protocol/index.js';
import type { TokenDelta } from '../../backends/backend.js';
import type { AnswerStream } from '../face.js';
import type { SseWriter } from '../sse.js';
import { anthropicError, anthropicUsage, signature, stopReason } from './format.js';

type Open =
  | { kind: 'thinking'; index: number; text: string }
  | { kind: 'text'; index: number }
  | { kind: 'tool'; index: number; call: number };

export class MessagesStream implements AnswerStream {
  private open: Open | undefined;
  private blocks = 0;
  /** Content block index of each tool call index, for arguments that come after its block closed. */
  private readonly toolBlocks = new Map<number, number>();

  constructor(
    private readonly sse: SseWriter,
    private readonly id: string,
    private readonly model: string,
    private readonly estimatedInputTokens: number,
  ) {}

  async start(): Promise<void> {
    const message = {
      id: this.id,
      type: 'message',
      role: 'assistant',
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // The real counts come with message_delta; the prompt's is estimated until then.
      usage: {
        input_tokens: this.estimatedInputTokens,
        output_tokens: 0,
        cache_creation_input_tokens: null,
        cache_read_input_tokens: null,
      },
    };
    await this.emit('message_start', { type: 'message_start', message });
    await this.emit('ping', { type: 'ping' });
  }

  delta(delta: TokenDelta): Promise<void> {
    // The hot path, once per token: more text of the open text block, one template write.
    if (
      this.open?.kind === 'text' &&
      delta.text !== '' &&
      delta.reasoning === undefined &&
      delta.refusal === undefined &&
      delta.tool_calls === undefined
    ) {
      return this.blockDelta(this.open.index, 'text_delta', 'text', delta.text);
    }
    return this.anyDelta(delta);
  }

  private async anyDelta(delta: TokenDelta): Promise<void> {
    if (delta.reasoning !== undefined && delta.reasoning !== '') {
      const block = await this.ensure('thinking');
      if (block.kind === 'thinking') block.text += delta.reasoning;
      await this.blockDelta(block.index, 'thinking_delta', 'thinking', delta.reasoning);
    }
    const text = delta.text + (delta.refusal ?? '');
    if (text !== '') {
      const block = await this.ensure('text');
      await this.blockDelta(block.index, 'text_delta', 'text', text);
    }
    for (const call of delta.tool_calls ?? []) await this.toolDelta(call);
  }

  async finish(result: InferenceResult): Promise<void> {
    await this.close();
    await this.emit('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReason(result), stop_sequence: result.stop_sequence ?? null },
      usage: anthropicUsage(result.usage),
    });
    await this.emit('message_stop', { type: 'message_stop' });
    this.sse.end();
  }

  fail(error: WireError): Promise<void> {
    return this.sse.error(JSON.stringify(anthropicError(error)));
  }

  private async toolDelta(call: NonNullable<TokenDelta['tool_calls']>[number]): Promise<void> {
    let index = this.toolBlocks.get(call.index);
    if (index === undefined) {
      await this.close();
      index = this.blocks++;
      this.toolBlocks.set(call.index, index);
      this.open = { kind: 'tool', index, call: call.index };
      await this.emit('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: {
          type: 'tool_use',
          id: call.id ?? `call_${index}`,
          name: call.function?.name ?? '',
          input: {},
        },
      });
    } else if (this.open?.kind !== 'tool' || this.open.call !== call.index) {
      // Calls are streamed one after another; more of an earlier one (no API sends that) goes
      // to its block, which clients accumulate by index.
      await this.close();
    }
    const args = call.function?.arguments ?? '';
    if (args !== '') await this.blockDelta(index, 'input_json_delta', 'partial_json', args);
  }

  /** The open block if it is of `kind`; otherwise closes it and starts one. */
  private async ensure(kind: 'thinking' | 'text'): Promise<Open> {
    if (this.open?.kind === kind) return this.open;
    await this.close();
    const index = this.blocks++;
    this.open = kind === 'thinking' ? { kind, index, text: '' } : { kind, index };
    const contentBlock =
      kind === 'thinking'
        ? { type: 'thinking', thinking: '', signature: '' }
        : { type: 'text', text: '' };
    await this.emit('content_block_start', {
      type: 'content_block_start',
      index,
      content_block: contentBlock,
    });
    return this.open;
  }

  private async close(): Promise<void> {
    const open = this.open;
    if (open === undefined) return;
    this.open = undefined;
    if (open.kind === 'thinking') {
      await this.blockDelta(open.index, 'signature_delta', 'signature', signature(open.text));
    }
    await this.emit('content_block_stop', { type: 'content_block_stop', index: open.index });
  }

  /** A `content_block_delta`, written from a template: only the value is serialized (per token). */
  private blockDelta(index: number, type: string, field: string, value: string): Promise<void> {
    return this.sse.event(
      'content_block_delta',
      `{"type":"content_block_delta","index":${index},"delta":{"type":"${type}","${field}":${JSON.stringify(value)}}}`,
    );
  }

  private emit(type: string, event: Record<string, unknown>): Promise<void> {
    return this.sse.event(type, JSON.stringify(event));
  }
}
