// The gateway's HTTP side under attack, on a real gateway with sim workers: bodies that are not
// JSON, other sites' origins (HTTP and the WebSocket bus), slowloris clients, a connection
// flood, and request fields nested thousands deep. Legitimate SDK traffic runs beside each
// attack and must come through complete and exact.
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG, merge, validateConfig } from '../../src/cli/config.js';
import { createGateway } from '../../src/llm/gateway/server.js';
import { createBus } from '../../src/bus/index.js';
import { ConfigError } from '../../src/protocol/index.js';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import { createBusHub } from '../../src/transport/ws/index.js';
import { upgrade } from '../cli/helpers.js';
import { completed, legitTraffic } from './legit-traffic.js';
import { explain, streamChat } from './process-stack.js';
import { referenceText, startStack } from './stack.js';

const messages = [{ role: 'user' as const, content: 'hello' }];
const chatBody = JSON.stringify({ model: 'sim', messages, max_tokens: 4 });

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP request with exactly these headers (node:http adds only host and connection). */
function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

function errorCode(reply: Reply): string {
  return (JSON.parse(reply.body) as { error: { code: string } }).error.code;
}

/** Opens a TCP connection to the gateway. */
function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with the ms it took the server to close `socket` (rejects after `limitMs`). */
function closedWithin(socket: Socket, limitMs: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
  });
}

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

describe('http hardening - content type', () => {
  test('a JSON body sent as text/plain is refused with 415 before it reaches a worker', async () => {
    await using stack = await startStack({ workers: 2 });
    const before = completed(stack);
    const [replies] = await Promise.all([
      Promise.all(
        ['/v1/chat/completions', '/v1/completions', '/v1/embeddings'].flatMap((path) =>
          [
            'text/plain',
            'text/plain;charset=UTF-8',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/jsonx',
            'application/json-seq',
          ].map((type) => send(stack.url, 'POST', path, { 'content-type': type }, chatBody)),
        ),
      ),
      legitTraffic(stack, 20),
    ]);
    for (const r of replies) {
      assert.equal(r.status, 415);
      assert.equal(r.headers['content-type'], 'application/json');
      const err = JSON.parse(r.body) as { error: Record<string, unknown> };
      assert.equal(err.error.code, 'unsupported_media_type');
      assert.equal(err.error.type, 'invalid_request_error');
      assert.equal(err.error.param, 'content-type');
    }
    const none = await send(stack.url, 'POST', '/v1/chat/completions', {}, chatBody);
    assert.equal(none.status, 415, 'no content type at all is refused too');
    assert.equal(completed(stack) - before, 20, 'only the legitimate requests were served');
  });

  test('JSON media types with parameters and +json suffixes are served', async () => {
    await using stack = await startStack({ workers: 1 });
    for (const type of [
      'application/json',
      'application/json; charset=utf-8',
      'Application/JSON;charset=UTF-8',
      'application/vnd.llmwire+json',
    ]) {
      const r = await send(
        stack.url,
        'POST',
        '/v1/chat/completions',
        { 'content-type': type },
        chatBody,
      );
      assert.equal(r.status, 200, type);
    }
  });

  test('the refusal comes before the body is read', async () => {
    await using stack = await startStack({ workers: 1 });
    const socket = await open(stack.url);
    const reply = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('\r\n\r\n')) resolve(text);
      });
    });
    // Headers announce a megabyte that never comes: the answer must not wait for it.
    socket.write(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: text/plain\r\ncontent-length: 1048576\r\n\r\n{',
    );
    assert.match(await reply, /^HTTP\/1\.1 415 /);
    socket.destroy();
  });
});

