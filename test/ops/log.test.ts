// Structured logs: levels, redaction of secrets always and of bodies unless asked, and the typed
// error for a bad --log-level.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/protocol/index.js';
import {
  createLogger,
  isoTimeMember,
  LOG_LEVELS,
  maskCredentials,
  parseLogLevel,
  REDACTED,
} from '../../src/ops/index.js';
import { startStack } from '../llm/stack.js';
import { logSink } from './otlp-receiver.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const KEY = 'sk-test-0123456789abcdef';
const PROMPT = 'the secret recipe is cardamom';

describe('logs - levels', () => {
  test('writes one JSON object per line at or above its level', () => {
    const sink = logSink();
    const log = createLogger({ level: 'warn', destination: sink, base: { service: 't' } });
    log.info('not written');
    log.debug('not written');
    log.warn({ n: 1 }, 'written');
    log.error('also written');
    assert.deepEqual(
      sink.lines.map((l) => [l.level, l.msg]),
      [
        ['warn', 'written'],
        ['error', 'also written'],
      ],
    );
    assert.equal(sink.lines[0]!.service, 't');
    assert.equal(typeof sink.lines[0]!.time, 'string');
    const at = Date.parse(sink.lines[0]!.time as string);
    assert.ok(Math.abs(at - Date.now()) < 5000, `time ${String(sink.lines[0]!.time)}`);
  });

  test('the time member is the ISO 8601 time of the line, to the millisecond', () => {
    // Within one second, across a second, a minute, a year, and milliseconds of 1 to 3 digits.
    const times = [
      Date.UTC(2026, 11, 8, 1, 2, 3, 0),
      Date.UTC(2026, 11, 8, 1, 2, 3, 7),
      Date.UTC(2026, 11, 8, 1, 2, 3, 45),
      Date.UTC(2026, 11, 8, 1, 2, 3, 999),
      Date.UTC(2026, 11, 8, 1, 2, 4, 1),
      Date.UTC(2026, 11, 8, 1, 59, 59, 500),
      Date.UTC(2026, 11, 31, 23, 59, 59, 999),
      Date.UTC(2027, 0, 1, 0, 0, 0, 0),
      Date.UTC(2027, 0, 1, 0, 0, 0, 100),
      Date.UTC(2026, 11, 8, 1, 2, 3, 500),
    ];
    for (const t of times) {
      assert.equal(isoTimeMember(t), `,"time":"${new Date(t).toISOString()}"`);
    }
  });

  test('silent writes nothing; every named level is accepted', () => {
    const sink = logSink();
    const log = createLogger({ level: 'silent', destination: sink });
    log.fatal('nothing');
    assert.equal(sink.lines.length, 0);
    for (const level of LOG_LEVELS) assert.equal(parseLogLevel(level), level);
  });

  test('a bad level is a ConfigError naming the flag and the choices', () => {
    for (const bad of ['loud', 'INFO', '', 3, undefined]) {
      assert.throws(
        () => parseLogLevel(bad),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.code === 'config_invalid' &&
          err.message ===
            `--log-level: expected one of 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', got ${typeof bad === 'string' ? JSON.stringify(bad) : String(bad)}`,
      );
    }
  });

  test('llmwire up, gateway and worker refuse a bad --log-level with exit 2', () => {
    for (const command of ['up', 'gateway', 'worker']) {
      const run = spawnSync(process.execPath, [CLI, command, '--log-level', 'loud'], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, LLMWIRE_LOG_LEVEL: '' },
      });
      assert.equal(run.status, 2, `${command}: ${run.stderr}`);
      assert.match(run.stderr, /--log-level: expected one of .*, got "loud" \[config_invalid\]/);
    }
    const env = spawnSync(process.execPath, [CLI, 'worker'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, LLMWIRE_LOG_LEVEL: 'chatty' },
    });
    assert.equal(env.status, 2, env.stderr);
    assert.match(env.stderr, /"chatty" \[config_invalid\]/);
  });
});

