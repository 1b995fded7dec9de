// The bus locked down (docs/security.md): attacks made against a real `llmwire up` process with
// two tenants, a worker credential, an operator and an observer, each refused, while legitimate
// traffic beside them completes exactly.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { WebSocket } from 'ws';
import { createBus, type Bus } from '../../src/bus/index.js';
import { ForbiddenError, UnauthorizedError, type WireError } from '../../src/protocol/index.js';
import { createWebSocketTransport, type WebSocketTransport } from '../../src/transport/ws/index.js';
import { connect, type Socket } from 'node:net';
import { Background } from '../cli/helpers.js';
import { RawPeer } from '../transport/ws-harness.js';
import { explain, streamChat } from './process-stack.js';
import { referenceText } from './stack.js';
import { waitUntil } from '../wait.js';

const KEYS = {
  a: 'sk-tenant-a-0123456789',
  b: 'sk-tenant-b-0123456789',
  worker: 'wk-gpu-1-0123456789abc',
  ops: 'op-ops-0123456789abcdef',
  prom: 'ob-prom-0123456789abcd',
};

interface Peer {
  transport: WebSocketTransport;
  bus: Bus;
  errors: WireError[];
  close(): Promise<void>;
}

describe('bus security: attacks on a running llmwire up', () => {
  let up: Background;
  let url = '';
  let hubUrl = '';
  const peers: Peer[] = [];

  async function joinBus(key: string): Promise<Peer> {
    const errors: WireError[] = [];
    const transport = createWebSocketTransport({
      url: hubUrl,
      token: key,
      reconnect: false,
      onError: (err) => errors.push(err as WireError),
    });
    const bus = createBus({ transport, onError: (err) => errors.push(err as WireError) });
    await bus.ready;
    const peer = {
      transport,
      bus,
      errors,
      async close() {
        await bus.close();
        await transport.close();
      },
    };
    peers.push(peer);
    return peer;
  }

  const client = (key: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });

  /** Tenant A's legitimate traffic: n streamed chats, each checked for the sim's whole text. */
  async function legit(n = 8): Promise<void> {
    const openai = client(KEYS.a);
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const request = {
          model: 'sim',
          messages: [{ role: 'user' as const, content: `secret prompt of tenant a #${i}` }],
          max_tokens: 8,
        };
        const outcome = await streamChat(openai, request);
        assert.equal(outcome.error, undefined, explain(outcome.error));
        assert.equal(outcome.text, await referenceText({}, request), 'tenant a got its answer');
        assert.equal(outcome.finishReason, 'length');
      }),
    );
  }

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-security-'));
    writeFileSync(join(dir, 'worker.key'), `${KEYS.worker}\n`);
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        gateway: { http: { headersTimeoutMs: 2_000, requestTimeoutMs: 4_000 } },
        identities: [
          { name: 'tenant-a', role: 'client', key: KEYS.a, models: ['sim'] },
          { name: 'tenant-b', role: 'client', key: { env: 'TEST_TENANT_B_KEY' }, models: ['x'] },
          { name: 'gpu-1', role: 'worker', key: { file: join(dir, 'worker.key') } },
          { name: 'ops', role: 'operator', key: KEYS.ops },
          { name: 'prom', role: 'observer', key: KEYS.prom },
        ],
      }),
    );
    process.env.TEST_TENANT_B_KEY = KEYS.b;
    up = new Background(['up', '--port', '0', '--data-dir', dir, '--config', config]);
    await waitUntil(() => /ready/.test(up.stdout), 'llmwire up to be ready', 20_000);
    const m = /gateway\s+(http:\/\/[\d.:]+)\/v1/.exec(up.stdout);
    assert.ok(m, up.stdout);
    url = m[1]!;
    hubUrl = `${url.replace('http', 'ws')}/v1/bus`;
  });

  after(async () => {
    for (const p of peers) await p.close().catch(() => undefined);
    await up[Symbol.asyncDispose]();
  });

  test("another tenant's key cannot read prompts: subscriptions outside its inbox are refused", async () => {
    const b = await joinBus(KEYS.b);
    for (const pattern of [
      'llm.>',
      '>',
      'llm.worker.*.chat',
      'llm.worker.local-1.chat',
      '_INBOX.>',
      '_INBOX.*',
    ]) {
      const seen: string[] = [];
      const sub = b.transport.subscribe(pattern, (env) => seen.push(env.subject));
      await assert.rejects(sub.ready, ForbiddenError, pattern);
    }
    // Its own inbox works: it may send a request of its own (stamped as tenant-b).
    await legit();
  });

  test('a client key cannot register a worker or stop the real ones', async () => {
    const b = await joinBus(KEYS.b);
    for (const id of ['fake', 'local-1', 'local-2']) {
      b.bus.publish(
        `llm.heartbeat.${id}`,
        {
          worker: id,
          models: ['sim'],
          capacity: 1000,
          inflight: 0,
          status: id === 'fake' ? 'ready' : 'stopped',
        },
        { kind: 'heartbeat' },
      );
    }
    await b.transport.flush();
    await waitUntil(() => b.errors.length >= 3, 'three refusals', 5000);
    assert.ok(
      b.errors.every((e) => e.code === 'forbidden'),
      JSON.stringify(b.errors),
    );
    await legit(16);
    const res = await fetch(`${url}/v1/llmwire/workers`, {
      headers: { authorization: `Bearer ${KEYS.ops}` },
    });
    const body = (await res.json()) as { workers: { id: string }[] };
    assert.deepEqual(body.workers.map((w) => w.id).sort(), ['local-1', 'local-2']);
  });

  test("neither a client nor a worker key can cancel another's background response over the bus", async () => {
    for (const key of [KEYS.b, KEYS.worker]) {
      const peer = await joinBus(key);
      const sub = peer.transport.subscribe('llm.gateway.responses.cancel', () => undefined);
      await assert.rejects(sub.ready, ForbiddenError, 'listening for cancels');
      peer.bus.publish('llm.gateway.responses.cancel', { id: 'resp_0' }, { kind: 'event' });
      await peer.transport.flush();
      await waitUntil(() => peer.errors.length >= 1, 'the refusal', 5000);
      assert.ok(
        peer.errors.every((e) => e.code === 'forbidden'),
        JSON.stringify(peer.errors),
      );
    }
    await legit();
  });

  test('a worker credential may serve its own id only, and answer only requests it was sent', async () => {
    const w = await joinBus(KEYS.worker);
    for (const pattern of ['llm.worker.*.chat', 'llm.worker.local-1.chat', 'llm.>']) {
      const sub = w.transport.subscribe(pattern, () => undefined);
      await assert.rejects(sub.ready, ForbiddenError, pattern);
    }
    await w.transport.subscribe('llm.worker.gpu-1.chat', () => undefined).ready;
    // Heartbeats for another id, and replies to an inbox it was never sent a request from.
    w.bus.publish(
      'llm.heartbeat.local-1',
      { worker: 'local-1', models: ['sim'], capacity: 1, inflight: 0, status: 'stopped' },
      { kind: 'heartbeat' },
    );
    w.bus.publish('_INBOX.guessed', { text: 'forged' }, { kind: 'inference.chunk', corr: 'x' });
    await w.transport.flush();
    await waitUntil(() => w.errors.length >= 2, 'two refusals', 5000);
    assert.ok(
      w.errors.every((e) => e.code === 'forbidden'),
      JSON.stringify(w.errors),
    );
    await legit();
  });

  test('a worker process with its worker credential joins as that worker and serves; with a client key it cannot', async () => {
    await using _worker = new Background([
      'worker',
      '--connect',
      hubUrl,
      '--token',
      KEYS.worker,
      '--sim-ttft-ms',
      '0',
      '--sim-itl-ms',
      '0',
    ]);
    await using bad = new Background([
      'worker',
      '--connect',
      hubUrl,
      '--token',
      KEYS.b,
      '--id',
      'sneaky',
    ]);
    const workers = async () => {
      const res = await fetch(`${url}/v1/llmwire/workers`, {
        headers: { authorization: `Bearer ${KEYS.prom}` },
      });
      return ((await res.json()) as { workers: { id: string }[] }).workers.map((w) => w.id);
    };
    await waitUntil(async () => (await workers()).includes('gpu-1'), 'gpu-1 to join', 10_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!(await workers()).includes('sneaky'), 'a client key registered no worker');
    await waitUntil(() => /forbidden/.test(bad.stdout + bad.stderr), 'the refusal logged', 10_000);
    // Traffic reaches gpu-1 as well as the local workers.
    const served = new Set<string>();
    const openai = client(KEYS.a);
    for (let i = 0; i < 30 && !served.has('gpu-1'); i++) {
      const r = await openai.chat.completions
        .create({ model: 'sim', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 4 })
        .withResponse();
      served.add(r.response.headers.get('x-llmwire-worker') ?? '');
      assert.ok(r.data.choices[0]?.message.content);
    }
    assert.ok(served.has('gpu-1'), [...served].join(','));
  });

  test('tokens that are names of object properties are not keys', async () => {
    for (const token of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(hubUrl, { headers: { authorization: `Bearer ${token}` } });
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => {
          resolve(101);
          ws.close();
        });
        ws.on('error', () => undefined);
      });
      assert.equal(status, 401, token);
      const res = await fetch(`${url}/v1/models`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 401, token);
    }
    const t = createWebSocketTransport({
      url: hubUrl,
      token: 'constructor',
      reconnect: false,
      onError: () => undefined,
    });
    let refused: Error | undefined;
    for await (const s of t.status()) {
      if (s.type === 'error') refused = s.error;
      if (s.type === 'closed' || s.type === 'error') break;
    }
    assert.ok(refused instanceof UnauthorizedError, String(refused));
    await t.close();
  });

  test('10,000 identical subscriptions cost the hub one: each message reaches the peer once', async () => {
    const raw = await RawPeer.connect(`${hubUrl}?token=${KEYS.ops}`);
    const n = 10_000;
    // In batches: past 1,024 unanswered requests a connection's next ones are refused.
    for (let sid = 1; sid <= n; sid++) {
      raw.send({ op: 'sub', id: sid, sid, pattern: 'llm.>' });
      if (sid % 500 === 0) await raw.next((r) => r.op === 'ok' && r.id === sid, 10_000);
    }
    // Heartbeats reached the first subscriptions while the rest were being made: count after.
    const from = raw.received.length;
    await legit(16);
    const msgs = raw.received.slice(from).filter((r) => r.op === 'msg');
    assert.ok(msgs.length > 16, `the operator saw the traffic (${msgs.length} records)`);
    assert.ok(
      msgs.every((r) => r.op === 'msg' && r.sids?.length === n),
      'every message went out once, naming all 10,000 subscriptions',
    );
    raw.close();
  });

  test('100 connections trickling a body are cut off within seconds; traffic beside them completes', async () => {
    const { hostname, port } = new URL(url);
    const sockets = await Promise.all(
      Array.from(
        { length: 100 },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const s = connect(Number(port), hostname, () => resolve(s));
            s.once('error', reject);
          }),
      ),
    );
    const start = Date.now();
    const closed = sockets.map(
      (s) =>
        new Promise<number>((resolve) => {
          s.on('error', () => undefined);
          s.once('close', () => resolve(Date.now() - start));
        }),
    );
    const timers = sockets.map((s) => {
      s.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nauthorization: Bearer ${KEYS.a}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n`,
      );
      return setInterval(() => s.writable && s.write(' '), 2_000);
    });
    try {
      await legit(16);
      const times = await Promise.all(closed);
      // requestTimeoutMs is 4 s here; Node checks every second.
      assert.ok(Math.max(...times) < 15_000, `all cut within 15 s: ${Math.max(...times)} ms`);
    } finally {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
    }
  });

  test('each route says which roles may use it', async () => {
    const get = (path: string, key?: string) =>
      fetch(
        `${url}${path}`,
        key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } },
      );
    assert.equal((await get('/metrics')).status, 401);
    assert.equal((await get('/metrics', KEYS.a)).status, 403);
    assert.equal((await get('/metrics', KEYS.prom)).status, 200);
    assert.equal((await get('/metrics', KEYS.ops)).status, 200);
    assert.equal((await get('/v1/llmwire/status', KEYS.b)).status, 403);
    assert.equal((await get('/v1/llmwire/status', KEYS.prom)).status, 200);
    assert.equal((await get('/v1/models', KEYS.worker)).status, 403);
    assert.equal((await get('/v1/models', KEYS.prom)).status, 403);
    assert.equal((await get('/v1/models', KEYS.a)).status, 200);
    assert.equal((await get('/dashboard/feed', KEYS.a)).status, 403);
    const chat = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS.worker}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(chat.status, 403);
    // Refusals on the bus are counted for the operator to see.
    const metrics = await (await get('/metrics', KEYS.prom)).text();
    assert.match(
      metrics,
      /llmwire_bus_denied_total\{identity="tenant-b",role="client",action="subscribe"\} [1-9]/,
    );
    assert.match(
      metrics,
      /llmwire_bus_denied_total\{identity="gpu-1",role="worker",action="publish"\} [1-9]/,
    );
  });
});
