// The OpenAI Responses API request body (`POST /v1/responses`), as the official SDK's
// `ResponseCreateParams` defines it. Every field is named: an unknown one is refused, as OpenAI
// refuses it. Input items are checked one by one against the schema of their `type`, so an
// error names the item and its field.
import { Type, type Static, type TObject } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { InvalidMessageError } from '../../../protocol/index.js';
import { schemaError } from '../body.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Optional(Type.Union([t, Type.Null()]));

const InputText = Type.Object({ type: Type.Literal('input_text'), text: Type.String() });
const InputImage = Type.Object({
  type: Type.Literal('input_image'),
  image_url: Nullable(Type.String({ minLength: 1 })),
  file_id: Nullable(Type.String()),
  detail: Type.Optional(
    Type.Union([Type.Literal('auto'), Type.Literal('low'), Type.Literal('high')]),
  ),
});
const InputFile = Type.Object({
  type: Type.Literal('input_file'),
  file_data: Type.Optional(Type.String()),
  file_id: Nullable(Type.String()),
  file_url: Type.Optional(Type.String()),
  filename: Type.Optional(Type.String()),
});
const InputAudio = Type.Object({
  type: Type.Literal('input_audio'),
  input_audio: Type.Object({ data: Type.String(), format: Type.String() }),
});
const OutputText = Type.Object({
  type: Type.Literal('output_text'),
  text: Type.String(),
  annotations: Type.Optional(Type.Array(Type.Unknown())),
  logprobs: Type.Optional(Type.Array(Type.Unknown())),
});
const Refusal = Type.Object({ type: Type.Literal('refusal'), refusal: Type.String() });

/** The content part schemas by `type`. */
export const CONTENT_SCHEMAS = {
  input_text: InputText,
  input_image: InputImage,
  input_file: InputFile,
  input_audio: InputAudio,
  output_text: OutputText,
  refusal: Refusal,
} as const;
export type ContentPart = Static<(typeof CONTENT_SCHEMAS)[keyof typeof CONTENT_SCHEMAS]>;

const Status = Type.Optional(
  Type.Union([Type.Literal('in_progress'), Type.Literal('completed'), Type.Literal('incomplete')]),
);

const MessageItem = Type.Object({
  type: Type.Optional(Type.Literal('message')),
  id: Type.Optional(Type.String()),
  role: Type.Union([
    Type.Literal('user'),
    Type.Literal('assistant'),
    Type.Literal('system'),
    Type.Literal('developer'),
  ]),
  content: Type.Union([Type.String(), Type.Array(Type.Unknown())]),
  status: Status,
});
const FunctionCallItem = Type.Object({
  type: Type.Literal('function_call'),
  id: Type.Optional(Type.String()),
  call_id: Type.String({ minLength: 1 }),
  name: Type.String({ minLength: 1, maxLength: 64 }),
  arguments: Type.String(),
  status: Status,
});
const FunctionCallOutputItem = Type.Object({
  type: Type.Literal('function_call_output'),
  id: Nullable(Type.String()),
  call_id: Type.String({ minLength: 1 }),
  output: Type.Union([Type.String(), Type.Array(Type.Unknown())]),
  status: Nullable(Status),
});
const ReasoningItem = Type.Object({
  type: Type.Literal('reasoning'),
  id: Type.Optional(Type.String()),
  summary: Type.Array(Type.Object({ type: Type.Literal('summary_text'), text: Type.String() })),
  content: Type.Optional(
    Type.Array(Type.Object({ type: Type.Literal('reasoning_text'), text: Type.String() })),
  ),
  encrypted_content: Nullable(Type.String()),
  status: Status,
});

/** The input item schemas by `type` (a message may leave `type` out). */
export const ITEM_SCHEMAS = {
  message: MessageItem,
  function_call: FunctionCallItem,
  function_call_output: FunctionCallOutputItem,
  reasoning: ReasoningItem,
} as const;
export type MessageInput = Static<typeof MessageItem>;
export type InputItem =
  | MessageInput
  | Static<typeof FunctionCallItem>
  | Static<typeof FunctionCallOutputItem>
  | Static<typeof ReasoningItem>;

const FunctionTool = Type.Object({
  type: Type.Literal('function'),
  name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  description: Nullable(Type.String()),
  parameters: Nullable(Type.Record(Type.String(), Type.Unknown())),
  strict: Nullable(Type.Boolean()),
});
export type FunctionTool = Static<typeof FunctionTool>;

const TextFormat = Type.Union([
  Type.Object({ type: Type.Literal('text') }),
  Type.Object({ type: Type.Literal('json_object') }),
  Type.Object({
    type: Type.Literal('json_schema'),
    name: Type.String({ minLength: 1, maxLength: 64 }),
    schema: Type.Record(Type.String(), Type.Unknown()),
    description: Type.Optional(Type.String()),
    strict: Nullable(Type.Boolean()),
  }),
]);

