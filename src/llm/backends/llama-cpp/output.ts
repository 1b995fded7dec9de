// The answer's shape in node-llama-cpp's terms: tools become chat functions the model may call
// (their calls are returned, not run), response_format becomes a grammar, and the calls the
// model made become OpenAI tool-call deltas.
import { randomBytes } from 'node:crypto';
import {
  type FinishReason,
  type InferenceRequest,
  type ToolCallDelta,
  InvalidMessageError,
} from '../../../protocol/index.js';
import { toolUse } from '../tool-choice.js';
import type {
  ChatModelFunctions,
  LlamaChatGenerationOptions,
  LlamaFunctionCall,
} from './module.js';
import { gbnfSchema } from './schema.js';

/** The grammar a response_format asks for: node-llama-cpp's JSON grammar, or one from a schema. */
export type GrammarRequest = { type: 'json' } | { type: 'schema'; schema: Record<string, unknown> };

export interface OutputControls {
  /** Chat functions and how they may be called; absent when the model may call none. */
  functions?: Pick<
    LlamaChatGenerationOptions,
    'functions' | 'documentFunctionParams' | 'maxParallelFunctionCalls'
  >;
  grammar?: GrammarRequest;
}

/**
 * What the request asks of the answer besides free text. tool_choice follows OpenAI (see
 * tool-choice.ts): 'none' passes no functions, a named tool passes only that one. node-llama-cpp
 * has no way to force a call, so 'required' and a named tool pass the functions as 'auto' does.
 * node-llama-cpp cannot use a grammar and functions together, so a json response_format with
 * callable tools is InvalidMessageError; with tool_choice 'none' the grammar applies. Text sent
 * before (continue_from) may be continued with functions, whose calls come after it, but not
 * under a grammar.
 */
export function outputControls(request: InferenceRequest): OutputControls {
  const use = toolUse(request);
  const grammar = grammarRequest(request);
  const out: OutputControls = {};
  if (grammar !== undefined) {
    if ((request.continue_from ?? '') !== '') {
      // node-llama-cpp starts a grammar at the start of what it generates, not of the turn.
      throw new InvalidMessageError(
        'the llama-cpp backend cannot continue a response_format answer (continue_from): its grammar would start again mid-answer',
      );
    }
    out.grammar = grammar;
  }
  if (use.mode === 'none' || use.tools.length === 0) return out;
  if (request.messages === undefined) {
    throw new InvalidMessageError('tools need a chat request (messages), not a prompt');
  }
  if (grammar !== undefined) {
    throw new InvalidMessageError(
      `the llama-cpp backend cannot use response_format '${request.response_format?.type ?? ''}' with tools (node-llama-cpp does not constrain output and offer functions at once); set tool_choice 'none' or leave out one of them`,
    );
  }
  const functions: Record<string, ChatModelFunctions[string]> = {};
  for (const tool of use.tools) {
    const { name, description, parameters } = tool.function;
    functions[name] = {
      ...(description === undefined ? {} : { description }),
      ...(parameters === undefined
        ? {}
        : { params: gbnfSchema(parameters, `tool '${name}' parameters`) }),
    };
  }
  out.functions = {
    functions,
    documentFunctionParams: true,
    // OpenAI's default is parallel calls; a chat wrapper without parallel calls makes one anyway.
    ...(request.parallel_tool_calls === false ? { maxParallelFunctionCalls: 1 } : {}),
  };
  return out;
}

/** The grammar for `response_format`, or undefined for free text. */
export function grammarRequest(request: InferenceRequest): GrammarRequest | undefined {
  const format = request.response_format;
  if (format === undefined || format.type === 'text') return undefined;
  if (format.type === 'json_object' || format.json_schema.schema === undefined) {
    return { type: 'json' };
  }
  const what = `response_format schema '${format.json_schema.name}'`;
  return { type: 'schema', schema: gbnfSchema(format.json_schema.schema, what) };
}

/** A tool-call id in OpenAI's form. */
export function newCallId(): string {
  return `call_${randomBytes(12).toString('hex')}`;
}

/**
 * The model's function calls as OpenAI tool-call deltas, one per call with the whole arguments
 * JSON. A function without parameters is called with `{}`.
 */
export function toolCallDeltas(
  calls: readonly LlamaFunctionCall[],
  callId: () => string = newCallId,
): ToolCallDelta[] {
  return calls.map((call, index) => ({
    index,
    id: callId(),
    type: 'function' as const,
    function: { name: call.functionName, arguments: JSON.stringify(call.params ?? {}) },
  }));
}

/** OpenAI's finish_reason for how node-llama-cpp stopped, after `calls` function calls. */
export function finishReason(stopReason: string, calls: number): FinishReason {
  // Calls end the answer ('functionCalls'); complete calls before running out still count.
  if (stopReason === 'maxTokens') return 'length';
  // 'eogToken', 'stopGenerationTrigger', 'customStopTrigger': a natural or requested stop.
  return calls > 0 ? 'tool_calls' : 'stop';
}
