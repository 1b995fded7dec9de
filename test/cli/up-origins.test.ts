// `llmwire up` with gateway.cors and gateway.http in its config file: the listed origin may call
// the API and open the bus endpoint, another origin may do neither, and bad entries stop it.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Background, llmwire, upgrade } from './helpers.js';

describe('cli - up with browser origins', () => {
  test(
    'gateway.cors.origins reaches the gateway and the bus endpoint',
    { timeout: 60_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'llmwire-origins-'));
      const file = join(dir, 'llmwire.json');
      writeFileSync(
        file,
        JSON.stringify({
          gateway: {
            cors: { origins: ['https://app.example'] },
            http: { headersTimeoutMs: 5_000, requestTimeoutMs: 20_000, maxConnections: 100 },
          },
        }),
      );
      await using up = new Background([
        'up',
        '--transport',
        'memory',
        '--port',
        '0',
        '--workers',
        '1',
        '--config',
        file,
      ]);
      const until = Date.now() + 20_000;
      while (!/ready; Ctrl-C/.test(up.stdout) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const base = /gateway\s+(http:\/\/\S+)\/v1/.exec(up.stdout)?.[1];
      assert.ok(base, `llmwire up started: ${up.stdout}${up.stderr}`);
      const bus = `${base.replace('http', 'ws')}/v1/bus`;
      assert.equal(await upgrade(bus, 'https://evil.example'), 403);
      assert.equal(await upgrade(bus, 'https://app.example'), 'open');

      const body = JSON.stringify({ model: 'sim', messages: [{ role: 'user', content: 'hi' }] });
      const post = (origin: string, type = 'application/json') =>
        fetch(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: { origin, 'content-type': type },
          body,
        });
      const evil = await post('https://evil.example');
      assert.equal(evil.status, 403);
      const listed = await post('https://app.example');
      assert.equal(listed.status, 200);
      assert.equal(listed.headers.get('access-control-allow-origin'), 'https://app.example');
      const plain = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body,
      });
      assert.equal(plain.status, 415);
    },
  );

  test('a malformed origin stops up with the field named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-origins-'));
    const file = join(dir, 'llmwire.json');
    writeFileSync(
      file,
      JSON.stringify({ gateway: { cors: { origins: ['https://app.example/'] } } }),
    );
    const r = await llmwire(['up', '--once', '--transport', 'memory', '--config', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /gateway\.cors\.origins\.0/);
  });
});
