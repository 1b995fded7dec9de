// One request through gateway -> bus -> worker -> a real OpenAI-compatible upstream, sent by the
// official client with a traceparent: the same trace id is found at every hop (response header,
// bus messages, upstream request, logs, exported spans).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { createBus } from '../../src/bus/index.js';
import { createOpenAIBackend } from '../../src/llm/backends/openai/index.js';
import { createGateway } from '../../src/llm/gateway/server.js';
import { createWorker } from '../../src/llm/worker/worker.js';
import { createLogger, parseTraceparent, setupTracing } from '../../src/ops/index.js';
import type { Envelope } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { logSink, startOtlpReceiver } from '../ops/otlp-receiver.js';
import { echoScript, startUpstream, type Script } from './backends/openai-upstream.js';
import { waitUntil } from '../wait.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';
const INCOMING = `00-${TRACE}-${CALLER_SPAN}-01`;
const hello = [{ role: 'user' as const, content: 'hello' }];

async function startTraced(
  endpoint: string,
  baseURL: string,
  limits: { concurrency?: number; queueLength?: number } = {},
) {
  const tracing = setupTracing({
    serviceName: 'llmwire-test',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint },
  });
  assert.ok(tracing.tracer, 'an OTLP endpoint turns span export on');
  const logs = logSink();
  const logger = createLogger({ level: 'info', destination: logs });
  const transport = createMemoryTransport();
  const seen: Envelope[] = [];
  const tap = transport.subscribe('>', (env) => void seen.push(env));
  await tap.ready;
  const bus = createBus({ transport, source: 'test' });
  await bus.ready;
  const gateway = createGateway({
    bus,
    port: 0,
    logger,
    tracer: tracing.tracer,
    ...(limits.queueLength === undefined ? {} : { queue: { maxLength: limits.queueLength } }),
  });
  const url = await gateway.listen();
  const worker = createWorker({
    bus,
    backend: createOpenAIBackend({ baseURL, models: ['m-one'] }),
    id: 'traced-1',
    heartbeatMs: 50,
    ...(limits.concurrency === undefined ? {} : { concurrency: limits.concurrency }),
    logger,
    tracer: tracing.tracer,
  });
  await worker.start();
  while (gateway.registry.forModel('m-one').length === 0)
    await new Promise((r) => setTimeout(r, 10));
  return {
    gateway,
    tracing,
    logs,
    seen,
    client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 }),
    async [Symbol.asyncDispose]() {
      await worker.stop();
      await gateway.close();
      tap.unsubscribe();
      await bus.close();
      await transport.close();
      await tracing.shutdown();
    },
  };
}

