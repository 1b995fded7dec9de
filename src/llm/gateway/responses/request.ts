// A Responses API request as the one `inference.request` every API maps onto.
import {
  InvalidMessageError,
  type ChatMessage,
  type InferenceRequest,
} from '../../../protocol/index.js';
import { checkTool, type ResponseCreate } from './schema.js';

/** Fields the Responses API has and llmwire does not serve: refused when set. */
const UNSERVED = ['conversation', 'prompt', 'context_management'] as const;

export function checkServed(create: ResponseCreate): void {
  for (const field of UNSERVED) {
    if (create[field] !== undefined && create[field] !== null) {
      throw new InvalidMessageError(
        `'${field}' is not served by llmwire; send the input itself (and previous_response_id to chain)`,
        { details: { param: field } },
      );
    }
  }
  if (create.background === true && create.store === false) {
    throw new InvalidMessageError('a background response must be stored: drop store: false', {
      details: { param: 'store' },
    });
  }
}

/**
 * The inference request for a Responses call whose conversation so far (earlier turns and this
 * turn's input) is `context`; `instructions` lead as a system message.
 */
export function inferenceRequest(create: ResponseCreate, context: ChatMessage[]): InferenceRequest {
  const messages: ChatMessage[] = [];
  if (typeof create.instructions === 'string' && create.instructions !== '') {
    messages.push({ role: 'system', content: create.instructions });
  }
  messages.push(...context);
  if (messages.length === 0) {
    throw new InvalidMessageError("'input' is required (text or items)", {
      details: { param: 'input' },
    });
  }
  const request: InferenceRequest = { model: create.model, messages };
  const tools = (create.tools ?? []).map((t, i) => checkTool(t, `tools.${i}`));
  if (tools.length > 0) {
    request.tools = tools.map((t) => ({
      type: 'function',
      function: {
        name: t.name,
        ...(typeof t.description === 'string' ? { description: t.description } : {}),
        ...(t.parameters === undefined || t.parameters === null
          ? {}
          : { parameters: t.parameters }),
        ...(t.strict === undefined ? {} : { strict: t.strict }),
      },
    }));
  }
  if (create.tool_choice !== undefined) request.tool_choice = toolChoice(create.tool_choice);
  // The Responses API calls tools in parallel unless told otherwise.
  if (tools.length > 0) request.parallel_tool_calls = create.parallel_tool_calls ?? true;
  const format = create.text?.format;
  if (format !== undefined) {
    request.response_format =
      format.type === 'json_schema'
        ? {
            type: 'json_schema',
            json_schema: {
              name: format.name,
              schema: format.schema,
              ...(format.description === undefined ? {} : { description: format.description }),
              ...(format.strict === undefined ? {} : { strict: format.strict }),
            },
          }
        : { type: format.type };
  }
  const effort = create.reasoning?.effort;
  if (effort !== undefined && effort !== null && effort !== 'none') {
    request.reasoning_effort = effort === 'xhigh' ? 'high' : effort;
  }
  if (typeof create.max_output_tokens === 'number') {
    request.max_completion_tokens = create.max_output_tokens;
  }
  if (typeof create.temperature === 'number') request.temperature = create.temperature;
  if (typeof create.top_p === 'number') request.top_p = create.top_p;
  const user = create.safety_identifier ?? create.user;
  if (typeof user === 'string') request.user = user;
  if (create.stream === true) request.stream = true;
  return request;
}

function toolChoice(choice: unknown): InferenceRequest['tool_choice'] {
  if (choice === 'none' || choice === 'auto' || choice === 'required') return choice;
  const c = choice as { type?: unknown; name?: unknown } | null;
  if (typeof c === 'object' && c !== null && c.type === 'function' && typeof c.name === 'string') {
    return { type: 'function', function: { name: c.name } };
  }
  throw new InvalidMessageError(
    "tool_choice must be 'none', 'auto', 'required' or {type: 'function', name}",
    { details: { param: 'tool_choice' } },
  );
}
