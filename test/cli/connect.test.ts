// Services reaching their bus at start: a worker or gateway whose hub or broker is not there
// says so in a line for people, keeps trying for --connect-timeout-ms, then exits 3
// (unreachable) as docs/cli.md says; a worker started shortly before its hub still joins it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { freePort } from '../transport/fixtures/nats-server.js';
import { Background, llmwire } from './helpers.js';

const RETRYING = /^llmwire: cannot reach \S+ yet \(.+\); .+ Retrying for up to 1\.5 s\.$/m;

describe('cli services reaching their bus', () => {
  test('worker --connect to a dead port: a line for people, then exit 3 after the timeout', async () => {
    const port = await freePort(); // nothing listens there
    const started = Date.now();
    const r = await llmwire([
      'worker',
      '--connect',
      `ws://127.0.0.1:${port}/v1/bus`,
      '--connect-timeout-ms',
      '1500',
    ]);
    const took = Date.now() - started;
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, RETRYING);
    assert.match(
      r.stderr,
      new RegExp(
        `^llmwire: cannot reach the broker at ws://127\\.0\\.0\\.1:${port}/v1/bus: .*running there\\? \\[unreachable\\]$`,
        'm',
      ),
    );
    assert.ok(took >= 1500, `gave up after ${took} ms, before the timeout`);
    assert.ok(took < 15_000, `gave up after ${took} ms`);
  });

  for (const scheme of ['nats', 'redis', 'amqp'] as const) {
    test(`up and worker against an unreachable ${scheme} broker exit 3 (unreachable)`, async () => {
      const url = `${scheme}://127.0.0.1:${await freePort()}`;
      for (const args of [
        ['up', '--transport', url, '--port', '0'],
        ['gateway', '--transport', url, '--port', '0'],
        ['worker', '--connect', url],
      ]) {
        const r = await llmwire([...args, '--connect-timeout-ms', '1500', '--log-level', 'silent']);
        assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /\[unreachable\]\n$/, args.join(' '));
        assert.doesNotMatch(r.stdout, /ready|serving/, args.join(' '));
      }
    });
  }

  test('a worker started before its hub joins it once the hub listens', async () => {
    const port = await freePort();
    await using worker = new Background([
      'worker',
      '--connect',
      `ws://127.0.0.1:${port}/v1/bus`,
      '--id',
      'early',
      '--log-level',
      'silent',
    ]);
    await worker.until(/cannot reach \S+ yet .* Retrying for up to 30 s\./);
    await using gateway = new Background([
      'gateway',
      '--transport',
      'memory',
      '--port',
      String(port),
    ]);
    const until = Date.now() + 20_000;
    while (!/^llmwire worker early: /m.test(worker.stdout)) {
      assert.ok(worker.child.exitCode === null, `the worker gave up:\n${worker.stderr}`);
      assert.ok(Date.now() < until, `the worker did not join:\n${worker.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(gateway.child.exitCode === null, gateway.stderr);
  });
});

describe('cli help and version', () => {
  test('up, gateway and worker --help show the broker transport forms', async () => {
    for (const command of ['up', 'gateway', 'worker']) {
      const r = await llmwire([command, '--help']);
      assert.equal(r.code, 0);
      for (const form of ['nats://', 'redis://', 'amqp://', 'ws://']) {
        assert.ok(r.stdout.includes(form), `${command} --help shows ${form}:\n${r.stdout}`);
      }
      assert.match(r.stdout, /--connect-timeout-ms N/);
    }
  });

  test('version --help prints help; version prints the version', async () => {
    const help = await llmwire(['version', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: llmwire version/);
    const version = await llmwire(['version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const extra = await llmwire(['version', 'now']);
    assert.equal(extra.code, 2);
    assert.match(extra.stderr, /version takes no arguments.*\[config_invalid\]/);
  });
});