describe('http hardening - origins', () => {
  const listed = 'https://app.example';

  test('preflights from a listed origin are answered; its responses carry CORS headers', async () => {
    await using stack = await startStack({ workers: 1, gateway: { cors: { origins: [listed] } } });
    const pre = await send(stack.url, 'OPTIONS', '/v1/chat/completions', {
      origin: listed,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], listed);
    assert.equal(pre.headers['access-control-allow-methods'], 'POST');
    const allowed = String(pre.headers['access-control-allow-headers']).split(', ');
    for (const h of [
      'authorization',
      'content-type',
      'x-request-id',
      'x-llmwire-priority',
      'x-llmwire-timeout-ms',
    ])
      assert.ok(allowed.includes(h), h);
    assert.match(String(pre.headers.vary), /Origin/);

    const post = await send(
      stack.url,
      'POST',
      '/v1/chat/completions',
      { origin: listed, 'content-type': 'application/json' },
      chatBody,
    );
    assert.equal(post.status, 200);
    assert.equal(post.headers['access-control-allow-origin'], listed);
    assert.equal(post.headers.vary, 'Origin');
    const models = await send(stack.url, 'GET', '/v1/models', { origin: listed });
    assert.equal(models.status, 200);
    assert.equal(models.headers['access-control-allow-origin'], listed);
    const bad = await send(
      stack.url,
      'POST',
      '/v1/chat/completions',
      { origin: listed, 'content-type': 'text/plain' },
      chatBody,
    );
    assert.equal(bad.status, 415);
    assert.equal(bad.headers['access-control-allow-origin'], listed, 'errors are readable too');
  });

  test('any other origin is refused with 403 on every route but /healthz', async () => {
    await using stack = await startStack({
      workers: 2,
      gateway: { cors: { origins: [listed] }, metrics: true },
    });
    const before = completed(stack);
    const evil = 'https://evil.example';
    const attacks = [
      ['POST', '/v1/chat/completions', 'application/json'],
      ['POST', '/v1/chat/completions', 'text/plain'],
      ['POST', '/v1/completions', 'application/json'],
      ['POST', '/v1/embeddings', 'application/json'],
      ['OPTIONS', '/v1/chat/completions', ''],
      ['GET', '/v1/models', ''],
      ['GET', '/v1/llmwire/workers', ''],
      ['GET', '/v1/llmwire/status', ''],
      ['GET', '/metrics', ''],
      ['GET', '/readyz', ''],
      ['GET', '/dashboard', ''],
      ['GET', '/nowhere', ''],
    ] as const;
    const [replies] = await Promise.all([
      Promise.all(
        attacks.flatMap(([method, path, type]) =>
          [evil, 'null', `${listed}:8443`, `http://app.example`, `${stack.url}.evil.example`].map(
            (origin) =>
              send(
                stack.url,
                method,
                path,
                { origin, ...(type === '' ? {} : { 'content-type': type }) },
                method === 'POST' ? chatBody : undefined,
              ).then((r) => ({ r, what: `${origin} ${method} ${path}` })),
          ),
        ),
      ),
      legitTraffic(stack, 20),
    ]);
    for (const { r, what } of replies) {
      assert.equal(r.status, 403, what);
      assert.equal(errorCode(r), 'forbidden', what);
      assert.equal(r.headers['access-control-allow-origin'], undefined, what);
    }
    const health = await send(stack.url, 'GET', '/healthz', { origin: evil });
    assert.equal(health.status, 200);
    assert.equal(completed(stack) - before, 20, 'no attack reached a worker');
  });

  test("the gateway's own origin and requests without Origin are served", async () => {
    await using stack = await startStack({ workers: 1 });
    const own = await send(
      stack.url,
      'POST',
      '/v1/chat/completions',
      { origin: stack.url, 'content-type': 'application/json' },
      chatBody,
    );
    assert.equal(own.status, 200);
    assert.equal(own.headers['access-control-allow-origin'], undefined);
    const plain = await send(
      stack.url,
      'POST',
      '/v1/chat/completions',
      { 'content-type': 'application/json' },
      chatBody,
    );
    assert.equal(plain.status, 200);
  });

  test('origins are checked: config names the field, the gateway option throws ConfigError', () => {
    for (const bad of [
      '*',
      'https://app.example/',
      'app.example',
      'https://App.example',
      'ftp://x.example',
      'https://a.example/path',
    ]) {
      const config = merge(DEFAULT_CONFIG, {
        gateway: { cors: { origins: ['https://ok.example', bad] } },
      });
      assert.throws(
        () => validateConfig(config, 'test'),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.code === 'config_invalid' &&
          err.message.includes('gateway.cors.origins.1'),
        bad,
      );
      const bus = createBus({ transport: createMemoryTransport(), source: 't' });
      assert.throws(
        () => createGateway({ bus, cors: { origins: [bad] } }),
        (err: unknown) => err instanceof ConfigError && err.message.includes('cors.origins[0]'),
        bad,
      );
    }
    const ok = merge(DEFAULT_CONFIG, {
      gateway: {
        cors: { origins: ['https://app.example', 'http://localhost:3000', 'http://[::1]:5173'] },
      },
    });
    assert.deepEqual(validateConfig(ok, 'test').gateway.cors?.origins, [
      'https://app.example',
      'http://localhost:3000',
      'http://[::1]:5173',
    ]);
  });
});

