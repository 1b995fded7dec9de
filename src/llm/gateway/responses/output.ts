// The Responses API's answer: the `response` object with its output items, whole or as the
// stream of typed events (`response.created` ... `response.completed`), field for field as the
// official SDK's types define them.
import { randomUUID } from 'node:crypto';
import type { InferenceResult, Usage, WireError } from '../../../protocol/index.js';
import type { TokenDelta } from '../../backends/backend.js';
import { TextPieces } from '../../answer.js';
import type { AnswerStream } from '../face.js';
import type { SseWriter } from '../sse.js';
import type { ResponseCreate } from './schema.js';

export type ResponseStatus =
  'queued' | 'in_progress' | 'completed' | 'incomplete' | 'failed' | 'cancelled';

export type ResponseJson = Record<string, unknown> & { id: string; status: ResponseStatus };
type Item = Record<string, unknown> & { id: string; type: string };

/** An unguessable id with the API's prefix (`resp_`, `msg_`, `fc_`, `rs_`). */
export function newId(prefix: string): string {
  // randomUUID draws from a cached pool of random bytes: much cheaper per call than randomBytes.
  // Its 32 hex digits without the dashes, cut out rather than searched for.
  const u = randomUUID();
  return `${prefix}_${u.slice(0, 8)}${u.slice(9, 13)}${u.slice(14, 18)}${u.slice(19, 23)}${u.slice(24)}`;
}

export function responsesUsage(usage: Usage): Record<string, unknown> {
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: usage.reasoning_tokens ?? 0 },
    total_tokens: usage.total_tokens,
  };
}

/** The fixed part of one response: what the request set, echoed as OpenAI echoes it. */
export class ResponseShape {
  readonly createdAt = Math.floor(Date.now() / 1000);
  readonly summary: boolean;

  constructor(
    readonly id: string,
    readonly create: ResponseCreate,
  ) {
    const r = create.reasoning;
    this.summary = (r?.summary ?? r?.generate_summary ?? null) !== null;
  }

  /** The response object in a state; `output` and `usage` once known. */
  json(
    status: ResponseStatus,
    extra: {
      output?: Item[];
      usage?: Usage;
      error?: WireError;
      incomplete?: string;
    } = {},
  ): ResponseJson {
    const c = this.create;
    const done = status === 'completed' || status === 'incomplete';
    return {
      id: this.id,
      object: 'response',
      created_at: this.createdAt,
      status,
      background: c.background ?? false,
      completed_at: done ? Math.floor(Date.now() / 1000) : null,
      error:
        extra.error === undefined ? null : { code: extra.error.code, message: extra.error.message },
      incomplete_details: extra.incomplete === undefined ? null : { reason: extra.incomplete },
      instructions: c.instructions ?? null,
      max_output_tokens: c.max_output_tokens ?? null,
      max_tool_calls: c.max_tool_calls ?? null,
      metadata: c.metadata ?? {},
      model: c.model,
      output: extra.output ?? [],
      parallel_tool_calls: c.parallel_tool_calls ?? true,
      previous_response_id: c.previous_response_id ?? null,
      reasoning: { effort: c.reasoning?.effort ?? null, summary: c.reasoning?.summary ?? null },
      safety_identifier: c.safety_identifier ?? null,
      service_tier: 'default',
      store: c.store ?? true,
      temperature: c.temperature ?? 1,
      text: {
        format: c.text?.format ?? { type: 'text' },
        verbosity: c.text?.verbosity ?? 'medium',
      },
      tool_choice: c.tool_choice ?? 'auto',
      tools: c.tools ?? [],
      top_logprobs: c.top_logprobs ?? 0,
      top_p: c.top_p ?? 1,
      truncation: c.truncation ?? 'disabled',
      usage: extra.usage === undefined ? null : responsesUsage(extra.usage),
      user: c.user ?? null,
    };
  }

