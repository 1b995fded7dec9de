// The Anthropic Messages face's fixed parts: the error type of every protocol code (pinned, as
// the error table is), and the event sequence a stream of mixed deltas becomes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ANTHROPIC_ERROR_TYPES } from '../../src/llm/gateway/messages/index.js';
import { MessagesStream } from '../../src/llm/gateway/messages/stream.js';
import type { SseWriter } from '../../src/llm/gateway/sse.js';
import { ERROR_TABLE, WorkerLostError, type ErrorCode } from '../../src/protocol/index.js';

/** Changing the mapping means changing this too (docs/llm.md, "Anthropic Messages"). */
const PINNED: Record<ErrorCode, string> = {
  invalid_message: 'invalid_request_error',
  unsupported_version: 'invalid_request_error',
  unknown_kind: 'invalid_request_error',
  integrity_failed: 'invalid_request_error',
  decrypt_failed: 'invalid_request_error',
  unknown_key: 'authentication_error',
  bad_signature: 'authentication_error',
  replayed: 'invalid_request_error',
  chunk_corrupt: 'invalid_request_error',
  chunk_missing: 'invalid_request_error',
  unauthorized: 'authentication_error',
  forbidden: 'permission_error',
  not_found: 'not_found_error',
  no_route: 'not_found_error',
  payload_too_large: 'request_too_large',
  unsupported_media_type: 'invalid_request_error',
  rate_limited: 'rate_limit_error',
  overloaded: 'overloaded_error',
  cancelled: 'invalid_request_error',
  internal: 'api_error',
  upstream_error: 'api_error',
  no_responders: 'overloaded_error',
  worker_lost: 'api_error',
  unavailable: 'overloaded_error',
  deadline_exceeded: 'timeout_error',
};

/** Collects what a MessagesStream writes, event by event. */
function recorder(): { sse: SseWriter; events: { type: string; data: unknown }[] } {
  const events: { type: string; data: unknown }[] = [];
  const sse = {
    event: async (type: string, json: string) => {
      events.push({ type, data: JSON.parse(json) });
    },
    error: async (json: string) => {
      events.push({ type: 'error', data: JSON.parse(json) });
    },
    end: () => events.push({ type: 'end', data: null }),
  } as unknown as SseWriter;
  return { sse, events };
}

describe('messages - format', () => {
  test('every protocol error code has its pinned Anthropic error type', () => {
    assert.deepEqual(ANTHROPIC_ERROR_TYPES, PINNED);
    assert.deepEqual(Object.keys(ANTHROPIC_ERROR_TYPES).sort(), Object.keys(ERROR_TABLE).sort());
  });

  test('mixed deltas become blocks in order: thinking (signed), text, one block per tool call', async () => {
    const { sse, events } = recorder();
    const out = new MessagesStream(sse, 'msg_1', 'sim', 7);
    await out.start();
    await out.delta({ text: '', reasoning: 'Let me ' });
    await out.delta({ text: '', reasoning: 'think.' });
    await out.delta({ text: 'Hello' });
    await out.delta({ text: '', refusal: ' no' });
    await out.delta({
      text: '',
      tool_calls: [
        { index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '' } },
      ],
    });
    await out.delta({ text: '', tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] });
    await out.delta({
      text: '',
      tool_calls: [
        { index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{}' } },
      ],
    });
    await out.delta({ text: '', tool_calls: [{ index: 0, function: { arguments: '1}' } }] });
    await out.finish({
      model: 'sim',
      text: 'Hello',
      refusal: ' no',
      reasoning: 'Let me think.',
      finish_reason: 'tool_calls',
      usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14, cached_tokens: 4 },
    });
    const summary = events.map((e) => {
      const d = e.data as {
        index?: number;
        delta?: { type?: string };
        content_block?: { type: string };
      };
      return [e.type, d?.index, d?.content_block?.type ?? d?.delta?.type]
        .filter((x) => x !== undefined)
        .join(' ');
    });
    assert.deepEqual(summary, [
      'message_start',
      'ping',
      'content_block_start 0 thinking',
      'content_block_delta 0 thinking_delta',
      'content_block_delta 0 thinking_delta',
      'content_block_delta 0 signature_delta',
      'content_block_stop 0',
      'content_block_start 1 text',
      'content_block_delta 1 text_delta',
      'content_block_delta 1 text_delta',
      'content_block_stop 1',
      'content_block_start 2 tool_use',
      'content_block_delta 2 input_json_delta',
      'content_block_stop 2',
      'content_block_start 3 tool_use',
      'content_block_delta 3 input_json_delta',
      'content_block_stop 3',
      // More of an earlier call goes to its own block, which clients accumulate by index.
      'content_block_delta 2 input_json_delta',
      'message_delta',
      'message_stop',
      'end',
    ]);
    const delta = events.find((e) => e.type === 'message_delta')!.data as {
      delta: { stop_reason: string };
      usage: Record<string, unknown>;
    };
    assert.equal(delta.delta.stop_reason, 'refusal');
    assert.deepEqual(delta.usage, {
      input_tokens: 5,
      output_tokens: 5,
      cache_creation_input_tokens: null,
      cache_read_input_tokens: 4,
    });
  });

  test('a failure is an error event with the JSON of its type, and the end', async () => {
    const { sse, events } = recorder();
    const out = new MessagesStream(sse, 'msg_2', 'sim', 1);
    await out.start();
    await out.delta({ text: 'Hi' });
    await out.fail(new WorkerLostError('the worker was lost'));
    assert.deepEqual(events.at(-1), {
      type: 'error',
      data: { type: 'error', error: { type: 'api_error', message: 'the worker was lost' } },
    });
  });
});
