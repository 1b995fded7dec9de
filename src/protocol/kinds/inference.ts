// inference.request / .chunk / .result: one shape for every API the gateway speaks. OpenAI chat
// completions, completions, Responses and Anthropic Messages are faces of it (docs/protocol.md):
// the request carries chat messages with content parts and tool calls, the stream carries text,
// reasoning text, refusal text and tool-call deltas, and the result says how the answer ended.
// Unknown extra fields are kept (vLLM and other servers accept extensions), but every field
// named here is checked.
import { Type, type Static } from '@sinclair/typebox';

const TextPart = Type.Object({ type: Type.Literal('text'), text: Type.String() });
const ImagePart = Type.Object({
  type: Type.Literal('image_url'),
  image_url: Type.Object({
    url: Type.String({ minLength: 1 }),
    detail: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('low'), Type.Literal('high')]),
    ),
  }),
});
const AudioPart = Type.Object({
  type: Type.Literal('input_audio'),
  input_audio: Type.Object({ data: Type.String(), format: Type.String() }),
});
const FilePart = Type.Object({
  type: Type.Literal('file'),
  file: Type.Record(Type.String(), Type.Unknown()),
});
export const ContentPartSchema = Type.Union([TextPart, ImagePart, AudioPart, FilePart]);

export const ToolCallSchema = Type.Object({
  id: Type.String(),
  type: Type.Literal('function'),
  function: Type.Object({ name: Type.String(), arguments: Type.String() }),
});
export type ToolCall = Static<typeof ToolCallSchema>;

/**
 * A piece of a tool call in a stream: the first piece of call `index` carries its `id` and
 * `function.name`; later pieces carry more of `function.arguments`, to be concatenated.
 */
export const ToolCallDeltaSchema = Type.Object({
  index: Type.Integer({ minimum: 0, maximum: 1023 }),
  id: Type.Optional(Type.String()),
  type: Type.Optional(Type.Literal('function')),
  function: Type.Optional(
    Type.Object({
      name: Type.Optional(Type.String()),
      arguments: Type.Optional(Type.String()),
    }),
  ),
});
export type ToolCallDelta = Static<typeof ToolCallDeltaSchema>;

export const ChatMessageSchema = Type.Object({
  role: Type.Union([
    Type.Literal('system'),
    Type.Literal('developer'),
    Type.Literal('user'),
    Type.Literal('assistant'),
    Type.Literal('tool'),
  ]),
  content: Type.Union([Type.String(), Type.Array(ContentPartSchema), Type.Null()]),
  name: Type.Optional(Type.String()),
  tool_calls: Type.Optional(Type.Array(ToolCallSchema)),
  tool_call_id: Type.Optional(Type.String()),
  /** An assistant turn's reasoning text, when the API that sent it keeps reasoning in history. */
  reasoning: Type.Optional(Type.String()),
});
export type ChatMessage = Static<typeof ChatMessageSchema>;

const ToolSchema = Type.Object({
  type: Type.Literal('function'),
  function: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 64 }),
    description: Type.Optional(Type.String()),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    strict: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  }),
});

const ResponseFormatSchema = Type.Union([
  Type.Object({ type: Type.Literal('text') }),
  Type.Object({ type: Type.Literal('json_object') }),
  Type.Object({
    type: Type.Literal('json_schema'),
    json_schema: Type.Object({
      name: Type.String({ minLength: 1 }),
      description: Type.Optional(Type.String()),
      schema: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      strict: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    }),
  }),
]);

const Stop = Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 }), Type.Null()]);