  /** The finished response for a whole answer. */
  finished(result: InferenceResult, output: Item[]): ResponseJson {
    const incomplete = incompleteReason(result);
    return this.json(incomplete === undefined ? 'completed' : 'incomplete', {
      output,
      usage: result.usage,
      ...(incomplete === undefined ? {} : { incomplete }),
    });
  }

  reasoningItem(id: string, text: string): Item {
    return this.summary
      ? { id, type: 'reasoning', summary: [{ type: 'summary_text', text }] }
      : { id, type: 'reasoning', summary: [], content: [{ type: 'reasoning_text', text }] };
  }
}

function incompleteReason(result: InferenceResult): string | undefined {
  if (result.finish_reason === 'length') return 'max_output_tokens';
  if (result.finish_reason === 'content_filter') return 'content_filter';
  return undefined;
}

function textPart(text: string): Record<string, unknown> {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

/** The output items of a whole answer: reasoning, the message, then one item per tool call. */
export function outputItems(shape: ResponseShape, result: InferenceResult): Item[] {
  const items: Item[] = [];
  if (result.reasoning !== undefined)
    items.push(shape.reasoningItem(newId('rs'), result.reasoning));
  const content: Record<string, unknown>[] = [];
  if (result.text !== '') content.push(textPart(result.text));
  if (result.refusal !== undefined) content.push({ type: 'refusal', refusal: result.refusal });
  if (content.length > 0 || result.tool_calls === undefined) {
    items.push({
      id: newId('msg'),
      type: 'message',
      status: incompleteReason(result) === undefined ? 'completed' : 'incomplete',
      role: 'assistant',
      content: content.length > 0 ? content : [textPart('')],
    });
  }
  for (const call of result.tool_calls ?? []) {
    items.push({
      id: newId('fc'),
      type: 'function_call',
      status: 'completed',
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
    });
  }
  return items;
}

const LOGPROBS = ',"logprobs":[]';

/** What an open output item is streaming. */
type Open =
  | { kind: 'reasoning'; index: number; id: string; text: TextPieces }
  | {
      kind: 'message';
      index: number;
      id: string;
      text: TextPieces;
      refusal: string;
      part: 'text' | 'refusal' | undefined;
      parts: number;
      /** The fixed members of this part's delta events (see emitDelta). */
      fixed: string;
    }
  | undefined;

interface OpenCall {
  index: number;
  item: Item & { call_id: string; name: string; arguments: string };
}

/**
 * Streams one response as the API's events. `onDone` runs with the finished response before
 * its last event (storing it), so a client that chains on `response.completed` finds it.
 */
export class ResponsesStream implements AnswerStream {
  private seq = 0;
  private readonly items: Item[] = [];
  private open: Open;
  private readonly calls = new Map<number, OpenCall>();

  constructor(
    private readonly sse: SseWriter,
    private readonly shape: ResponseShape,
    private readonly onDone: (response: ResponseJson, result?: InferenceResult) => Promise<void>,
  ) {}

  private emit(type: string, fields: Record<string, unknown>): Promise<void> {
    return this.sse.event(type, JSON.stringify({ type, sequence_number: this.seq++, ...fields }));
  }

  /**
   * The per-token events (`*.delta`), written from a template: only the delta is serialized.
   * `at` is the event's fixed fields after `sequence_number`, as JSON members with a leading comma.
   */
  private emitDelta(type: string, at: string, delta: string, tail = ''): Promise<void> {
    return this.emitRaw(type, `${at},"delta":${JSON.stringify(delta)}${tail}`);
  }

  /** An event whose members after `sequence_number` are already JSON (`members`: `,"a":1,...`). */
  private emitRaw(type: string, members: string): Promise<void> {
    return this.sse.event(type, `{"type":"${type}","sequence_number":${this.seq++}${members}}`);
  }

  async start(): Promise<void> {
    const response = `,"response":${JSON.stringify(this.shape.json('in_progress'))}`;
    await this.emitRaw('response.created', response);
    await this.emitRaw('response.in_progress', response);
  }

  delta(delta: TokenDelta): Promise<void> {
    // The hot path, once per token: more text of the open text part, one template write.
    const open = this.open;
    if (
      open?.kind === 'message' &&
      open.part === 'text' &&
      delta.text !== '' &&
      delta.reasoning === undefined &&
      delta.refusal === undefined &&
      delta.tool_calls === undefined
    ) {
      open.text.add(delta.text);
      return this.emitDelta('response.output_text.delta', open.fixed, delta.text, LOGPROBS);
    }
    return this.anyDelta(delta);
  }

  private async anyDelta(delta: TokenDelta): Promise<void> {
    if (delta.reasoning !== undefined && delta.reasoning !== '')
      await this.reasoning(delta.reasoning);
    if (delta.text !== '') await this.messageText('text', delta.text);
    if (delta.refusal !== undefined && delta.refusal !== '') {
      await this.messageText('refusal', delta.refusal);
    }
    for (const call of delta.tool_calls ?? []) await this.toolCall(call);
  }

  private async reasoning(text: string): Promise<void> {
    let open = this.open;
    if (open?.kind !== 'reasoning') {
      await this.closeOpen();
      open = {
        kind: 'reasoning',
        index: this.items.length,
        id: newId('rs'),
        text: new TextPieces(),
      };
      this.open = open;
      this.items.push({ id: open.id, type: 'reasoning' });
      const item = this.shape.summary
        ? { id: open.id, type: 'reasoning', summary: [] }
        : { id: open.id, type: 'reasoning', summary: [], content: [] };
      await this.emit('response.output_item.added', { output_index: open.index, item });
      const at = { item_id: open.id, output_index: open.index };
      await (this.shape.summary
        ? this.emit('response.reasoning_summary_part.added', {
            ...at,
            summary_index: 0,
            part: { type: 'summary_text', text: '' },
          })
        : this.emit('response.content_part.added', {
            ...at,
            content_index: 0,
            part: { type: 'reasoning_text', text: '' },
          }));
    }
    open.text.add(text);
    const at = `,"item_id":"${open.id}","output_index":${open.index}`;
    await (this.shape.summary
      ? this.emitDelta('response.reasoning_summary_text.delta', `${at},"summary_index":0`, text)
      : this.emitDelta('response.reasoning_text.delta', `${at},"content_index":0`, text));
  }

  private async messageText(part: 'text' | 'refusal', text: string): Promise<void> {
    let open = this.open;
    if (open?.kind !== 'message') {
      await this.closeOpen();
      open = {
        kind: 'message',
        index: this.items.length,
        id: newId('msg'),
        text: new TextPieces(),
        refusal: '',
        part: undefined,
        parts: 0,
        fixed: '',
      };
      this.open = open;
      this.items.push({ id: open.id, type: 'message' });
      await this.emit('response.output_item.added', {
        output_index: open.index,
        item: {
          id: open.id,
          type: 'message',
          status: 'in_progress',
          role: 'assistant',
          content: [],
        },
      });
    }
    if (open.part !== part) {
      await this.closePart(open);
      open.part = part;
      open.parts++;
      open.fixed = `,"item_id":"${open.id}","output_index":${open.index},"content_index":${open.parts - 1}`;
      await this.emit('response.content_part.added', {
        item_id: open.id,
        output_index: open.index,
        content_index: open.parts - 1,
        part: part === 'text' ? textPart('') : { type: 'refusal', refusal: '' },
      });
    }
    if (text === '') return;
    if (part === 'text') {
      open.text.add(text);
      await this.emitDelta('response.output_text.delta', open.fixed, text, LOGPROBS);
    } else {
      open.refusal += text;
      await this.emitDelta('response.refusal.delta', open.fixed, text);
    }
  }

  private async toolCall(delta: NonNullable<TokenDelta['tool_calls']>[number]): Promise<void> {
    let call = this.calls.get(delta.index);
    if (call === undefined) {
      await this.closeOpen();
      call = {
        index: this.items.length,
        item: {
          id: newId('fc'),
          type: 'function_call',
          status: 'in_progress',
          call_id: delta.id ?? '',
          name: delta.function?.name ?? '',
          arguments: '',
        },
      };
      this.calls.set(delta.index, call);
      this.items.push(call.item);
      await this.emit('response.output_item.added', {
        output_index: call.index,
        item: { ...call.item },
      });
    }
    const piece = delta.function?.arguments ?? '';
    if (piece !== '') {
      call.item.arguments += piece;
      await this.emitDelta(
        'response.function_call_arguments.delta',
        `,"item_id":"${call.item.id}","output_index":${call.index}`,
        piece,
      );
    }
  }

  /** Ends the open message part: its `.done` and `content_part.done` events. */
  private async closePart(open: Extract<Open, { kind: 'message' }>): Promise<void> {
    if (open.part === undefined) return;
    if (open.part === 'text') {
      // The whole text is in both events: serialized once.
      const text = JSON.stringify(open.text.value);
      await this.emitRaw('response.output_text.done', `${open.fixed},"text":${text}${LOGPROBS}`);
      await this.emitRaw(
        'response.content_part.done',
        `${open.fixed},"part":{"type":"output_text","text":${text},"annotations":[]${LOGPROBS}}`,
      );
    } else {
      const at = { item_id: open.id, output_index: open.index, content_index: open.parts - 1 };
      await this.emit('response.refusal.done', { ...at, refusal: open.refusal });
      await this.emit('response.content_part.done', {
        ...at,
        part: { type: 'refusal', refusal: open.refusal },
      });
    }
  }

  /** Ends the open reasoning or message item, with its done events. */
  private async closeOpen(status = 'completed'): Promise<void> {
    const open = this.open;
    if (open === undefined) return;
    this.open = undefined;
    let item: Item;
    const text = open.text.value;
    if (open.kind === 'reasoning') {
      const at = { item_id: open.id, output_index: open.index };
      if (this.shape.summary) {
        await this.emit('response.reasoning_summary_text.done', {
          ...at,
          summary_index: 0,
          text,
        });
        await this.emit('response.reasoning_summary_part.done', {
          ...at,
          summary_index: 0,
          part: { type: 'summary_text', text },
        });
      } else {
        await this.emit('response.reasoning_text.done', {
          ...at,
          content_index: 0,
          text,
        });
        await this.emit('response.content_part.done', {
          ...at,
          content_index: 0,
          part: { type: 'reasoning_text', text },
        });
      }
      item = this.shape.reasoningItem(open.id, text);
    } else {
      await this.closePart(open);
      const content: Record<string, unknown>[] = [];
      if (text !== '') content.push(textPart(text));
      if (open.refusal !== '') content.push({ type: 'refusal', refusal: open.refusal });
      item = { id: open.id, type: 'message', status, role: 'assistant', content };
    }
    this.items[open.index] = item;
    await this.emit('response.output_item.done', { output_index: open.index, item });
  }

  async finish(result: InferenceResult): Promise<void> {
    const response = this.shape.finished(result, []);
    await this.closeOpen(response.status === 'completed' ? 'completed' : 'incomplete');
    for (const call of this.calls.values()) {
      call.item.status = 'completed';
      await this.emit('response.function_call_arguments.done', {
        item_id: call.item.id,
        output_index: call.index,
        name: call.item.name,
        arguments: call.item.arguments,
      });
      await this.emit('response.output_item.done', { output_index: call.index, item: call.item });
    }
    if (this.items.length === 0) {
      // An empty answer is still one (empty) message, as a whole response has it.
      await this.messageText('text', '');
      await this.closeOpen(response.status === 'completed' ? 'completed' : 'incomplete');
    }
    response.output = this.items;
    await this.onDone(response, result);
    await this.emit(`response.${response.status}`, { response });
    this.sse.end();
  }

  async fail(error: WireError): Promise<void> {
    await this.closeOpen('incomplete');
    const response = this.shape.json('failed', { output: this.items, error });
    await this.onDone(response).catch(() => undefined);
    await this.emit('response.failed', { response });
    this.sse.end();
  }
}
