// A client written from docs/protocol.md alone (bare.ts: a bare NATS client, JSON or msgpackr)
// talking to llmwire sim workers on their bus subjects: streamed and whole answers, embeddings,
// cancel, every stream ending and error stage, no responders, and frames over max_payload.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  BarePeer,
  encodingOf,
  ended,
  envelope,
  items,
  Replies,
  token,
  type Encoding,
  type Env,
} from './bare.js';
import { namespace, startStreamer, startWorkers } from './llmwire-side.js';
import { NATS_URL, NEEDS, requires } from '../helpers/requires.js';
import { freePort, NatsServerProcess } from '../transport/fixtures/nats-server.js';

/** A requester: its inbox, and the replies to each request by id. */
class Requester {
  readonly inbox = `_INBOX.${token()}`;
  private readonly byRequest = new Map<string, Replies>();
  private readonly off: () => void;

  constructor(readonly peer: BarePeer) {
    this.off = peer.subscribe(this.inbox, (env, msg) => {
      this.byRequest.get(env.corr ?? '')?.push(env, encodingOf(msg.data));
    });
  }

  /** Sends `kind` with `body` to `subject`; a stream when `credit` is given. */
  send(
    subject: string,
    kind: string,
    body: unknown,
    extra: Partial<Env> = {},
  ): { env: Env; replies: Replies } {
    const env = envelope(kind, subject, body, {
      replyTo: this.inbox,
      deadline: Date.now() + 10_000,
      ...extra,
    });
    const replies = new Replies();
    this.byRequest.set(env.id, replies);
    void this.peer.publish(env);
    return { env, replies };
  }

  /** Reads a stream to its end, granting credit back as the protocol says (half the window). */
  async stream(
    subject: string,
    body: unknown,
    credit = 4,
    extra: Partial<Env> = {},
  ): Promise<Env[]> {
    const { env, replies } = this.send(subject, 'inference.request', body, { credit, ...extra });
    let granted = 0;
    const got = await replies.until((g) => {
      const open = g.find((e) => e.seq === 0);
      const n = items(g).length;
      if (open?.replyTo !== undefined && n - granted >= Math.ceil(credit / 2)) {
        const k = n - granted;
        granted = n;
        void this.peer.publish(
          envelope('control.credit', open.replyTo, { credits: k }, { corr: env.id }),
        );
      }
      return ended(g);
    });
    return got;
  }

  close(): void {
    this.off();
  }
}

function text(got: Env[]): string {
  return items(got)
    .map((b) => (b as { text: string }).text)
    .join('');
}

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'sim',
  messages: [{ role: 'user', content }],
  seed: 7,
  ...extra,
});

