// Hostile and malformed requests to the Anthropic Messages routes: each is refused with
// Anthropic's error JSON, the right type and status, and the field named; the official client
// sees a typed error; and the gateway keeps serving afterwards.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { anthropic, hello } from './messages-client.js';
import { startStack, type Stack } from './stack.js';

const KEYS = {
  'key-alpha-123': { name: 'alpha', models: ['other'] },
  'key-beta-1234': { name: 'beta' },
};
const ok = { model: 'sim', max_tokens: 3, messages: [{ role: 'user', content: 'Hi.' }] };

interface Answer {
  status: number;
  body: { type?: string; error?: { type?: string; message?: string } };
  headers: Headers;
}

async function post(
  stack: Stack,
  body: unknown,
  headers: Record<string, string> = {},
  path = '/v1/messages',
): Promise<Answer> {
  const res = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'key-beta-1234', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Answer['body'], headers: res.headers };
}

function refused(answer: Answer, status: number, type: string, mentions?: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.type, 'error');
  assert.equal(answer.body.error?.type, type);
  assert.equal(typeof answer.body.error?.message, 'string');
  if (mentions !== undefined) assert.match(answer.body.error.message!, mentions);
  // The origin check comes before any route, so its refusal has only x-request-id.
  const id = answer.headers.get('request-id') ?? answer.headers.get('x-request-id');
  assert.match(id ?? '', /.+/);
}

/** Nested arrays `depth` deep, as text (a parser's recursion would be the target). */
function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