export const InferenceRequestSchema = Type.Object({
  model: Type.String({ minLength: 1, maxLength: 256 }),
  /** Chat form; absent for a plain completion, which sends `prompt`. */
  messages: Type.Optional(Type.Array(ChatMessageSchema, { minItems: 1 })),
  prompt: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  temperature: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 2 }), Type.Null()])),
  top_p: Type.Optional(Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()])),
  n: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 128 }), Type.Null()])),
  max_tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  max_completion_tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  stop: Type.Optional(Stop),
  seed: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  presence_penalty: Type.Optional(
    Type.Union([Type.Number({ minimum: -2, maximum: 2 }), Type.Null()]),
  ),
  frequency_penalty: Type.Optional(
    Type.Union([Type.Number({ minimum: -2, maximum: 2 }), Type.Null()]),
  ),
  logit_bias: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Number()), Type.Null()])),
  logprobs: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  top_logprobs: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 20 }), Type.Null()])),
  tools: Type.Optional(Type.Array(ToolSchema)),
  tool_choice: Type.Optional(Type.Unknown()),
  parallel_tool_calls: Type.Optional(Type.Boolean()),
  response_format: Type.Optional(ResponseFormatSchema),
  /** Asks for reasoning text before the answer (Responses `reasoning.effort`, Messages `thinking`). */
  reasoning_effort: Type.Optional(
    Type.Union([
      Type.Literal('minimal'),
      Type.Literal('low'),
      Type.Literal('medium'),
      Type.Literal('high'),
      Type.Null(),
    ]),
  ),
  user: Type.Optional(Type.String()),
  stream: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  stream_options: Type.Optional(
    Type.Union([Type.Object({ include_usage: Type.Optional(Type.Boolean()) }), Type.Null()]),
  ),
  /** Text already produced by an earlier attempt; the answer continues from it (failover). */
  continue_from: Type.Optional(Type.String()),
  /** Reasoning text already produced by an earlier attempt (failover). */
  continue_reasoning: Type.Optional(Type.String()),
  /** Tool calls already begun by an earlier attempt, arguments as far as they were sent. */
  continue_tool_calls: Type.Optional(Type.Array(ToolCallSchema)),
});
export type InferenceRequest = Static<typeof InferenceRequestSchema>;

export const FinishReasonSchema = Type.Union([
  Type.Literal('stop'),
  Type.Literal('length'),
  Type.Literal('tool_calls'),
  Type.Literal('content_filter'),
]);
export type FinishReason = Static<typeof FinishReasonSchema>;

export const UsageSchema = Type.Object({
  prompt_tokens: Type.Integer({ minimum: 0 }),
  completion_tokens: Type.Integer({ minimum: 0 }),
  total_tokens: Type.Integer({ minimum: 0 }),
  cached_tokens: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Of `completion_tokens`, those spent on reasoning text. */
  reasoning_tokens: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type Usage = Static<typeof UsageSchema>;

/** One piece of a streamed answer. The envelope's `seq` orders chunks. */
export const InferenceChunkSchema = Type.Object({
  text: Type.String(),
  index: Type.Optional(Type.Integer({ minimum: 0 })),
  tool_calls: Type.Optional(Type.Array(ToolCallDeltaSchema)),
  /** More reasoning text (it comes before the answer text it leads to). */
  reasoning: Type.Optional(Type.String()),
  /** More refusal text: the model declines, in place of an answer. */
  refusal: Type.Optional(Type.String()),
  finish_reason: Type.Optional(Type.Union([FinishReasonSchema, Type.Null()])),
  usage: Type.Optional(UsageSchema),
});
export type InferenceChunk = Static<typeof InferenceChunkSchema>;

export const InferenceResultSchema = Type.Object({
  model: Type.String({ minLength: 1 }),
  text: Type.String(),
  finish_reason: FinishReasonSchema,
  usage: UsageSchema,
  tool_calls: Type.Optional(Type.Array(ToolCallSchema)),
  reasoning: Type.Optional(Type.String()),
  refusal: Type.Optional(Type.String()),
  /** With finish_reason `stop`: the stop sequence that ended the answer (not part of `text`). */
  stop_sequence: Type.Optional(Type.String()),
  worker: Type.Optional(Type.String()),
});
export type InferenceResult = Static<typeof InferenceResultSchema>;
