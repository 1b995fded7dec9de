// tool_choice as OpenAI defines it (Chat Completions, "tool_choice"), checked once for every
// backend that answers with tool calls: which tools the model may call, and whether it must.
import { InvalidMessageError, type InferenceRequest } from '../../protocol/index.js';

export type Tool = NonNullable<InferenceRequest['tools']>[number];

/**
 * What a request's tool_choice allows: no tools; calling any of `tools` or answering with text
 * ('auto'); or calling one of `tools` ('required', and a named tool, where `tools` is that one).
 */
export type ToolUse =
  { mode: 'none' } | { mode: 'auto'; tools: Tool[] } | { mode: 'required'; tools: Tool[] };

/**
 * The tool use a request asks for. Without tool_choice, 'auto' when there are tools, else
 * 'none'. Throws InvalidMessageError for a malformed choice, 'required' without tools, or a
 * named tool that is not in `tools`.
 */
export function toolUse(request: InferenceRequest): ToolUse {
  const tools = request.tools ?? [];
  const choice = request.tool_choice ?? (tools.length > 0 ? 'auto' : 'none');
  if (choice === 'none') return { mode: 'none' };
  if (choice === 'auto') return { mode: 'auto', tools };
  if (choice === 'required') {
    if (tools.length === 0) throw new InvalidMessageError(`tool_choice 'required' needs tools`);
    return { mode: 'required', tools };
  }
  const name = namedChoice(choice);
  const tool = tools.find((t) => t.function.name === name);
  if (tool === undefined) {
    throw new InvalidMessageError(`tool_choice names tool '${name}', which is not in tools`);
  }
  return { mode: 'required', tools: [tool] };
}

function namedChoice(choice: unknown): string {
  const name = (choice as { type?: unknown; function?: { name?: unknown } } | null)?.function?.name;
  if (
    typeof choice !== 'object' ||
    (choice as { type?: unknown }).type !== 'function' ||
    typeof name !== 'string'
  ) {
    throw new InvalidMessageError(
      `tool_choice must be 'none', 'auto', 'required' or {type: 'function', function: {name}}`,
    );
  }
  return name;
}