describe('messages - hostile requests', () => {
  test('malformed bodies get invalid_request_error naming the field, and the gateway keeps serving', async () => {
    await using stack = await startStack({ workers: 1, gateway: { apiKeys: KEYS } });
    const bad: [unknown, RegExp][] = [
      ['{not json', /not valid JSON/],
      ['[1,2]', /JSON object/],
      [{ ...ok, max_tokens: 'ten' }, /max_tokens/],
      [{ ...ok, max_tokens: 0 }, /max_tokens/],
      [{ model: 'sim', messages: ok.messages }, /max_tokens: Field required/],
      [{ model: 'sim', max_tokens: 3 }, /messages: Field required/],
      [{ ...ok, messages: [] }, /messages/],
      [{ ...ok, messages: 'hi' }, /messages/],
      [{ ...ok, model: 7 }, /model/],
      [{ ...ok, messages: [{ role: 'wizard', content: 'hi' }] }, /messages\.0\.role/],
      [{ ...ok, messages: [{ role: 'user', content: 5 }] }, /messages\.0\.content/],
      [{ ...ok, messages: [{ role: 'user', content: [{ type: 'text' }] }] }, /\.0\.text/],
      [
        { ...ok, messages: [{ role: 'user', content: [{ type: 'tool_result', content: 'x' }] }] },
        /messages\.0\.content\.0\.tool_use_id: Field required/,
      ],
      [
        {
          ...ok,
          messages: [
            { role: 'user', content: [{ type: 'tool_use', id: 'a', name: 'b', input: {} }] },
          ],
        },
        /'tool_use' is not supported in a user turn/,
      ],
      [
        {
          ...ok,
          messages: [
            {
              role: 'user',
              content: [{ type: 'image', source: { type: 'file', file_id: 'file_1' } }],
            },
          ],
        },
        /source\.type/,
      ],
      [
        {
          ...ok,
          messages: [
            {
              role: 'user',
              content: [{ type: 'document', source: { type: 'url', url: 'https://x/a.pdf' } }],
            },
          ],
        },
        /PDF URLs/,
      ],
      [{ ...ok, stop_sequences: ['a', 'b', 'c', 'd', 'e'] }, /at most 4 stop sequences/],
      [{ ...ok, stop_sequences: 'stop' }, /stop_sequences/],
      [{ ...ok, temperature: 1.5 }, /temperature: must be a number from 0 to 1/],
      [{ ...ok, top_k: -1 }, /top_k/],
      [{ ...ok, tools: [{ name: 'has space', input_schema: {} }] }, /tools\.0\.name/],
      [{ ...ok, tools: [{ name: 'f' }] }, /tools\.0\.input_schema/],
      [{ ...ok, tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, /server tools/],
      [{ ...ok, tool_choice: { type: 'sometimes' } }, /tool_choice\.type/],
      [{ ...ok, tool_choice: { type: 'tool' } }, /tool_choice\.name/],
      [{ ...ok, thinking: { type: 'enabled', budget_tokens: 10 } }, /budget_tokens/],
      [{ ...ok, metadata: { user_id: 1 } }, /metadata\.user_id/],
      [{ ...ok, frequency_penalty: 1 }, /frequency_penalty: Extra inputs are not permitted/],
      [{ ...ok, messages: [{ role: 'user', content: 'hi', name: 'x' }] }, /messages\.0\.name/],
      [
        { ...ok, tools: [{ name: 'f', input_schema: JSON.parse(nested(200)) as unknown }] },
        /nests/,
      ],
    ];
    for (const [body, mentions] of bad) {
      refused(await post(stack, body), 400, 'invalid_request_error', mentions);
    }
    // Nesting far past any limit, sent raw: refused without a stack overflow.
    refused(
      await post(stack, `{"model":"sim","max_tokens":3,"messages":${nested(100_000)}}`),
      400,
      'invalid_request_error',
    );
    const served = await post(stack, ok);
    assert.equal(served.status, 200);
    assert.equal(served.body.type, 'message');
  });

  test('content type, size, keys, models, versions and origins', async () => {
    await using stack = await startStack({
      workers: 1,
      gateway: { apiKeys: KEYS, bodyLimitBytes: 64 * 1024 },
    });
    const plain = await fetch(`${stack.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-api-key': 'key-beta-1234' },
      body: JSON.stringify(ok),
    });
    refused(
      {
        status: plain.status,
        body: (await plain.json()) as Answer['body'],
        headers: plain.headers,
      },
      415,
      'invalid_request_error',
      /content-type/,
    );
    refused(await post(stack, { ...ok, system: 'x'.repeat(100 * 1024) }), 413, 'request_too_large');
    refused(await post(stack, ok, { 'x-api-key': 'wrong-key' }), 401, 'authentication_error');
    refused(await post(stack, ok, { 'x-api-key': '' }), 401, 'authentication_error');
    refused(
      await post(stack, ok, { authorization: 'Bearer key-alpha-123' }),
      401,
      'authentication_error',
      /different keys/,
    );
    refused(
      await post(stack, ok, { 'x-api-key': 'key-alpha-123' }),
      403,
      'permission_error',
      /model 'sim'/,
    );
    refused(
      await post(
        stack,
        { model: 'sim', messages: ok.messages },
        { 'x-api-key': 'key-alpha-123' },
        '/v1/messages/count_tokens',
      ),
      403,
      'permission_error',
    );
    refused(await post(stack, { ...ok, model: 'nope' }), 404, 'not_found_error');
    refused(
      await post(stack, { model: 'nope', messages: ok.messages }, {}, '/v1/messages/count_tokens'),
      404,
      'not_found_error',
    );
    refused(
      await post(stack, ok, {}, '/v1/messages/count_tokens'),
      400,
      'invalid_request_error',
      /max_tokens: Extra inputs/,
    );
    refused(
      await post(stack, ok, { 'anthropic-version': 'latest' }),
      400,
      'invalid_request_error',
      /anthropic-version/,
    );
    refused(
      await post(stack, ok, { origin: 'https://evil.example' }),
      403,
      'permission_error',
      /origin/,
    );

    // The official client sees typed errors.
    const wrong = await anthropic(stack, 'wrong-key')
      .messages.create({ model: 'sim', max_tokens: 3, messages: hello })
      .catch((e: unknown) => e);
    assert.ok(wrong instanceof Anthropic.AuthenticationError, String(wrong));
    const missing = await anthropic(stack, 'key-beta-1234')
      .messages.create({ model: 'nope', max_tokens: 3, messages: hello })
      .catch((e: unknown) => e);
    assert.ok(missing instanceof Anthropic.NotFoundError, String(missing));
    assert.match(missing.requestID ?? '', /.+/);

    // Still serving, to both kinds of key header, with a version and beta headers.
    const served = await post(stack, ok, {
      'x-api-key': '',
      authorization: 'Bearer key-beta-1234',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'anything-2025-01-01',
    });
    assert.equal(served.status, 200);
    const counted = await anthropic(stack, 'key-beta-1234').messages.countTokens({
      model: 'sim',
      messages: hello,
    });
    assert.ok(counted.input_tokens > 0);
  });

  test("a listed origin may send Anthropic's headers; others still get no CORS headers", async () => {
    const listed = 'https://app.example';
    await using stack = await startStack({ workers: 1, gateway: { cors: { origins: [listed] } } });
    const pre = await fetch(`${stack.url}/v1/messages`, {
      method: 'OPTIONS',
      headers: {
        origin: listed,
        'access-control-request-method': 'POST',
        'access-control-request-headers':
          'x-api-key, anthropic-version, anthropic-dangerous-direct-browser-access, content-type',
      },
    });
    assert.equal(pre.status, 204);
    const allowed = (pre.headers.get('access-control-allow-headers') ?? '').split(', ');
    for (const h of [
      'x-api-key',
      'anthropic-version',
      'anthropic-beta',
      'anthropic-dangerous-direct-browser-access',
    ]) {
      assert.ok(allowed.includes(h), h);
    }
    const other = await fetch(`${stack.url}/v1/messages`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(other.status, 403);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    assert.equal(other.headers.get('access-control-allow-headers'), null);
  });
});
