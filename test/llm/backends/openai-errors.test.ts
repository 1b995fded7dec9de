// The OpenAI-compatible backend when things go wrong: upstream statuses become protocol codes,
// silence becomes deadline_exceeded, a dead port becomes unavailable, and an aborted request
// closes the upstream connection.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createOpenAIBackend } from '../../../src/llm/backends/openai/index.js';
import {
  CancelledError,
  DeadlineExceededError,
  UnavailableError,
  UpstreamError,
  WireError,
  type ErrorCode,
  type InferenceRequest,
} from '../../../src/protocol/index.js';
import { rejection, run } from './helpers.js';
import { startUpstream } from './openai-upstream.js';

const REQUEST: InferenceRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
const PIECES = Array.from({ length: 20 }, (_, i) => ` word${i}`);

function wireError(err: unknown): WireError {
  assert.ok(err instanceof WireError, `expected a WireError, got ${String(err)}`);
  return err;
}

test('openai - upstream statuses map to protocol error codes', async () => {
  const cases: [number, ErrorCode][] = [
    [400, 'invalid_message'],
    [401, 'upstream_error'],
    [403, 'upstream_error'],
    [404, 'not_found'],
    [408, 'deadline_exceeded'],
    [413, 'payload_too_large'],
    [422, 'invalid_message'],
    [429, 'rate_limited'],
    [500, 'upstream_error'],
    [502, 'upstream_error'],
    [503, 'upstream_error'],
  ];
  for (const [status, code] of cases) {
    await using upstream = await startUpstream(() => ({
      kind: 'error',
      status,
      body: { error: { message: `upstream says ${status}`, type: 'test_type', code: 'test_code' } },
    }));
    const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
    const err = wireError(await rejection(run(backend, REQUEST)));
    assert.equal(err.code, code, `status ${status}`);
    assert.equal(err.details?.['upstream_status'], status);
    assert.equal(err.details?.['upstream_type'], 'test_type');
    assert.equal(upstream.calls.length, 1, 'no hidden retries');
  }
});

test('openai - a rejected request keeps the upstream message; a bad worker key blames the upstream', async () => {
  await using upstream = await startUpstream((call) => ({
    kind: 'error',
    status: call.body['max_tokens'] === 1 ? 400 : 401,
    body: {
      error: { message: call.body['max_tokens'] === 1 ? 'max_tokens too small' : 'bad key' },
    },
  }));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  const invalid = wireError(await rejection(run(backend, { ...REQUEST, max_tokens: 1 })));
  assert.equal(invalid.message, 'max_tokens too small');
  assert.equal(invalid.retryable, false);
  const unauthorized = wireError(await rejection(run(backend, REQUEST)));
  assert.ok(unauthorized instanceof UpstreamError);
  assert.equal(unauthorized.status, 502);
  assert.equal(unauthorized.retryable, true);
  assert.doesNotMatch(unauthorized.message, /bad key/);
});

test('openai - 429 keeps the upstream retry-after in details', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'error',
    status: 429,
    headers: { 'retry-after': '7' },
  }));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  const err = wireError(await rejection(run(backend, REQUEST)));
  assert.equal(err.code, 'rate_limited');
  assert.equal(err.details?.['retry_after'], '7');
  assert.equal(err.details?.['retry_after_ms'], 7000);
});

test('openai - an error event inside the stream is an upstream_error after the text so far', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'stream',
    pieces: PIECES,
    errorAfter: 3,
  }));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  const stream = backend.generate(REQUEST, { signal: new AbortController().signal });
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await stream.next(), { done: false, value: { text: PIECES[i] } });
  }
  const err = wireError(await rejection(stream.next()));
  assert.equal(err.code, 'upstream_error');
  assert.equal(err.details?.['upstream_code'], 'engine_dead');
});

test('openai - a connection dropped mid-stream is an upstream_error', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'stream',
    pieces: PIECES,
    dropAfter: 2,
  }));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  const stream = backend.generate(REQUEST, { signal: new AbortController().signal });
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(await stream.next(), { done: false, value: { text: PIECES[i] } });
  }
  await assert.rejects(stream.next(), UpstreamError);
});

test('openai - an upstream that never answers times out with deadline_exceeded', async () => {
  await using upstream = await startUpstream(() => ({ kind: 'hang' }));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'], timeoutMs: 150 });
  const started = Date.now();
  await assert.rejects(run(backend, REQUEST), DeadlineExceededError);
  assert.ok(Date.now() - started < 2000);
  assert.equal(await upstream.calls[0]?.closed, true);
});

test('openai - an upstream that stalls mid-stream times out with deadline_exceeded', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'stream',
    pieces: PIECES,
    hangAfter: 2,
  }));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'], timeoutMs: 150 });
  const stream = backend.generate(REQUEST, { signal: new AbortController().signal });
  await stream.next();
  await stream.next();
  await assert.rejects(stream.next(), DeadlineExceededError);
});

test('openai - a slow reader does not trip the upstream timeout', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'stream',
    pieces: PIECES.slice(0, 3),
  }));
  // The timeout bounds the wait for the answer to start, not the reading: each read here takes
  // longer than it. (1 s rather than less: a loaded machine may take 100 ms to answer at all.)
  const backend = createOpenAIBackend({
    baseURL: upstream.baseURL,
    models: ['m'],
    timeoutMs: 1000,
  });
  const stream = backend.generate(REQUEST, { signal: new AbortController().signal });
  const texts: string[] = [];
  for (let step = await stream.next(); step.done !== true; step = await stream.next()) {
    texts.push(step.value.text);
    await delay(1300);
  }
  assert.deepEqual(texts, PIECES.slice(0, 3));
});

test('openai - a refused connection is unavailable', async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  const backend = createOpenAIBackend({ baseURL: `http://127.0.0.1:${port}/v1`, models: ['m'] });
  const err = wireError(await rejection(run(backend, REQUEST)));
  assert.ok(err instanceof UnavailableError);
  assert.equal(err.details?.['reason'], 'ECONNREFUSED');
  const discovering = createOpenAIBackend({ baseURL: `http://127.0.0.1:${port}/v1` });
  await assert.rejects(discovering.init(), UnavailableError);
});

test('openai - aborting mid-stream closes the upstream request before it finished', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'stream',
    pieces: PIECES,
    delayMs: 50,
  }));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  const controller = new AbortController();
  const stream = backend.generate(REQUEST, { signal: controller.signal });
  assert.deepEqual(await stream.next(), { done: false, value: { text: PIECES[0] } });
  const pending = stream.next();
  controller.abort();
  await assert.rejects(pending, CancelledError);
  assert.equal(await upstream.calls[0]?.closed, true);
});

test('openai - abandoning the stream closes the upstream request too', async () => {
  await using upstream = await startUpstream(() => ({
    kind: 'stream',
    pieces: PIECES,
    delayMs: 50,
  }));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  for await (const delta of backend.generate(REQUEST, { signal: new AbortController().signal })) {
    assert.equal(delta.text, PIECES[0]);
    break;
  }
  assert.equal(await upstream.calls[0]?.closed, true);
});

test('openai - a deadline abort surfaces as deadline_exceeded', async () => {
  await using upstream = await startUpstream(() => ({ kind: 'hang' }));
  const backend = createOpenAIBackend({ baseURL: upstream.baseURL, models: ['m'] });
  const controller = new AbortController();
  setTimeout(() => controller.abort(new DeadlineExceededError('request deadline passed')), 50);
  await assert.rejects(run(backend, REQUEST, controller.signal), DeadlineExceededError);
  assert.equal(await upstream.calls[0]?.closed, true);
});
