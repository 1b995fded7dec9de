// A client written from docs/protocol.md ("WebSocket hub") with the bare `ws` package and
// msgpackr records: it says hello, subscribes its inbox, publishes a JSON chat request to an
// llmwire worker on the hub's bus and reads the stream; a request to nobody gets no_responders.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { decode, encode, encodingOf, ended, envelope, items, type Env } from './bare.js';
import { startHubWorker } from './llmwire-side.js';

const records = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false });

test('spec - a bare WebSocket client streams a chat through the hub and meets no_responders', async () => {
  await using side = await startHubWorker('w1');
  const ws = new WebSocket(side.url);
  const received: Record<string, unknown>[] = [];
  ws.on('message', (data: Buffer) =>
    received.push(records.unpack(data) as Record<string, unknown>),
  );
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const send = (record: Record<string, unknown>) => ws.send(records.pack(record));
  const until = async (done: () => boolean) => {
    const limit = Date.now() + 10_000;
    while (!done()) {
      assert.ok(
        Date.now() < limit,
        `timed out with ${received.map((r) => String(r.op)).join(', ')}`,
      );
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    send({ op: 'hello', v: 1, name: 'bare' });
    await until(() => received.some((r) => r.op === 'hello'));
    const inbox = `_INBOX.${randomBytes(6).toString('hex')}`;
    send({ op: 'sub', id: 1, sid: 1, pattern: inbox });
    await until(() => received.some((r) => r.op === 'ok' && r.id === 1));

    const frames = () =>
      received.filter((r) => r.op === 'msg').map((r) => new Uint8Array(r.frame as Buffer));
    const request = envelope(
      'inference.request',
      'llm.worker.w1.chat',
      { model: 'sim', messages: [{ role: 'user', content: 'hi' }] },
      { replyTo: inbox, deadline: Date.now() + 10_000, credit: 64 },
    );
    send({ op: 'pub', frame: encode(request, 'json') });
    await until(() => ended(frames().map(decode)));
    const got: Env[] = frames().map(decode);
    assert.deepEqual(got[0]!.body, { type: 'stream.open' });
    assert.equal(got.at(-1)!.kind, 'inference.result');
    assert.equal(got.at(-1)!.eos, true);
    assert.ok(items(got).length > 0);
    assert.ok(got.every((e) => e.corr === request.id));
    assert.deepEqual(new Set(frames().map(encodingOf)), new Set(['json']));

    received.length = 0;
    const nobody = envelope(
      'inference.request',
      'llm.worker.nobody.chat',
      { model: 'sim' },
      {
        replyTo: inbox,
      },
    );
    send({ op: 'pub', frame: encode(nobody, 'json') });
    await until(() => frames().length > 0);
    const err = decode(frames()[0]!);
    assert.equal(err.kind, 'error');
    assert.equal(err.corr, nobody.id);
    assert.equal((err.body as { code: string }).code, 'no_responders');
  } finally {
    ws.close();
  }
});
