// The command line as a user runs it: real child processes, their exit codes and output.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startStack } from '../llm/stack.js';

const MAIN = resolve(fileURLToPath(import.meta.url), '../../../src/cli/main.js');

function llmwire(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

describe('cli', () => {
  test('every command answers --help with its options and exit 0', async () => {
    for (const command of ['up', 'gateway', 'worker', 'send', 'status', 'tail', 'dlq', 'bench']) {
      const r = await llmwire([command, '--help']);
      assert.equal(r.code, 0, command);
      assert.match(r.stdout, new RegExp(`Usage: llmwire ${command}`));
      assert.match(r.stdout, /--help/);
    }
    const top = await llmwire(['help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Commands:/);
  });

  test('an unknown command or flag exits 2 with a message that says what to do', async () => {
    const unknown = await llmwire(['launch']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'launch'/);
    const flag = await llmwire(['up', '--colour']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--colour/);
    assert.match(flag.stderr, /llmwire up --help/);
  });

  test('worker refuses a --coalesce-ms outside 0-1000 before it connects', async () => {
    for (const value of ['5000', '2.5', 'soon']) {
      const r = await llmwire([
        'worker',
        '--coalesce-ms',
        value,
        '--connect',
        'ws://127.0.0.1:1/v1/bus',
      ]);
      assert.equal(r.code, 2, value);
      assert.match(r.stderr, /--coalesce-ms: expected integer/, value);
    }
  });

  test('a bad config file is refused with one line per wrong field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-cli-'));
    try {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, 'gateway:\n  port: 99999\n  colour: blue\nworkers:\n  count: -1\n');
      const r = await llmwire(['up', '--once', '--config', file]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /invalid configuration/);
      assert.match(r.stderr, /gateway\.port/);
      assert.match(r.stderr, /workers\.count/);
      assert.match(r.stderr, /colour/);
      const notYaml = join(dir, 'broken.yaml');
      writeFileSync(notYaml, 'gateway: [unclosed\n');
      const broken = await llmwire(['up', '--once', '--config', notYaml]);
      assert.equal(broken.code, 2);
      assert.match(broken.stderr, /not valid YAML/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a flag given as an environment variable is validated too', async () => {
    const r = await llmwire(['up', '--once'], { LLMWIRE_PORT: 'eighty' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /gateway\.port/);
  });

  test('up --once starts the gateway and workers, prints what runs and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-cli-'));
    try {
      const r = await llmwire(['up', '--once', '--port', '0', '--data-dir', dir, '--workers', '3']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /gateway\s+http:\/\/127\.0\.0\.1:\d+\/v1/);
      assert.match(r.stdout, /local-1, local-2, local-3/);
      assert.match(r.stdout, /journal\.db/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('send streams an answer and status lists the workers', async () => {
    await using stack = await startStack({ workers: 2 });
    const sent = await llmwire([
      'send',
      '--url',
      `${stack.url}/v1`,
      '--model',
      'sim',
      '--max-tokens',
      '6',
      'hello',
      'there',
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.ok(sent.stdout.trim().length > 0, 'printed the answer');
    assert.match(sent.stderr, /6 completion tokens/);
    for (const api of ['responses', 'messages']) {
      for (const stream of [[], ['--no-stream']]) {
        const other = await llmwire([
          'send',
          '--api',
          api,
          ...stream,
          '--url',
          `${stack.url}/v1`,
          '--max-tokens',
          '6',
          'hello',
          'there',
        ]);
        assert.equal(other.code, 0, `${api} ${stream.join('')}: ${other.stderr}`);
        assert.equal(other.stdout, sent.stdout, `${api}: the same answer as chat`);
        if (stream.length === 0) assert.match(other.stderr, /6 completion tokens/);
      }
    }
    const bad = await llmwire(['send', '--api', 'grpc', '--url', `${stack.url}/v1`, 'hi']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--api must be chat, responses, messages/);
    const refused = await llmwire([
      'send',
      '--api',
      'messages',
      '--url',
      `${stack.url}/v1`,
      '--model',
      'nope',
      'hi',
    ]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /gateway answered 404: .*\[not_found_error\]/);
    const status = await llmwire(['status', '--url', stack.url]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /WORKER\s+STATE\s+MODELS\s+LOAD/);
    assert.match(status.stdout, /w1\s+ready\s+sim/);
    const json = await llmwire(['status', '--url', stack.url, '--json']);
    assert.equal((JSON.parse(json.stdout) as { workers: unknown[] }).workers.length, 2);
  });
});
