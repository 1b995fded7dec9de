// `llmwire up` with a real model server behind it, as docs/backends.md documents it: the config
// file's openai backend replaces the default sim backend (no options merged across backends),
// requests reach the upstream, and a backend that cannot start stops `up` with the error
// instead of leaving a gateway that serves nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { echoScript, startUpstream } from '../llm/backends/openai-upstream.js';
import { freePort } from '../transport/fixtures/nats-server.js';
import { Background, llmwire } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'llmwire-up-backends-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(name: string, backend: Record<string, unknown>): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `workers:\n  backend: ${JSON.stringify(backend)}\n`);
  return file;
}

/** Waits until `up` prints that it is ready (or fails with what it printed). */
async function ready(up: Background): Promise<string> {
  const until = Date.now() + 20_000;
  while (!/ready; Ctrl-C/.test(up.stdout)) {
    if (up.child.exitCode !== null || Date.now() > until) {
      throw new Error(`llmwire up did not start:\n${up.stdout}${up.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = /gateway +(http:\/\/\S+)\/v1/.exec(up.stdout)?.[1];
  assert.ok(url, up.stdout);
  return url;
}

describe('cli up with the openai backend', () => {
  test('up --backend openai --config: the file backend replaces sim and answers come from the upstream', async () => {
    await using upstream = await startUpstream(echoScript(['Hello', ' from', ' upstream']));
    const file = config('openai', {
      kind: 'openai',
      baseURL: upstream.baseURL,
      models: ['real-model'],
    });
    for (const args of [['--backend', 'openai'], []]) {
      await using up = new Background([
        'up',
        ...args,
        '--config',
        file,
        '--port',
        '0',
        '--workers',
        '1',
        '--data-dir',
        join(dir, `data-${args.length}`),
      ]);
      const url = await ready(up);
      assert.match(up.stdout, /workers +local-1 \[openai\]/);
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'real-model', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const body = (await res.json()) as { choices: { message: { content: string } }[] };
      assert.equal(body.choices[0]!.message.content, 'Hello from upstream');
    }
    assert.ok(upstream.calls.some((c) => c.path.endsWith('/chat/completions')));
  });

  test('up --backend openai without an upstream exits 2 naming what to set, serving nothing', async () => {
    const port = await freePort();
    const r = await llmwire(['up', '--backend', 'openai', '--port', String(port)]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^llmwire: the openai backend needs its upstream: set workers\.backend\.baseURL .*\[config_invalid\]\n$/,
    );
    assert.doesNotMatch(r.stdout, /ready/);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'nothing listens');
  });

  test('a config backend with a wrong option stops up with exit 2 before it listens', async () => {
    const file = config('bad', { kind: 'openai', baseURL: 'http://127.0.0.1:1/v1', ttftMs: 5 });
    const r = await llmwire(['up', '--config', file, '--port', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /openai backend: unknown option 'ttftMs'.*\[config_invalid\]/);
    assert.doesNotMatch(r.stdout, /ready/);
  });

  test('an upstream that does not answer stops up with exit 3 (unreachable)', async () => {
    const port = await freePort(); // nothing listens there
    const file = config('dead', { kind: 'openai', baseURL: `http://127.0.0.1:${port}/v1` });
    const r = await llmwire(['up', '--config', file, '--port', '0']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(
      r.stderr,
      /the openai backend cannot reach its upstream at http:\/\/127\.0\.0\.1:\d+\/v1 .*\[unreachable\]/,
    );
    assert.doesNotMatch(r.stdout, /ready/);
  });

  test('worker --backend openai without --upstream exits 2 naming the flag', async () => {
    const r = await llmwire([
      'worker',
      '--backend',
      'openai',
      '--connect',
      'ws://127.0.0.1:1/v1/bus',
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /the openai backend needs its upstream: set --upstream URL/);
  });
});