describe('http hardening - bus endpoint origins', () => {
  test('an upgrade from another origin gets 403; listed, own and no origin join', async () => {
    await using stack = await startStack({ workers: 1 });
    const hub = createBusHub(stack.transport, {
      server: stack.gateway.server,
      allowedOrigins: ['https://app.example'],
      onError: () => undefined,
    });
    try {
      const url = `${stack.url.replace('http', 'ws')}/v1/bus`;
      const [results] = await Promise.all([
        Promise.all(
          [
            'https://evil.example',
            'null',
            'http://127.0.0.1',
            'https://app.example.evil.example',
          ].map((o) => upgrade(url, o)),
        ),
        legitTraffic(stack, 10),
      ]);
      assert.deepEqual(results, [403, 403, 403, 403]);
      assert.equal(hub.peers().length, 0);
      assert.equal(await upgrade(url, 'https://app.example'), 'open');
      assert.equal(await upgrade(url, stack.url), 'open');
      assert.equal(await upgrade(url), 'open');
    } finally {
      await hub.close();
    }
  });

  test('the hub refuses a malformed allowedOrigins entry', () => {
    assert.throws(
      () => createBusHub(createMemoryTransport(), { allowedOrigins: ['https://x.example/'] }),
      ConfigError,
    );
  });
});

describe('http hardening - slow clients', () => {
  test(
    '100 connections trickling a body are cut within seconds; SDK traffic is unharmed',
    { timeout: 60_000 },
    async () => {
      await using stack = await startStack({
        workers: 2,
        gateway: { http: { headersTimeoutMs: 2_000, requestTimeoutMs: 3_000 } },
      });
      const before = completed(stack);
      const sockets = await Promise.all(Array.from({ length: 100 }, () => open(stack.url)));
      const timers: NodeJS.Timeout[] = [];
      for (const s of sockets) {
        s.write(
          'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n',
        );
        // A byte every two seconds: alive, never finishing.
        timers.push(setInterval(() => s.writable && s.write(' '), 2_000));
      }
      try {
        const [cut] = await Promise.all([
          Promise.all(sockets.map((s) => closedWithin(s, 15_000))),
          legitTraffic(stack, 40),
        ]);
        assert.equal(cut.length, 100);
        assert.equal(completed(stack) - before, 40);
      } finally {
        for (const t of timers) clearInterval(t);
        for (const s of sockets) s.destroy();
      }
    },
  );

  test(
    'headers trickled a line at a time are cut within seconds',
    { timeout: 60_000 },
    async () => {
      await using stack = await startStack({
        workers: 1,
        gateway: { http: { headersTimeoutMs: 2_000, requestTimeoutMs: 3_000 } },
      });
      const sockets = await Promise.all(Array.from({ length: 20 }, () => open(stack.url)));
      const timers: NodeJS.Timeout[] = [];
      for (const s of sockets) {
        s.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n');
        let n = 0;
        timers.push(setInterval(() => s.writable && s.write(`x-pad-${n++}: 1\r\n`), 500));
      }
      try {
        const [cut] = await Promise.all([
          Promise.all(sockets.map((s) => closedWithin(s, 12_000))),
          legitTraffic(stack, 10),
        ]);
        assert.equal(cut.length, 20);
      } finally {
        for (const t of timers) clearInterval(t);
        for (const s of sockets) s.destroy();
      }
    },
  );

  test(
    'an SSE answer streaming longer than requestTimeoutMs is not cut',
    { timeout: 30_000 },
    async () => {
      await using stack = await startStack({
        workers: 1,
        sim: { ttftMs: 10, itlMs: 100 },
        gateway: { http: { headersTimeoutMs: 500, requestTimeoutMs: 1_000 } },
      });
      const start = Date.now();
      const request = { model: 'sim', messages, max_tokens: 30, seed: 3 };
      const outcome = await streamChat(stack.client(), request);
      assert.equal(outcome.error, undefined, explain(outcome.error));
      assert.ok(Date.now() - start > 2_000, 'the stream outlived requestTimeoutMs');
      assert.ok(outcome.finishReason === 'length' || outcome.finishReason === 'stop');
      assert.equal(outcome.text, await referenceText({}, request));
    },
  );

  test(
    'past maxConnections new connections are closed; open ones finish',
    { timeout: 30_000 },
    async () => {
      await using stack = await startStack({
        workers: 1,
        sim: { ttftMs: 10, itlMs: 50 },
        gateway: { http: { maxConnections: 8 } },
      });
      // One connection streams an answer; seven idle sockets fill the cap.
      const streaming = (async () => {
        const stream = await stack.client().chat.completions.create({
          model: 'sim',
          messages,
          max_tokens: 40,
          seed: 9,
          stream: true,
        });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        return text;
      })();
      await new Promise((r) => setTimeout(r, 200));
      const idle = await Promise.all(Array.from({ length: 7 }, () => open(stack.url)));
      await new Promise((r) => setTimeout(r, 100));
      const extra = await open(stack.url);
      let got = '';
      extra.on('data', (c: Buffer) => (got += c.toString()));
      extra.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await closedWithin(extra, 5_000);
      assert.equal(got, '', 'the connection past the cap got no answer');
      const { referenceText } = await import('./stack.js');
      assert.equal(
        await streaming,
        await referenceText({}, { model: 'sim', messages, max_tokens: 40, seed: 9 }),
      );
      for (const s of idle) s.destroy();
      await new Promise((r) => setTimeout(r, 100));
      await legitTraffic(stack, 6, 2);
    },
  );

  test('bad http options are ConfigErrors', () => {
    const bus = createBus({ transport: createMemoryTransport(), source: 't' });
    assert.throws(() => createGateway({ bus, http: { headersTimeoutMs: 0 } }), {
      name: 'ConfigError',
      message:
        "gateway: 'http.headersTimeoutMs' expected integer to be greater or equal to 1, got 0",
    });
    assert.throws(
      () => createGateway({ bus, http: { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 } }),
      {
        name: 'ConfigError',
        message:
          "gateway: 'http.headersTimeoutMs' (20000) must not exceed 'http.requestTimeoutMs' (10000)",
      },
    );
    assert.throws(
      () =>
        validateConfig(merge(DEFAULT_CONFIG, { gateway: { http: { maxConnections: 0 } } }), 't'),
      (err: unknown) =>
        err instanceof ConfigError && err.message.includes('gateway.http.maxConnections'),
    );
  });
});

