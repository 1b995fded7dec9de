// W3C trace context: traceparent and tracestate read and written strictly (Trace Context §3),
// and the context carried on every message of a bus request and of a stream.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createBus } from '../../src/bus/index.js';
import {
  childContext,
  formatTraceparent,
  parseTraceparent,
  parseTracestate,
  setupTracing,
  traceFields,
  TraceSpan,
} from '../../src/ops/index.js';
import { ConfigError, type Envelope } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

describe('trace context - traceparent', () => {
  test('reads the example of the spec and writes it back unchanged', () => {
    const ctx = parseTraceparent(VALID);
    assert.deepEqual(ctx, { traceId: TRACE, spanId: SPAN, flags: 1 });
    assert.equal(formatTraceparent(ctx), VALID);
    assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.flags, 0);
  });

  test('refuses every malformed value', () => {
    const bad = [
      '',
      VALID.toUpperCase(), // hex must be lowercase
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`, // all-zero trace id
      `00-${TRACE}-${'0'.repeat(16)}-01`, // all-zero parent id
      `ff-${TRACE}-${SPAN}-01`, // version ff is invalid
      `0-${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-1`,
      `00-${TRACE}-${SPAN}-0g`,
      `00-${TRACE.slice(1)}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}0-01`,
      `00_${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-01-`, // version 00 has exactly four fields
      `00-${TRACE}-${SPAN}-01-extra`,
      ` ${VALID}`,
      `zz-${TRACE}-${SPAN}-01`,
    ];
    for (const value of bad) assert.equal(parseTraceparent(value), undefined, value);
    assert.equal(parseTraceparent(undefined), undefined);
  });

  test('reads a future version by its first fields and writes version 00', () => {
    const ctx = parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-holds`);
    assert.deepEqual(ctx, { traceId: TRACE, spanId: SPAN, flags: 1 });
    assert.equal(parseTraceparent(`cc-${TRACE}-${SPAN}-01x`), undefined);
    assert.equal(formatTraceparent(ctx), VALID);
  });

  test('keeps the sampled and random flags and drops reserved bits', () => {
    assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.flags, 3);
    assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-ff`)?.flags, 3);
    assert.equal(formatTraceparent({ traceId: TRACE, spanId: SPAN, flags: 0x81 }), VALID);
  });

  test('a child keeps the trace, flags and state under a new non-zero span id', () => {
    const parent = parseTraceparent(VALID, 'congo=t61rcWkgMzE')!;
    const child = childContext(parent);
    assert.equal(child.traceId, TRACE);
    assert.notEqual(child.spanId, SPAN);
    assert.match(child.spanId, /^[0-9a-f]{16}$/);
    assert.equal(child.flags, 1);
    assert.equal(child.tracestate, 'congo=t61rcWkgMzE');
    const root = childContext(undefined);
    assert.match(root.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(root.traceId, '0'.repeat(32));
    assert.equal(parseTraceparent(formatTraceparent(root))?.traceId, root.traceId);
  });
});

describe('trace context - tracestate', () => {
  test('normalises a valid list and joins repeated headers', () => {
    assert.equal(
      parseTracestate('rojo=00f067aa0ba902b7 , congo=t61rcWkgMzE'),
      'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    );
    assert.equal(parseTracestate(['a=1', 'b=2']), 'a=1,b=2');
    assert.equal(parseTracestate('tenant1@vendor=x,k/v*_-=y'), 'tenant1@vendor=x,k/v*_-=y');
    assert.equal(parseTracestate(''), undefined);
  });

  test('drops the whole list when a member is invalid or a key repeats', () => {
    for (const bad of ['Upper=1', 'a=1,a=2', 'a', '=1', 'a=x,y', 'a=has=equals', '1a=x']) {
      assert.equal(parseTracestate(bad), undefined, bad);
    }
    const members = Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',');
    assert.equal(parseTracestate(members), undefined, 'more than 32 members');
  });

  test('a list over 512 characters loses members from its end', () => {
    const long = Array.from({ length: 10 }, (_, i) => `k${i}=${'v'.repeat(60)}`).join(',');
    const out = parseTracestate(long)!;
    assert.ok(out.length <= 512);
    assert.ok(out.startsWith('k0='));
    assert.equal(out.split(',').length, 8); // 8 members of 63 characters: 511
  });

  test('an invalid tracestate does not invalidate the traceparent', () => {
    assert.deepEqual(parseTraceparent(VALID, 'Bad=1'), { traceId: TRACE, spanId: SPAN, flags: 1 });
  });
});

describe('trace context - on the bus', () => {
  async function busPair() {
    const transport = createMemoryTransport();
    const seen: Envelope[] = [];
    const tap = transport.subscribe('>', (env) => void seen.push(env));
    await tap.ready;
    const server = createBus({ transport, source: 'server' });
    const client = createBus({ transport, source: 'client' });
    await Promise.all([server.ready, client.ready]);
    return {
      server,
      client,
      seen,
      async [Symbol.asyncDispose]() {
        tap.unsubscribe();
        await client.close();
        await server.close();
        await transport.close();
      },
    };
  }

  test('a request and its reply carry the same trace', async () => {
    await using pair = await busPair();
    const span = TraceSpan.start(undefined, 'test', parseTraceparent(VALID, 'congo=t61'));
    await pair.server.serve('svc.echo', (msg) => ({ got: msg.body })).ready;
    const reply = await pair.client.request('svc.echo', { n: 1 }, traceFields(span.context));
    assert.equal(reply.envelope.traceparent, span.traceparent);
    assert.equal(reply.envelope.tracestate, 'congo=t61');
    const request = pair.seen.find((e) => e.subject === 'svc.echo')!;
    assert.equal(request.traceparent, span.traceparent);
    assert.equal(parseTraceparent(request.traceparent)?.traceId, TRACE);
  });

  test('every message of a stream carries the trace: open, chunks and result', async () => {
    await using pair = await busPair();
    const sub = pair.server.serve(
      'svc.count',
      async function* () {
        for (let i = 0; i < 5; i++) yield { i };
        return { done: true };
      },
      { chunkKind: 'count.chunk', replyKind: 'count.result' },
    );
    await sub.ready;
    const tp = `00-${TRACE}-${SPAN}-01`;
    const stream = pair.client.stream<{ i: number }, { done: boolean }>(
      'svc.count',
      {},
      { traceparent: tp, tracestate: 'rojo=1' },
    );
    const items = [];
    for await (const item of stream) items.push(item);
    assert.deepEqual(await stream.result, { done: true });
    assert.equal(items.length, 5);
    const replies = pair.seen.filter((e) => e.corr === stream.id && e.source === 'server');
    const kinds = replies.map((e) => e.kind);
    // Chunks written in one turn travel as one coalesced message: count the items they carry.
    const chunks = replies.filter((e) => e.kind === 'count.chunk');
    assert.equal(
      chunks.reduce((n, e) => n + (e.items ?? 1), 0),
      5,
    );
    assert.ok(kinds.includes('count.result'));
    assert.ok(kinds.includes('event'), 'the stream.open event');
    for (const e of replies) {
      assert.equal(e.traceparent, tp, `${e.kind} seq ${String(e.seq)}`);
      assert.equal(e.tracestate, 'rojo=1');
    }
  });
});

describe('trace context - span export settings', () => {
  function setup(env: NodeJS.ProcessEnv) {
    const warnings: string[] = [];
    const t = setupTracing({ serviceName: 's', env, warn: (m) => warnings.push(m) });
    return { t, warnings };
  }

  test('off unless the OTEL_* environment asks for export', async () => {
    const ep = 'http://127.0.0.1:4318';
    for (const env of [
      {},
      { OTEL_EXPORTER_OTLP_ENDPOINT: ep, OTEL_SDK_DISABLED: 'true' },
      { OTEL_EXPORTER_OTLP_ENDPOINT: ep, OTEL_TRACES_EXPORTER: 'none' },
    ]) {
      const { t } = setup(env);
      assert.equal(t.tracer, undefined, JSON.stringify(env));
      await t.shutdown();
    }
    const on = [
      [{ OTEL_EXPORTER_OTLP_ENDPOINT: `${ep}/` }, `${ep}/v1/traces`],
      [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${ep}/custom` }, `${ep}/custom`],
      [{ OTEL_TRACES_EXPORTER: 'otlp' }, 'http://localhost:4318/v1/traces'],
    ] as const;
    for (const [env, endpoint] of on) {
      const { t, warnings } = setup(env);
      assert.ok(t.tracer, JSON.stringify(env));
      assert.equal(t.endpoint, endpoint);
      assert.deepEqual(warnings, []);
      await t.shutdown();
    }
  });

  test('http/protobuf falls back to http/json with one warning', async () => {
    const { t, warnings } = setup({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    });
    assert.ok(t.tracer);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /http\/protobuf.*http\/json/);
    await t.shutdown();
  });

  test('an endpoint that is not an http URL is a ConfigError', () => {
    assert.throws(
      () => setup({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://x' }),
      (err: unknown) => err instanceof ConfigError && err.code === 'config_invalid',
    );
  });
});