describe('tracing - one trace from the client to the upstream', () => {
  test('the incoming trace id is found at every hop', async () => {
    await using receiver = await startOtlpReceiver();
    await using upstream = await startUpstream(echoScript(['one', ' two', ' three']));
    const stack = await startTraced(receiver.endpoint, upstream.baseURL);
    let answer = '';
    let header: string | null;
    try {
      const { data: stream, response } = await stack.client.chat.completions
        .create(
          { model: 'm-one', messages: hello, stream: true },
          { headers: { traceparent: INCOMING, tracestate: 'caller=abc' } },
        )
        .withResponse();
      header = response.headers.get('traceparent');
      for await (const c of stream) answer += c.choices[0]?.delta.content ?? '';
    } finally {
      await stack[Symbol.asyncDispose]();
    }
    assert.equal(answer, 'one two three');

    // The gateway answers with its own span in the caller's trace.
    const gatewaySpan = parseTraceparent(header ?? undefined);
    assert.equal(gatewaySpan?.traceId, TRACE);
    assert.notEqual(gatewaySpan?.spanId, CALLER_SPAN);

    // Every bus message of the request carries the trace and the caller's tracestate.
    const request = stack.seen.find((e) => e.kind === 'inference.request')!;
    const replies = stack.seen.filter((e) => e.corr === request.id);
    const kinds = replies.map((e) => e.kind);
    // The upstream's three tokens, which may travel together as one coalesced message.
    const chunks = replies.filter((e) => e.kind === 'inference.chunk');
    assert.equal(
      chunks.reduce((n, e) => n + (e.items ?? 1), 0),
      3,
    );
    assert.ok(kinds.includes('inference.result'));
    for (const e of [request, ...replies]) {
      assert.equal(parseTraceparent(e.traceparent)?.traceId, TRACE, `${e.kind} ${String(e.seq)}`);
      assert.equal(e.tracestate, 'caller=abc');
    }

    // The upstream was called in the same trace, under a span of its own.
    const call = upstream.calls.find((c) => c.path.endsWith('/chat/completions'))!;
    const upstreamParent = parseTraceparent(call.headers.traceparent as string);
    assert.equal(upstreamParent?.traceId, TRACE);
    assert.equal(call.headers.tracestate, 'caller=abc');

    // The gateway's finished line and the worker's line name the trace and the request.
    const finished = stack.logs.lines.find((l) => l.msg === 'request finished')!;
    assert.equal(finished.traceId, TRACE);
    assert.equal(finished.model, 'm-one');
    assert.equal(finished.status, 200);
    assert.equal(finished.worker, 'traced-1');
    assert.equal(finished.completionTokens, 3);
    assert.equal(typeof finished.ttftMs, 'number');
    const done = stack.logs.lines.find((l) => l.msg === 'request done')!;
    assert.equal(done.traceId, TRACE);
    assert.equal(done.requestId, finished.requestId);
    assert.equal(done.worker, 'traced-1');

    // The exported spans form one tree under the caller's span.
    const spans = receiver.spans.filter((s) => s.traceId === TRACE);
    const byName = new Map(spans.map((s) => [s.name, s]));
    const root = byName.get('POST /v1/chat/completions');
    assert.ok(root, `spans: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(root.parentSpanId, CALLER_SPAN);
    assert.equal(root.spanId, gatewaySpan?.spanId);
    assert.equal(root.service, 'llmwire-test');
    // Admitted at once: no queue wait span (its test is below).
    assert.equal(byName.get('queue wait'), undefined);
    const dispatch = byName.get('dispatch')!;
    assert.equal(dispatch.parentSpanId, root.spanId);
    assert.equal(parseTraceparent(request.traceparent)?.spanId, dispatch.spanId);
    const handle = byName.get('worker handle')!;
    assert.equal(handle.parentSpanId, dispatch.spanId);
    const up = byName.get('upstream chat')!;
    assert.equal(up.parentSpanId, handle.spanId);
    assert.equal(upstreamParent?.spanId, up.spanId);
    assert.ok(receiver.contentTypes.every((t) => t.startsWith('application/json')));
  });

  test('a queue wait span when a request waited for a slot or was refused, none when it did not', async () => {
    await using receiver = await startOtlpReceiver();
    // One slot, held by the first request for about half a second.
    const slow: Script = (call) => {
      const reply = echoScript(['a', 'b', 'c', 'd', 'e'])(call);
      return reply.kind === 'stream' ? { ...reply, delayMs: 100 } : reply;
    };
    await using upstream = await startUpstream(slow);
    const stack = await startTraced(receiver.endpoint, upstream.baseURL, {
      concurrency: 1,
      queueLength: 1,
    });
    const traces = ['1', '2', '3'].map((d) => d.repeat(32));
    const send = (trace: string) =>
      stack.client.chat.completions.create(
        { model: 'm-one', messages: hello },
        { headers: { traceparent: `00-${trace}-${CALLER_SPAN}-01` } },
      );
    let refused: unknown;
    try {
      const first = send(traces[0]!);
      await waitUntil(
        () => upstream.calls.some((c) => c.path.endsWith('/chat/completions')),
        'the first call upstream',
      );
      const second = send(traces[1]!);
      await waitUntil(
        () => stack.gateway.admission.snapshot('m-one').queued === 1,
        'the second request queued',
      );
      refused = await send(traces[2]!).then(
        () => undefined,
        (err: unknown) => err,
      );
      await Promise.all([first, second]);
    } finally {
      await stack[Symbol.asyncDispose]();
    }
    assert.ok(refused instanceof OpenAI.APIError && refused.status === 429, String(refused));
    const span = (trace: string, name: string) =>
      receiver.spans.find((s) => s.traceId === trace && s.name === name);
    const [admitted, waited, full] = traces.map((t) => ({
      root: span(t, 'POST /v1/chat/completions'),
      wait: span(t, 'queue wait'),
    }));
    // Granted a free slot at once: nothing worth a span.
    assert.ok(admitted!.root);
    assert.equal(admitted!.wait, undefined);
    // Waited for the first to finish: a span under the request's, as long as the wait.
    const wait = waited!.wait;
    assert.ok(wait && waited!.root, 'the waiting request has its spans');
    assert.equal(wait.parentSpanId, waited!.root.spanId);
    assert.ok(wait.durationNs >= 100_000_000n, `waited ${wait.durationNs} ns`);
    assert.equal(wait.status, 0);
    // Refused with the queue full: a failed span.
    assert.ok(full!.wait && full!.root, 'the refused request has its spans');
    assert.equal(full!.wait.parentSpanId, full!.root.spanId);
    assert.equal(full!.wait.status, 2);
  });

  test('an invalid traceparent is ignored and a new trace started', async () => {
    await using receiver = await startOtlpReceiver();
    await using upstream = await startUpstream(echoScript(['ok']));
    await using stack = await startTraced(receiver.endpoint, upstream.baseURL);
    const bad = `00-${TRACE.toUpperCase()}-${CALLER_SPAN}-01`;
    const { response } = await stack.client.chat.completions
      .create({ model: 'm-one', messages: hello }, { headers: { traceparent: bad } })
      .withResponse();
    const traceId = response.headers.get('x-llmwire-trace-id');
    assert.match(traceId ?? '', /^[0-9a-f]{32}$/);
    assert.notEqual(traceId, TRACE);
    assert.notEqual(traceId, TRACE.toUpperCase());
    assert.equal(
      parseTraceparent(response.headers.get('traceparent') ?? undefined)?.traceId,
      traceId,
    );
    const call = upstream.calls.find((c) => c.path.endsWith('/chat/completions'))!;
    assert.equal(parseTraceparent(call.headers.traceparent as string)?.traceId, traceId);
  });
});