describe('logs - redaction', () => {
  test('secrets are always redacted; bodies only unless logBodies', () => {
    for (const logBodies of [false, true]) {
      const sink = logSink();
      const log = createLogger({ destination: sink, logBodies });
      log.info({
        apiKey: KEY,
        headers: { authorization: `Bearer ${KEY}`, 'x-api-key': KEY },
        request: { token: KEY, messages: [{ role: 'user', content: PROMPT }] },
        prompt: PROMPT,
      });
      const text = sink.text();
      assert.ok(!text.includes(KEY), 'no key in the logs');
      assert.ok(text.includes(REDACTED));
      assert.equal(text.includes(PROMPT), logBodies, `bodies logged: ${String(logBodies)}`);
    }
  });

  test('secrets one object down, in headers and in child bindings are redacted; the logged objects are left as they were', () => {
    for (const logBodies of [false, true]) {
      const sink = logSink();
      const log = createLogger({ destination: sink, logBodies });
      const call = {
        id: 'call-1',
        password: KEY,
        headers: { authorization: `Bearer ${KEY}`, cookie: KEY, accept: 'text/plain' },
        text: PROMPT,
      };
      const before = JSON.stringify(call);
      log
        .child({ upstream: { secret: KEY, url: 'http://127.0.0.1:1' } })
        .child({ peer: { token: KEY } })
        .info({ call, n: 1 }, 'x');
      const line = sink.lines.at(-1)!;
      const text = sink.text();
      assert.ok(!text.includes(KEY), `no key in: ${text}`);
      assert.equal(JSON.stringify(call), before, 'the caller’s object is not changed');
      const logged = line.call as Record<string, unknown>;
      assert.equal(logged.id, 'call-1', 'the rest of the member is kept');
      assert.equal(logged.password, REDACTED);
      assert.deepEqual(logged.headers, {
        authorization: REDACTED,
        cookie: REDACTED,
        accept: 'text/plain',
      });
      assert.equal((line.upstream as Record<string, unknown>).url, 'http://127.0.0.1:1');
      assert.equal((line.upstream as Record<string, unknown>).secret, REDACTED);
      assert.equal((line.peer as Record<string, unknown>).token, REDACTED, 'a child of a child');
      assert.equal(text.includes(PROMPT), logBodies, `bodies logged: ${String(logBodies)}`);
    }
  });

  test('the gateway logs neither the API key nor the prompt unless logBodies', async () => {
    for (const logBodies of [false, true]) {
      const sink = logSink();
      await using stack = await startStack({
        workers: 1,
        gateway: {
          apiKeys: { [KEY]: { name: 'tenant-a' } },
          logger: createLogger({ level: 'trace', destination: sink, logBodies }),
          logBodies,
        },
      });
      const res = await stack
        .client(KEY)
        .chat.completions.create({ model: 'sim', messages: [{ role: 'user', content: PROMPT }] });
      const answer = res.choices[0]?.message.content ?? '';
      assert.ok(answer.length > 0);
      const text = sink.text();
      const finished = sink.lines.find((l) => l.msg === 'request finished')!;
      assert.equal(finished.tenant, 'tenant-a');
      assert.ok(!text.includes(KEY), 'no key in the logs');
      assert.equal(text.includes(PROMPT), logBodies, `prompt logged: ${String(logBodies)}`);
      assert.equal(text.includes(JSON.stringify(answer)), logBodies, 'answer logged');
    }
  });
});

test('log - a URL password in an error text is hidden, the rest kept', () => {
  assert.equal(
    maskCredentials(
      'connect ECONNREFUSED amqp://guest:s3cret@127.0.0.1:1/vh and redis://:pw@h:6379',
    ),
    'connect ECONNREFUSED amqp://guest:***@127.0.0.1:1/vh and redis://:***@h:6379',
  );
  assert.equal(maskCredentials('nats://127.0.0.1:4222 no user'), 'nats://127.0.0.1:4222 no user');
});

test('log - a broker password never reaches stderr when the broker cannot be reached', () => {
  const run = spawnSync(
    process.execPath,
    [
      CLI,
      'up',
      '--transport',
      'nats://alice:s3cret-pw@127.0.0.1:1',
      '--port',
      '0',
      '--connect-timeout-ms',
      '1000',
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(run.status, 3, run.stderr);
  assert.match(run.stderr, /cannot reach nats:\/\/alice:\*\*\*@127\.0\.0\.1:1 yet/);
  assert.match(run.stderr, /nats:\/\/alice:\*\*\*@127\.0\.0\.1:1/);
  assert.doesNotMatch(run.stderr + run.stdout, /s3cret-pw/);
});