if (await requires('spec nats client', NEEDS.nats)) {
  describe('spec - a bare NATS client and llmwire workers', () => {
    test('spec - heartbeats announce an address a bare client can stream a chat from (JSON)', async () => {
      const ns = namespace();
      await using _side = await startWorkers(NATS_URL, ns, { w1: {} });
      const peer = await BarePeer.connect(NATS_URL, 'json');
      try {
        const beats = new Replies();
        peer.subscribe(`${ns}.llm.heartbeat.*`, (env, msg) =>
          beats.push(env, encodingOf(msg.data)),
        );
        const [hb] = await beats.until((g) => g.length > 0);
        const body = hb!.body as {
          worker: string;
          address: string;
          models: string[];
          status: string;
        };
        assert.equal(hb!.kind, 'heartbeat');
        assert.equal(hb!.subject, `${ns}.llm.heartbeat.w1`);
        assert.equal(body.address, `${ns}.llm.worker.w1.chat`);
        assert.deepEqual(body.models, ['sim']);
        assert.equal(beats.encodings[0], 'json', 'llmwire writes JSON frames by default');

        const client = new Requester(peer);
        const got = await client.stream(body.address, chat('hello there'), 4);
        const [open, ...rest] = got;
        assert.equal(open!.kind, 'event');
        assert.deepEqual(open!.body, { type: 'stream.open' });
        assert.equal(open!.seq, 0);
        assert.ok(open!.replyTo, 'stream.open names the responder inbox');
        const last = rest.at(-1)!;
        assert.equal(last.kind, 'inference.result');
        assert.equal(last.eos, true);
        assert.equal(last.seq, items(got).length + 1);
        assert.ok(text(got).length > 0);
        rest.slice(0, -1).forEach((e, i) => {
          assert.equal(e.kind, 'inference.chunk');
          assert.equal(e.seq, i + 1);
        });
        assert.ok(got.every((e) => e.corr === got[0]!.corr && e.subject === client.inbox));
        assert.ok(
          items(got).length > 4,
          'credit granted back in control.credit let it pass the window',
        );
        client.close();
      } finally {
        await peer.close();
      }
    });

    for (const encoding of ['json', 'msgpack'] as Encoding[]) {
      test(`spec - a request without credit gets one inference.result, in the request's encoding (${encoding})`, async () => {
        const ns = namespace();
        await using _side = await startWorkers(NATS_URL, ns, { w1: {} });
        const peer = await BarePeer.connect(NATS_URL, encoding);
        try {
          const client = new Requester(peer);
          const subject = `${ns}.llm.worker.w1.chat`;
          const streamed = text(await client.stream(subject, chat('same words'), 64));
          const { replies } = client.send(subject, 'inference.request', chat('same words'));
          const got = await replies.until((g) => g.length > 0);
          await new Promise((r) => setTimeout(r, 100));
          assert.equal(replies.received.length, 1, 'one message, no stream.open');
          assert.equal(got[0]!.kind, 'inference.result');
          const result = got[0]!.body as { text: string; finish_reason: string; worker: string };
          assert.equal(result.text, streamed, 'the whole text, as the stream gave it');
          assert.equal(result.worker, 'w1');
          assert.deepEqual(new Set(replies.encodings), new Set([encoding]));
          client.close();
        } finally {
          await peer.close();
        }
      });
    }

    test('spec - embeddings as floats and as base64 of little-endian float32', async () => {
      const ns = namespace();
      await using _side = await startWorkers(NATS_URL, ns, { w1: {} });
      const peer = await BarePeer.connect(NATS_URL, 'json');
      try {
        const client = new Requester(peer);
        const subject = `${ns}.llm.worker.w1.embed`;
        const ask = async (format: string) => {
          const { replies } = client.send(subject, 'embedding.request', {
            model: 'sim',
            input: ['a', 'b'],
            encoding_format: format,
          });
          const [reply] = await replies.until((g) => g.length > 0);
          assert.equal(reply!.kind, 'embedding.result');
          return reply!.body as { data: { index: number; embedding: number[] | string }[] };
        };
        const floats = await ask('float');
        const b64 = await ask('base64');
        assert.equal(floats.data.length, 2);
        const bytes = Buffer.from(b64.data[1]!.embedding as string, 'base64');
        const decoded = Array.from({ length: bytes.length / 4 }, (_, i) =>
          bytes.readFloatLE(i * 4),
        );
        const expected = floats.data[1]!.embedding as number[];
        assert.equal(decoded.length, expected.length);
        decoded.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6));
        client.close();
      } finally {
        await peer.close();
      }
    });

    test('spec - control.cancel to the responder inbox stops the stream and aborts the work', async () => {
      const ns = namespace();
      await using side = await startWorkers(NATS_URL, ns, {
        ws: { failure: { stallAfterTokens: 2 } },
      });
      const peer = await BarePeer.connect(NATS_URL, 'json');
      try {
        const client = new Requester(peer);
        const { env, replies } = client.send(
          `${ns}.llm.worker.ws.chat`,
          'inference.request',
          chat('stop me'),
          {
            credit: 8,
          },
        );
        const got = await replies.until((g) => items(g).length >= 2);
        const open = got.find((e) => e.seq === 0)!;
        void peer.publish(
          envelope('control.cancel', open.replyTo!, { reason: 'enough' }, { corr: env.id }),
        );
        const worker = side.workers.get('ws')!;
        const until = Date.now() + 5000;
        while (worker.stats.cancelled === 0 && Date.now() < until)
          await new Promise((r) => setTimeout(r, 20));
        assert.equal(worker.stats.cancelled, 1, 'the worker aborted the model call');
        await new Promise((r) => setTimeout(r, 100));
        assert.ok(!ended(replies.received), 'nothing is sent for a cancelled stream');
        client.close();
      } finally {
        await peer.close();
      }
    });

    test('spec - every refusal and failure of a stream ends it with an error that has eos', async () => {
      const ns = namespace();
      await using _side = await startWorkers(NATS_URL, ns, {
        w1: {},
        wf: { failure: { crashAfterTokens: 3, mode: 'throw' } },
        ws: { failure: { stallAfterTokens: 1 } },
      });
      const peer = await BarePeer.connect(NATS_URL, 'json');
      try {
        const client = new Requester(peer);
        const w1 = `${ns}.llm.worker.w1.chat`;
        const cases: { what: string; got: Promise<Env[]>; code: string; opened: boolean }[] = [
          {
            what: 'bad body',
            got: client.stream(w1, { messages: [] }),
            code: 'invalid_message',
            opened: false,
          },
          {
            what: 'unknown kind',
            got: (async () => {
              const { replies } = client.send(w1, 'inference.guess', chat('x'), { credit: 4 });
              return replies.until(ended);
            })(),
            code: 'unknown_kind',
            opened: false,
          },
          {
            what: 'past deadline',
            got: client.stream(w1, chat('late'), 4, { deadline: Date.now() - 1000 }),
            code: 'deadline_exceeded',
            opened: false,
          },
          {
            what: 'unknown model',
            got: client.stream(w1, { ...chat('x'), model: 'nope' }),
            code: 'unavailable',
            opened: true,
          },
          {
            what: 'mid-stream failure',
            got: client.stream(`${ns}.llm.worker.wf.chat`, chat('x', { max_tokens: 20 })),
            code: 'worker_lost',
            opened: true,
          },
          {
            what: 'deadline while streaming',
            got: client.stream(`${ns}.llm.worker.ws.chat`, chat('x'), 4, {
              deadline: Date.now() + 400,
            }),
            code: 'deadline_exceeded',
            opened: true,
          },
        ];
        for (const c of cases) {
          const got = await c.got;
          const err = got.find((e) => e.kind === 'error');
          assert.ok(err, `${c.what}: an error`);
          assert.equal((err.body as { code: string }).code, c.code, c.what);
          assert.equal(err.eos, true, `${c.what}: the error carries eos`);
          assert.equal(err.seq, undefined, `${c.what}: an error has no seq`);
          assert.equal(
            got.some((e) => e.seq === 0),
            c.opened,
            `${c.what}: stream.open sent or not`,
          );
        }
        const failed = await cases[4]!.got;
        assert.equal(items(failed).length, 3, 'the chunks before the failure arrive first');
        client.close();
      } finally {
        await peer.close();
      }
    });

    test('spec - nobody on the subject: the server answers the NATS reply subject with a 503 status', async () => {
      const ns = namespace();
      const peer = await BarePeer.connect(NATS_URL, 'json');
      try {
        const inbox = `_INBOX.${token()}`;
        peer.subscribe(inbox, () => undefined);
        const request = envelope('inference.request', `${ns}.llm.worker.none.chat`, chat('x'), {
          replyTo: inbox,
        });
        // Plainly: the NATS reply subject is the inbox; the 503 status arrives there.
        void peer.publish(request, inbox);
        // The llmwire layout: the reply subject names the request, so the 503 says which one.
        const nr = `${peer.control}.nr.${Buffer.from(request.id).toString('base64url')}.${inbox}`;
        void peer.publish(request, nr);
        const until = Date.now() + 5000;
        while (peer.statuses.length < 2 && Date.now() < until)
          await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(
          new Set(peer.statuses.map((s) => `${s.code} ${s.subject}`)),
          new Set([`503 ${inbox}`, `503 ${nr}`]),
        );
      } finally {
        await peer.close();
      }
    });
  });
}

