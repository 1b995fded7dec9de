// What the gateways of one deployment share on NATS, with the users `llmwire nats-config`
// writes: a gateway confined to its user keeps tenant rate limits in their KV bucket and
// announces its heartbeats, which a confined worker hears; a client's or a worker's NATS user
// may neither touch the limit bucket nor speak as a gateway (a forged "stopped" heartbeat would
// have workers cancel that gateway's generations, and a forged demand would take slots from the
// gateways' tenants).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import OpenAI from 'openai';
import { publishRefused, startConfinedNats, startConfinedPair } from './confined-nats.js';
import { NEEDS, requires } from '../helpers/requires.js';
import { NatsServerProcess, tempDir } from '../transport/fixtures/nats-server.js';
import { within, type WorkerProcess } from './process-stack.js';

const KEYS = {
  'tenant-a': 'tenant-a-key-0123456789',
  'gpu-1': 'gpu-1-key-0123456789abc',
  ops: 'ops-key-0123456789abcdef',
  gateway: 'gateway-pass-0123456789',
} as const;
type User = keyof typeof KEYS;

if (await requires('nats gateway grants', NEEDS.natsServer)) {
  const dir = tempDir('llmwire-nats-gateways-');
  let server: NatsServerProcess;
  let port = 0;
  const processes: WorkerProcess[] = [];
  /** The confined gateway's base URL, once the first test has started it. */
  let gatewayBase = '';
  const open: NatsConnection[] = [];
  const url = (user: User) => `nats://${user}:${KEYS[user]}@127.0.0.1:${port}`;
  const identities = [
    { name: 'tenant-a', role: 'client', key: KEYS['tenant-a'], requestsPerMinute: 2 },
    { name: 'gpu-1', role: 'worker', key: KEYS['gpu-1'] },
    { name: 'ops', role: 'operator', key: KEYS.ops },
  ] as const;

  before(async () => {
    ({ server, port } = await startConfinedNats(
      dir.path,
      identities.map(({ name, role, key }) => ({ name, role, key })),
      { user: 'gateway', password: KEYS.gateway },
    ));
  });

  after(async () => {
    await Promise.all(open.map((nc) => nc.close().catch(() => undefined)));
    for (const p of processes) {
      p.child.kill('SIGKILL');
      await within(p.exited, `${p.id} to exit`, 5000).catch(() => undefined);
    }
    await server?.kill();
    dir[Symbol.dispose]();
  });

  test(
    'nats grants - a confined gateway keeps tenant limits on the broker and a confined worker hears its heartbeats',
    { timeout: 60_000 },
    async () => {
      const config = join(dir.path, 'gateway.json');
      writeFileSync(config, JSON.stringify({ identities }));
      const { base, gateway, worker } = await startConfinedPair(
        url,
        config,
        join(dir.path, 'gw'),
        processes,
      );
      gatewayBase = base;
      const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEYS['tenant-a'], maxRetries: 0 });
      const ask = () =>
        client.chat.completions.create({
          model: 'sim',
          messages: [{ role: 'user', content: 'hi' }],
          max_tokens: 2,
        });
      let ready = false;
      for (let i = 0; i < 100 && !ready; i++) {
        const res = await fetch(`${base}/readyz`);
        ready = res.status === 200;
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      await ask();
      await ask();
      await assert.rejects(ask(), (err: { status?: number }) => err.status === 429);
      // Two heartbeat periods: the worker has subscribed and heard the gateway by now.
      await new Promise((r) => setTimeout(r, 2000));
      for (const p of [gateway, worker]) {
        assert.doesNotMatch(p.output(), /Permissions Violation/i, p.output());
      }
      assert.doesNotMatch(gateway.output(), /shared rate limits unavailable/);
    },
  );

  for (const user of ['tenant-a', 'gpu-1'] as const) {
    test(`nats grants - ${user}'s user may not touch the limit bucket nor speak as a gateway`, async () => {
      const nc = await connect({
        servers: `127.0.0.1:${port}`,
        user,
        pass: KEYS[user],
        inboxPrefix: `_INBOX.${user}`,
      });
      open.push(nc);
      const errors: Error[] = [];
      void (async () => {
        for await (const s of nc.status()) if (s.type === 'error') errors.push(s.error);
      })();
      for (const subject of [
        '$KV.LLMWIRE_LIM_tenants.t.dGVuYW50LWE',
        '$JS.API.STREAM.INFO.KV_LLMWIRE_LIM_tenants',
        '$JS.API.STREAM.CREATE.KV_LLMWIRE_LIM_tenants',
      ]) {
        nc.publish(subject, new Uint8Array([1]));
        await publishRefused(errors, subject);
      }
      // A gateway heartbeat wanting every slot of the model for a heavy tenant.
      const forged = 'llm.gateway.heartbeat.g-forged';
      const demand = [{ model: 'sim', tenants: [{ tenant: user, weight: 1000, want: 1000 }] }];
      const data = { gateway: 'g-forged', inbox: '_INBOX.x', intervalMs: 1000, status: 'ready' };
      nc.publish(forged, JSON.stringify({ type: 'gateway.heartbeat', data: { ...data, demand } }));
      await publishRefused(errors, forged);
      if (gatewayBase !== '') {
        // The confined gateway still holds every slot of the model: no peer's demand reached it.
        const res = await fetch(`${gatewayBase}/v1/llmwire/status`, {
          headers: { authorization: `Bearer ${KEYS.ops}` },
        });
        const status = (await res.json()) as {
          queues: { model: string; capacity: number; share: number }[];
        };
        const sim = status.queues.find((q) => q.model === 'sim');
        assert.ok(sim !== undefined && sim.capacity > 0, JSON.stringify(status.queues));
        assert.equal(sim.share, sim.capacity);
      }
    });
  }
}
