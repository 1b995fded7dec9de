// Identities on NATS, where every peer connects to the broker itself: `llmwire nats-config` turns
// the config's identities into nats-server users, and nats-server (one of this test's own, on a
// free port) refuses what a role may not do. Raw nats.js connections act as each user; then a
// gateway and a worker, each confined to its user, serve a streamed chat to the openai SDK.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node';
import OpenAI from 'openai';
import {
  eventually,
  publishRefused,
  startConfinedNats,
  startConfinedPair,
} from './confined-nats.js';
import { NEEDS, requires } from '../helpers/requires.js';
import { NatsServerProcess, sleep, tempDir } from '../transport/fixtures/nats-server.js';
import { explain, streamChat, within, type WorkerProcess } from './process-stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = promisify(execFile);

const KEYS = {
  'tenant-a': 'tenant-a-key-0123456789',
  'tenant-b': 'tenant-b-key-0123456789',
  'gpu-1': 'gpu-1-key-0123456789abc',
  ops: 'ops-key-0123456789abcdef',
  gateway: 'gateway-pass-0123456789',
} as const;
type User = keyof typeof KEYS;

if (await requires('nats isolation', NEEDS.natsServer)) {
  const dir = tempDir('llmwire-nats-iso-');
  let server: NatsServerProcess;
  let port = 0;
  let authorization = '';
  const open: NatsConnection[] = [];
  const processes: WorkerProcess[] = [];
  const url = (user: User) => `nats://${user}:${KEYS[user]}@127.0.0.1:${port}`;

  /** A raw connection as `user`, with its own reply root, recording the errors it is told of. */
  async function as(user: User): Promise<{ nc: NatsConnection; errors: Error[] }> {
    const nc = await connect({
      servers: `127.0.0.1:${port}`,
      user,
      pass: KEYS[user],
      inboxPrefix: `_INBOX.${user}`,
    });
    open.push(nc);
    const errors: Error[] = [];
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error') errors.push(s.error);
      }
    })();
    return { nc, errors };
  }

  /** Subscribes and resolves with the permission error nats.js hands the subscription. */
  function refusedSubscription(nc: NatsConnection, subject: string): Promise<Error> {
    return within(
      new Promise<Error>((resolve) => {
        nc.subscribe(subject, {
          callback: (err) => {
            if (err !== null) resolve(err);
          },
        });
      }),
      `a permissions violation for subscribing '${subject}'`,
      5000,
    );
  }

  function assertViolation(err: Error, operation: string, subject: string): void {
    assert.ok(err instanceof PermissionViolationError, `${String(err)} is a permission error`);
    assert.equal(err.operation, operation);
    assert.equal(err.subject, subject);
  }

  before(async () => {
    const started = await startConfinedNats(
      dir.path,
      [
        { name: 'tenant-a', role: 'client', key: KEYS['tenant-a'] },
        { name: 'tenant-b', role: 'client', key: KEYS['tenant-b'] },
        { name: 'gpu-1', role: 'worker', key: KEYS['gpu-1'] },
        { name: 'ops', role: 'operator', key: KEYS.ops },
      ],
      { user: 'gateway', password: KEYS.gateway },
    );
    ({ server, port } = started);
    assert.match(started.stdout, /wrote the authorization of 5 NATS users/);
    authorization = (await run(process.execPath, [CLI, 'nats-config', '--config', started.config]))
      .stdout;
  });

  after(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
    for (const p of processes) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await within(p.exited, `${p.id} to exit`, 5000).catch(() => undefined);
    }
    await server?.kill();
    dir[Symbol.dispose]();
  });

  test('nats-config writes one user per identity with its role', () => {
    assert.match(authorization, /^authorization \{/m);
    for (const user of ['tenant-a', 'tenant-b', 'gpu-1', 'ops']) {
      assert.match(authorization, new RegExp(`user: "${user}"`));
    }
    assert.match(authorization, /subscribe: \{ allow: \["_INBOX\.tenant-a\.>"\] \}/);
    assert.match(
      authorization,
      /subscribe: \{ allow: \["llm\.worker\.gpu-1\.>", "llm\.params\.rollouts", "llm\.gateway\.heartbeat\.\*", "_INBOX\.gpu-1\.>"\] \}/,
    );
  });

  test('nats-config refuses a config without identities, like other config errors', async () => {
    const empty = join(dir.path, 'empty.json');
    writeFileSync(empty, '{}');
    await assert.rejects(run(process.execPath, [CLI, 'nats-config', '--config', empty]), (err) => {
      const e = err as { code: number; stderr: string };
      assert.equal(e.code, 2);
      assert.match(e.stderr, /no identities.*\[config_invalid\]/);
      return true;
    });
  });

  test('tenant-b may not listen on the bus, the workers or tenant-a', async () => {
    const { nc, errors } = await as('tenant-b');
    for (const subject of ['llm.>', 'llm.worker.*.chat', '_INBOX.tenant-a.>']) {
      assertViolation(await refusedSubscription(nc, subject), 'subscription', subject);
      // The connection's status reports it too (just after the subscription hears of it).
      await eventually(
        () => errors.some((e) => e instanceof PermissionViolationError && e.subject === subject),
        `the connection's status to report '${subject}'`,
      );
    }
    // Nor answer into tenant-a's inbox.
    nc.publish('_INBOX.tenant-a.x', 'forged');
    await publishRefused(errors, '_INBOX.tenant-a.x');
    assert.ok(!nc.isClosed(), 'a refusal does not end the connection');
  });

  test("tenant-a's requests reach the worker and its answers; tenant-b sees none of it", async () => {
    const worker = await as('gpu-1');
    worker.nc.subscribe('llm.worker.gpu-1.>', {
      callback: (_err, msg) => {
        msg.respond(`answer to ${msg.string()}`);
      },
    });
    const b = await as('tenant-b');
    const seenByB: string[] = [];
    b.nc.subscribe('_INBOX.tenant-b.>', {
      callback: (_err, msg) => {
        seenByB.push(msg.string());
      },
    });
    await Promise.all([worker.nc.flush(), b.nc.flush()]);
    const a = await as('tenant-a');
    const reply = await a.nc.request('llm.worker.gpu-1.chat', 'secret prompt of tenant-a', {
      timeout: 5000,
    });
    assert.equal(reply.string(), 'answer to secret prompt of tenant-a');
    await sleep(100);
    assert.deepEqual(seenByB, []);
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  });

  test('gpu-1 may announce only itself and serve only its own subjects', async () => {
    const { nc, errors } = await as('gpu-1');
    nc.publish('llm.heartbeat.other', 'forged heartbeat');
    await publishRefused(errors, 'llm.heartbeat.other');
    for (const subject of ['llm.worker.gpu-2.>', 'llm.worker.*.chat', 'llm.heartbeat.*']) {
      assertViolation(await refusedSubscription(nc, subject), 'subscription', subject);
    }
  });

  test('a gateway and a worker confined to their users serve the openai SDK', async () => {
    const config = join(dir.path, 'gateway.json');
    writeFileSync(
      config,
      JSON.stringify({
        identities: [
          { name: 'tenant-a', role: 'client', key: KEYS['tenant-a'] },
          { name: 'ops', role: 'operator', key: KEYS.ops },
        ],
      }),
    );
    const { base, gateway, worker } = await startConfinedPair(
      url,
      config,
      join(dir.path, 'gw'),
      processes,
    );
    const until = Date.now() + 20_000;
    for (;;) {
      const res = await fetch(`${base}/v1/llmwire/workers`, {
        headers: { authorization: `Bearer ${KEYS.ops}` },
      });
      const { workers } = (await res.json()) as { workers: { id: string; status: string }[] };
      if (workers.some((w) => w.id === 'gpu-1' && w.status === 'ready')) break;
      if (Date.now() > until) {
        assert.fail(`gpu-1 never joined:\n${gateway.output()}\n${worker.output()}`);
      }
      await sleep(100);
    }
    const client = new OpenAI({
      baseURL: `${base}/v1`,
      apiKey: KEYS['tenant-a'],
      maxRetries: 0,
      timeout: 30_000,
    });
    const outcome = await streamChat(
      client,
      { model: 'sim', messages: [{ role: 'user', content: 'hello over a locked-down NATS' }] },
      { timeoutMs: 30_000 },
    );
    assert.equal(outcome.error, undefined, explain(outcome.error));
    assert.ok(outcome.text.length > 0, 'tokens were streamed');
    assert.equal(outcome.finishReason, 'stop');
    const log = gateway.output() + worker.output();
    assert.doesNotMatch(log, /permissions? violation/i, log);
  });
}
