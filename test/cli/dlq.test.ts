// `llmwire dlq` and `llmwire status --queue` as child processes against real brokers: dead
// letters made through the transport API are listed, shown, replayed and purged by the CLI,
// and an unknown id is refused with not_found before anything moves.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openTransport } from '../../src/cli/runtime.js';
import { createEnvelope } from '../../src/protocol/index.js';
import type { DurableQueue, Transport } from '../../src/transport/transport.js';
import { eventually } from '../conformance/harness.js';
import { AMQP_URL, NATS_URL, NEEDS, REDIS_URL, requires } from '../helpers/requires.js';
import { openTransport as openAmqp } from '../transport/amqp-harness.js';
import { deleteStreams } from '../transport/fixtures/nats-server.js';
import { dropKeys } from '../transport/redis-harness.js';
import { Background, llmwire } from './helpers.js';

interface Case {
  name: string;
  /** The --transport value and, for sqlite, the data dir. */
  url: string;
  extra: string[];
  /** Opens the test's own side of the same broker namespace. */
  open(): Promise<Transport>;
  cleanup(): Promise<void>;
}

function tag(): string {
  return `lwcli${randomBytes(5).toString('hex')}`;
}

async function cases(): Promise<Case[]> {
  const out: Case[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-dlq-'));
  out.push({
    name: 'sqlite',
    url: 'sqlite',
    extra: ['--data-dir', dir],
    open: () => openTransport('sqlite', { dataDir: dir }),
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
  // A memory bus is reached through the bus endpoint of the process that holds it.
  const up = new Background(['up', '--transport', 'memory', '--port', '0', '--workers', '0']);
  const until = Date.now() + 20_000;
  while (!/ready; Ctrl-C/.test(up.stdout) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const bus = /remote workers: (ws:\/\/\S+)/.exec(up.stdout)?.[1];
  if (bus === undefined) throw new Error(`llmwire up did not start: ${up.stdout}${up.stderr}`);
  out.push({
    name: 'ws (memory bus of llmwire up)',
    url: bus,
    extra: [],
    open: () => openTransport(bus, { dataDir: dir }),
    cleanup: () => up[Symbol.asyncDispose](),
  });
  if (await requires('cli dlq on nats', NEEDS.nats)) {
    const prefix = tag().toUpperCase();
    const url = `${NATS_URL}?prefix=${prefix}`;
    out.push({
      name: 'nats',
      url,
      extra: [],
      open: () => openTransport(url, { dataDir: dir }),
      cleanup: () => deleteStreams(NATS_URL, prefix),
    });
  }
  if (await requires('cli dlq on redis', NEEDS.redis)) {
    const prefix = `${tag()}:`;
    const url = `${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`;
    out.push({
      name: 'redis',
      url,
      extra: [],
      open: () => openTransport(url, { dataDir: dir }),
      cleanup: async () => void (await dropKeys(prefix)),
    });
  }
  if (await requires('cli dlq on amqp', NEEDS.amqp)) {
    const exchange = tag();
    out.push({
      name: 'amqp',
      url: `${AMQP_URL}?exchange=${exchange}`,
      extra: [],
      // Deletes the queues and exchange it declared when closed.
      open: () => openAmqp({ exchange }),
      cleanup: () => Promise.resolve(),
    });
  }
  return out;
}

const fast = { maxAttempts: 1, backoff: { initialMs: 10, maxMs: 50, jitter: 0 } };

async function deadLetters(q: DurableQueue, bodies: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const body of bodies) {
    ids.push((await q.enqueue(createEnvelope({ kind: 'event', subject: q.name, body }))).id);
  }
  for (let nacked = 0; nacked < bodies.length;) {
    for (const d of await q.receive({ max: bodies.length, waitMs: 2000 })) {
      await d.nack({
        error: { code: 'upstream_error', message: `failed ${nacked}`, retryable: true },
      });
      nacked++;
    }
  }
  await eventually(async () => (await q.stats()).dead === bodies.length, 10_000);
  return ids;
}

for (const c of await cases()) {
  describe(`cli dlq on ${c.name}`, () => {
    test(`dlq - list, show, replay and purge move real dead letters on ${c.name}`, async () => {
      const transport = await c.open();
      const queue = `jobs${randomBytes(3).toString('hex')}`;
      const flags = ['--transport', c.url, '--queue', queue, ...c.extra];
      try {
        const q = transport.queue(queue, fast);
        const [a, b, d] = await deadLetters(q, ['alpha', 'bravo', 'delta']);

        const list = await llmwire(['dlq', 'list', ...flags]);
        assert.equal(list.code, 0, list.stderr);
        assert.match(list.stdout, /ID\s+REASON\s+ATTEMPTS/);
        for (const id of [a, b, d]) assert.match(list.stdout, new RegExp(`${id}\\s+max_attempts`));

        const shown = await llmwire(['dlq', 'show', b!, ...flags]);
        assert.equal(shown.code, 0, shown.stderr);
        const letter = JSON.parse(shown.stdout) as {
          envelope: { id: string; body: string };
          reason: string;
          error: { code: string };
        };
        assert.equal(letter.envelope.id, b);
        assert.equal(letter.envelope.body, 'bravo');
        assert.equal(letter.reason, 'max_attempts');
        assert.equal(letter.error.code, 'upstream_error');

        const unknown = await llmwire(['dlq', 'show', 'no-such-id', ...flags]);
        assert.equal(unknown.code, 2);
        assert.match(
          unknown.stderr,
          /^llmwire: no dead letter no-such-id in queue .*\[not_found\]\n$/,
        );

        const replayed = await llmwire(['dlq', 'replay', a!, ...flags]);
        assert.equal(replayed.code, 0, replayed.stderr);
        assert.match(replayed.stdout, /replayed 1 dead letter of queue/);
        const [again] = await q.receive({ max: 1, waitMs: 5000 });
        assert.equal(again?.envelope.id, a);
        assert.equal(again?.attempt, 1);
        await again?.ack();

        // One unknown id among known ones: nothing moves.
        const partly = await llmwire(['dlq', 'purge', b!, 'no-such-id', ...flags]);
        assert.equal(partly.code, 2);
        assert.match(partly.stderr, /\[not_found\]/);
        assert.equal((await q.stats()).dead, 2);

        const purged = await llmwire(['dlq', 'purge', b!, '--json', ...flags]);
        assert.equal(purged.code, 0, purged.stderr);
        assert.deepEqual(JSON.parse(purged.stdout), { purged: 1 });
        assert.deepEqual(
          (await q.deadLetters()).map((l) => l.envelope.id),
          [d],
        );

        const counted = await llmwire(['status', '--queue', queue, ...flags]);
        assert.equal(counted.code, 0, counted.stderr);
        assert.match(counted.stdout, new RegExp(`${queue}\\s+0\\s+0\\s+0\\s+1`));

        const all = await llmwire(['dlq', 'purge', '--all', ...flags]);
        assert.equal(all.code, 0, all.stderr);
        assert.match(all.stdout, /purged 1 dead letter/);
        assert.equal((await q.stats()).dead, 0);
      } finally {
        await transport.close();
        await c.cleanup();
      }
    });
  });
}