describe('http hardening - open request fields', () => {
  test('fields nested past the limit are refused with 400 naming the field', async () => {
    await using stack = await startStack({ workers: 2 });
    const before = completed(stack);
    const base = JSON.stringify({ model: 'sim', messages, max_tokens: 4 }).slice(0, -1);
    // Written as text: JSON.stringify itself overflows the stack on values this deep.
    const deep = (open: string, close: string, n: number) => open.repeat(n) + '1' + close.repeat(n);
    const cases: [string, string][] = [
      [`${base},"my_extra":${deep('{"a":', '}', 5_000)}}`, 'my_extra'],
      [`${base},"my_extra":${deep('{"a":', '}', 33)}}`, 'my_extra'],
      [`${base},"tool_choice":${deep('{"a":', '}', 5_000)}}`, 'tool_choice'],
      [`${base},"vendor":${deep('[', ']', 5_000)}}`, 'vendor'],
      [`${base},"big":"${'x'.repeat(300 * 1024)}"}`, 'big'],
      [`${base},${Array.from({ length: 65 }, (_, i) => `"x${i}":${i}`).join(',')}}`, 'x64'],
      [`${base},"${'k'.repeat(300)}":1}`, 'k'.repeat(64)],
    ];
    const [replies] = await Promise.all([
      Promise.all(
        cases.map(([body]) =>
          send(
            stack.url,
            'POST',
            '/v1/chat/completions',
            { 'content-type': 'application/json' },
            body,
          ),
        ),
      ),
      legitTraffic(stack, 20),
    ]);
    for (const [i, r] of replies.entries()) {
      assert.equal(r.status, 400, `case ${i}`);
      const err = JSON.parse(r.body) as { error: { code: string; param: string } };
      assert.equal(err.error.code, 'invalid_message');
      assert.equal(err.error.param, cases[i]![1]);
    }
    const embed = await send(
      stack.url,
      'POST',
      '/v1/embeddings',
      { 'content-type': 'application/json' },
      `{"model":"sim","input":"x","extra":${'['.repeat(5_000)}${']'.repeat(5_000)}}`,
    );
    assert.equal(embed.status, 400);
    assert.equal(completed(stack) - before, 20, 'no refused request reached a worker');
  });

  test('extra fields within the limits still reach the worker', async () => {
    await using stack = await startStack({ workers: 1 });
    const r = await send(
      stack.url,
      'POST',
      '/v1/chat/completions',
      { 'content-type': 'application/json' },
      JSON.stringify({ model: 'sim', messages, max_tokens: 4, guided_json: nested(32), top_k: 5 }),
    );
    assert.equal(r.status, 200, r.body);
  });
});
