// Optional packages, for real: the built package is copied to a temporary directory whose
// node_modules lacks some of them (broker clients, OpenTelemetry export, the SQLite addon), as
// an install without those optional peers would. `llmwire up` on its defaults then runs and
// answers, proving it loads no broker client; choosing what a missing package serves fails
// with exit 2 and a MissingPackageError naming the package to install.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Run } from './helpers.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const BROKER_CLIENTS = ['@nats-io/transport-node', '@nats-io/jetstream', '@nats-io/kv'].concat([
  'amqplib',
  'ioredis',
]);
const OTEL_EXPORT = [
  '@opentelemetry/exporter-trace-otlp-http',
  '@opentelemetry/resources',
  '@opentelemetry/sdk-trace-node',
];

/** A copy of the built package with every installed package but `without` (symlinked). */
function installWithout(without: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-without-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(ROOT, 'dist/src'), join(dir, 'dist/src'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  const from = join(ROOT, 'node_modules');
  const to = join(dir, 'node_modules');
  mkdirSync(to);
  for (const name of readdirSync(from)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) {
      mkdirSync(join(to, name));
      for (const sub of readdirSync(join(from, name))) {
        if (!without.includes(`${name}/${sub}`)) {
          symlinkSync(join(from, name, sub), join(to, name, sub), 'dir');
        }
      }
    } else if (!without.includes(name)) {
      symlinkSync(join(from, name), join(to, name), 'dir');
    }
  }
  for (const name of without) assert.ok(!existsSync(join(to, name)), `${name} left out`);
  return join(dir, 'dist/src/cli/main.js');
}

function run(main: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [main, ...args],
      { cwd: tmpdir(), env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        done({ code, stdout, stderr });
      },
    );
  });
}

describe('cli without the optional packages', () => {
  const main = installWithout([...BROKER_CLIENTS, ...OTEL_EXPORT, '@anthropic-ai/sdk']);
  const data = mkdtempSync(join(tmpdir(), 'llmwire-without-data-'));
  after(() => rmSync(data, { recursive: true, force: true }));

  test('up on its defaults (sqlite, sim) starts and answers without any broker client', async () => {
    const up = spawn(process.execPath, [main, 'up', '--port', '0', '--data-dir', data], {
      cwd: tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    up.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    up.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise((r) => up.once('exit', r));
    try {
      const until = Date.now() + 20_000;
      while (!/ready; Ctrl-C/.test(stdout)) {
        assert.ok(up.exitCode === null && Date.now() < until, `up did not start:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.match(stdout, /bus +sqlite journal in /);
      const url = /gateway +(http:\/\/\S+)\/v1/.exec(stdout)?.[1];
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'sim', messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { choices: { message: { content: string } }[] };
      assert.ok(body.choices[0]!.message.content.length > 0);
    } finally {
      up.kill('SIGTERM');
      await exited;
    }
  });

  const cases: [args: string[], pkg: string, scheme: string][] = [
    [
      ['up', '--transport', 'nats://127.0.0.1:4222', '--port', '0'],
      '@nats-io/transport-node',
      'nats://',
    ],
    [['gateway', '--transport', 'redis://127.0.0.1:6379', '--port', '0'], 'ioredis', 'redis://'],
    [['worker', '--connect', 'amqp://127.0.0.1:5672'], 'amqplib', 'amqp://'],
    [
      ['dlq', 'list', '--queue', 'q', '--transport', 'nats://127.0.0.1:4222'],
      '@nats-io/transport-node',
      'nats://',
    ],
  ];
  for (const [args, pkg, scheme] of cases) {
    test(`${args.slice(0, 3).join(' ')} without ${pkg}: exit 2, naming the package`, async () => {
      const r = await run(main, args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(
        r.stderr,
        `llmwire: install ${pkg} to use ${scheme} transports [missing_package]\n`,
      );
    });
  }

  test('send --api messages without @anthropic-ai/sdk: exit 2, naming the package', async () => {
    const r = await run(main, [
      'send',
      '--api',
      'messages',
      '--url',
      'http://127.0.0.1:9/v1',
      'hi',
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      'llmwire: install @anthropic-ai/sdk to use llmwire send --api messages [missing_package]\n',
    );
  });

  test('span export asked for without the OpenTelemetry SDK: exit 2, naming the package', async () => {
    const r = await run(main, ['up', '--once', '--port', '0', '--data-dir', data], {
      OTEL_TRACES_EXPORTER: 'otlp',
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^llmwire: install @opentelemetry\/exporter-trace-otlp-http to use OpenTelemetry span export \(OTEL_\* settings\) \[missing_package\]\n$/,
    );
  });
});

describe('cli without the SQLite addon', () => {
  const main = installWithout(['better-sqlite3']);

  test('up on sqlite says to install better-sqlite3; up --transport memory runs', async () => {
    const data = mkdtempSync(join(tmpdir(), 'llmwire-without-sqlite-'));
    after(() => rmSync(data, { recursive: true, force: true }));
    const r = await run(main, ['up', '--once', '--port', '0', '--data-dir', data]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^llmwire: install better-sqlite3 to use the sqlite transport .*\[missing_package\]\n$/,
    );
    const memory = await run(main, ['up', '--once', '--port', '0', '--transport', 'memory']);
    assert.equal(memory.code, 0, memory.stderr);
    assert.match(memory.stdout, /bus +memory/);
  });
});