if (await requires('spec nats client, small max_payload', NEEDS.nats, NEEDS.natsServer)) {
  describe('spec - frames over max_payload between a bare client and llmwire', () => {
    test('spec - an oversized stream item arrives in its place, before the items after it', async () => {
      await using server = await new NatsServerProcess({
        port: await freePort(),
        config: ['max_payload: 16384'],
      }).start();
      const subject = `${namespace()}.stream`;
      const big = { text: randomBytes(30_000).toString('base64') }; // 40 KB that gzip cannot shrink
      await using _streamer = await startStreamer(server.url, subject, [
        { text: 'a' },
        big,
        { text: 'b' },
      ]);
      const peer = await BarePeer.connect(server.url, 'json');
      try {
        const client = new Requester(peer);
        const got = await client.stream(subject, { ask: 'stream' }, 8);
        assert.deepEqual(
          got.map((e) => [e.seq, e.kind]),
          [
            [0, 'event'],
            [1, 'inference.chunk'],
            [2, 'inference.chunk'],
            [3, 'inference.chunk'],
            [4, 'inference.result'],
          ],
        );
        assert.deepEqual(items(got), [{ text: 'a' }, big, { text: 'b' }]);
        assert.deepEqual(got.at(-1)!.body, { done: true });
        assert.equal(peer.claims, 1, 'the big item came in parts');
        client.close();
      } finally {
        await peer.close();
      }
    });

    for (const encoding of ['json', 'msgpack'] as Encoding[]) {
      test(`spec - an oversized request and an oversized answer travel as offered parts (${encoding})`, async () => {
        await using server = await new NatsServerProcess({
          port: await freePort(),
          config: ['max_payload: 16384'],
        }).start();
        const ns = namespace();
        await using _side = await startWorkers(server.url, ns, { w1: {} });
        const peer = await BarePeer.connect(server.url, encoding);
        try {
          const client = new Requester(peer);
          const prompt = 'many words '.repeat(6000); // ~66 KB: four or more parts
          const { replies } = client.send(
            `${ns}.llm.worker.w1.chat`,
            'inference.request',
            chat(prompt, { max_tokens: 30000 }),
          );
          const [reply] = await replies.until((g) => g.length > 0, 20_000);
          assert.equal(reply!.kind, 'inference.result', JSON.stringify(reply!.body).slice(0, 200));
          const result = reply!.body as { text: string; usage: { prompt_tokens: number } };
          assert.equal(peer.claims, 1, 'the answer came in parts');
          assert.ok(result.usage.prompt_tokens > 1000, 'the worker saw the whole prompt');
          assert.equal(
            replies.encodings[0],
            encoding,
            'reassembled in the encoding of the request',
          );
          client.close();
        } finally {
          await peer.close();
        }
      });
    }
  });
}
