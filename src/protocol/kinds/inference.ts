// inference.request / .chunk / .result: what the OpenAI chat and completions APIs carry.
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
  user: Type.Optional(Type.String()),
  stream: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  stream_options: Type.Optional(
    Type.Union([Type.Object({ include_usage: Type.Optional(Type.Boolean()) }), Type.Null()]),
  ),
  /** Text already produced by an earlier attempt; the answer continues from it (failover). */
  continue_from: Type.Optional(Type.String()),
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
});
export type Usage = Static<typeof UsageSchema>;

/** One piece of a streamed answer. The envelope's `seq` orders chunks. */
export const InferenceChunkSchema = Type.Object({
  text: Type.String(),
  index: Type.Optional(Type.Integer({ minimum: 0 })),
  tool_calls: Type.Optional(Type.Array(Type.Unknown())),
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
  worker: Type.Optional(Type.String()),
});
export type InferenceResult = Static<typeof InferenceResultSchema>;
