// Golden vectors of the transport mappings and LLM subjects (docs/protocol.md, "Transport
// mappings", "The LLM path"), written by mappings-gen.ts from the page's rules. Every file in
// test/fixtures/mappings/v1 maps to a check here; a file that maps to none fails the run.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type Msg } from '@nats-io/transport-node';
import { llmSubjects } from '../../src/llm/subjects.js';
import { ConfigError, type Envelope } from '../../src/protocol/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { KeyLayout } from '../../src/transport/redis/keys.js';
import { decodeHubRecord, decodePeerRecord, encodeRecord } from '../../src/transport/ws/wire.js';
import { NATS_URL, reachable } from '../transport/fixtures/nats-server.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/mappings/v1');

function load<T>(name: string): T {
  return JSON.parse(readFileSync(join(DIR, name), 'utf8'), (_k, v: unknown) =>
    typeof v === 'object' && v !== null && '$bytes' in v
      ? new Uint8Array(Buffer.from((v as { $bytes: string }).$bytes, 'base64'))
      : v,
  ) as T;
}

interface SubjectCase {
  namespace: string | null;
  worker: string;
  heartbeats: string;
  heartbeat: string;
  address: string;
  chat: string;
  embed: string;
}

const CHECKS: Record<string, () => Promise<void> | void> = {
  'llm-subjects.json': () => {
    const f = load<{ cases: SubjectCase[]; badNamespaces: string[] }>('llm-subjects.json');
    for (const c of f.cases) {
      const s = llmSubjects(c.namespace ?? undefined);
      assert.equal(s.heartbeats, c.heartbeats);
      assert.equal(s.heartbeat(c.worker), c.heartbeat);
      assert.equal(s.address(c.worker), c.address);
      assert.equal(s.chat(c.worker), c.chat);
      assert.equal(s.embed(c.worker), c.embed);
    }
    for (const bad of f.badNamespaces) assert.throws(() => llmSubjects(bad), ConfigError);
  },

  'redis-channels.json': () => {
    const f = load<{
      prefix: string;
      channels: { subject: string; channel: string }[];
      patterns: { pattern: string; command: string; name: string }[];
    }>('redis-channels.json');
    const keys = new KeyLayout(f.prefix);
    for (const c of f.channels) {
      assert.equal(keys.channel(c.subject), c.channel);
      assert.equal(keys.subjectOf(c.channel), c.subject);
    }
    for (const p of f.patterns) {
      const tokens = p.pattern.split('.');
      const wild = tokens.some((t) => t === '*' || t === '>');
      assert.equal(wild ? 'PSUBSCRIBE' : 'SUBSCRIBE', p.command, p.pattern);
      assert.equal(wild ? keys.glob(tokens) : keys.channel(p.pattern), p.name, p.pattern);
    }
  },

  'ws-records.json': () => {
    const f = load<{
      records: { direction: 'peer' | 'hub'; record: Record<string, unknown>; bytes: Uint8Array }[];
    }>('ws-records.json');
    for (const r of f.records) {
      const encoded = encodeRecord(r.record as Parameters<typeof encodeRecord>[0]);
      assert.deepEqual(new Uint8Array(encoded), r.bytes, `${String(r.record.op)} encodes`);
      const decoded = r.direction === 'peer' ? decodePeerRecord(r.bytes) : decodeHubRecord(r.bytes);
      assert.ok(decoded.ok, `${String(r.record.op)} decodes`);
      const normal = (v: Record<string, unknown>) =>
        Object.fromEntries(
          Object.entries(v).map(([k, x]) => [k, x instanceof Uint8Array ? Buffer.from(x) : x]),
        );
      assert.deepEqual(normal(decoded.record as Record<string, unknown>), normal(r.record));
    }
  },

  'nats-messages.json': async () => {
    if (!(await reachable(NATS_URL))) {
      assert.notEqual(process.env.CI, 'true', `no NATS at ${NATS_URL}`);
      return;
    }
    const f = load<{
      cases: {
        envelope: Envelope;
        subject: string;
        headers: Record<string, string>;
        payload: string;
        reply: string | null;
      }[];
      noResponders: {
        request: Envelope;
        error: { kind: string; subject: string; corr: string; body: object; absent: string[] };
      };
    }>('nats-messages.json');
    const nc = await connect({ servers: NATS_URL });
    const transport = await createNatsTransport({ servers: NATS_URL, onError: () => undefined });
    try {
      for (const c of f.cases) {
        const got = new Promise<Msg>((resolve) => {
          const sub = nc.subscribe(c.subject, {
            callback: (_e, m) => {
              sub.unsubscribe();
              resolve(m);
            },
          });
        });
        await nc.flush();
        transport.publish(structuredClone(c.envelope));
        const msg = await got;
        assert.equal(msg.subject, c.subject);
        assert.equal(Buffer.from(msg.data).toString('utf8'), c.payload);
        for (const [k, v] of Object.entries(c.headers)) assert.equal(msg.headers?.get(k), v);
        if (c.reply === null) assert.equal(msg.reply ?? '', '');
        else assert.match(msg.reply ?? '', new RegExp(c.reply));
      }
      const { request, error } = f.noResponders;
      const got = new Promise<Msg>((resolve) => {
        nc.subscribe(error.subject, { max: 1, callback: (_e, m) => resolve(m) });
      });
      await nc.flush();
      transport.publish(structuredClone(request));
      const env = JSON.parse(Buffer.from((await got).data).toString('utf8')) as Record<
        string,
        unknown
      >;
      assert.equal(env.kind, error.kind);
      assert.equal(env.subject, error.subject);
      assert.equal(env.corr, error.corr);
      const body = env.body as Record<string, unknown>;
      assert.deepEqual({ code: body.code, retryable: body.retryable }, error.body);
      assert.equal(typeof body.message, 'string');
      for (const k of error.absent) assert.equal(env[k], undefined, `${k} is absent`);
    } finally {
      await transport.close();
      await nc.close();
    }
  },
};

for (const file of readdirSync(DIR).sort()) {
  test(`mappings - ${file} holds for the implementation`, async () => {
    const check = CHECKS[file];
    assert.ok(check, `no check maps fixture ${file}`);
    await check();
  });
}