const Metadata = Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 512 }), {
  maxProperties: 16,
});

const Effort = Type.Union([
  Type.Literal('none'),
  Type.Literal('minimal'),
  Type.Literal('low'),
  Type.Literal('medium'),
  Type.Literal('high'),
  Type.Literal('xhigh'),
]);

export const ResponseCreateSchema = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 256 }),
    input: Type.Optional(Type.Union([Type.String(), Type.Array(Type.Unknown(), { minItems: 1 })])),
    instructions: Nullable(Type.String()),
    previous_response_id: Nullable(Type.String({ minLength: 1, maxLength: 128 })),
    store: Nullable(Type.Boolean()),
    background: Nullable(Type.Boolean()),
    stream: Nullable(Type.Boolean()),
    stream_options: Nullable(Type.Object({ include_obfuscation: Type.Optional(Type.Boolean()) })),
    tools: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 128 })),
    tool_choice: Type.Optional(Type.Unknown()),
    parallel_tool_calls: Nullable(Type.Boolean()),
    max_output_tokens: Nullable(Type.Integer({ minimum: 1 })),
    max_tool_calls: Nullable(Type.Integer({ minimum: 1 })),
    temperature: Nullable(Type.Number({ minimum: 0, maximum: 2 })),
    top_p: Nullable(Type.Number({ minimum: 0, maximum: 1 })),
    top_logprobs: Nullable(Type.Integer({ minimum: 0, maximum: 20 })),
    text: Type.Optional(
      Type.Object({
        format: Type.Optional(TextFormat),
        verbosity: Nullable(
          Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high')]),
        ),
      }),
    ),
    reasoning: Nullable(
      Type.Object({
        effort: Nullable(Effort),
        summary: Nullable(
          Type.Union([Type.Literal('auto'), Type.Literal('concise'), Type.Literal('detailed')]),
        ),
        generate_summary: Nullable(
          Type.Union([Type.Literal('auto'), Type.Literal('concise'), Type.Literal('detailed')]),
        ),
      }),
    ),
    metadata: Nullable(Metadata),
    user: Type.Optional(Type.String({ maxLength: 256 })),
    safety_identifier: Nullable(Type.String({ maxLength: 256 })),
    prompt_cache_key: Nullable(Type.String({ maxLength: 256 })),
    prompt_cache_retention: Nullable(Type.Union([Type.Literal('in_memory'), Type.Literal('24h')])),
    service_tier: Nullable(
      Type.Union([
        Type.Literal('auto'),
        Type.Literal('default'),
        Type.Literal('flex'),
        Type.Literal('scale'),
        Type.Literal('priority'),
      ]),
    ),
    truncation: Nullable(Type.Union([Type.Literal('auto'), Type.Literal('disabled')])),
    include: Nullable(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 16 })),
    /** Not served: a conversation object, a stored prompt template, context management. */
    conversation: Nullable(Type.Unknown()),
    prompt: Nullable(Type.Unknown()),
    context_management: Nullable(Type.Unknown()),
    moderation: Nullable(Type.Unknown()),
    prompt_cache_options: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
export type ResponseCreate = Static<typeof ResponseCreateSchema>;

const itemChecks = Object.fromEntries(
  Object.entries(ITEM_SCHEMAS).map(([type, schema]) => [type, TypeCompiler.Compile(schema)]),
);
const contentChecks = Object.fromEntries(
  Object.entries(CONTENT_SCHEMAS).map(([type, schema]) => [type, TypeCompiler.Compile(schema)]),
);
const toolCheck = TypeCompiler.Compile(FunctionTool);

/** Checks one value against the compiled schema of its `type`; the error names `at`. */
function checkTyped<T>(
  value: unknown,
  at: string,
  checks: Record<string, ReturnType<typeof TypeCompiler.Compile<TObject>>>,
  fallback: string | undefined,
  what: string,
): T {
  const type =
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? ((value as { type?: unknown }).type ?? fallback)
      : undefined;
  const check = typeof type === 'string' ? checks[type] : undefined;
  if (check === undefined) {
    const known = Object.keys(checks).join(', ');
    throw new InvalidMessageError(
      typeof type === 'string'
        ? `${at}: ${what} type '${type.slice(0, 64)}' is not served by llmwire (served: ${known})`
        : `${at} must be an object with a 'type' (${known})`,
      { details: { param: at } },
    );
  }
  if (!check.Check(value)) throw schemaError(check, value, what, at);
  return value as T;
}

export function checkItem(value: unknown, at: string): InputItem {
  return checkTyped<InputItem>(value, at, itemChecks, 'message', 'input item');
}

export function checkContent(value: unknown, at: string): ContentPart {
  return checkTyped<ContentPart>(value, at, contentChecks, undefined, 'content part');
}

export function checkTool(value: unknown, at: string): FunctionTool {
  return checkTyped<FunctionTool>(value, at, { function: toolCheck }, undefined, 'tool');
}
