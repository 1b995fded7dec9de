// A worker written from docs/protocol.md alone, on a bare NATS client (bare.ts): it announces
// itself by heartbeat, streams answers within the credit it is granted, stops on control.cancel
// and answers embeddings. No llmwire code is imported. The model name picks a behaviour:
// `bare` answers, `bare-slow` never stops until cancelled, `bare-fail` fails after two chunks,
// `bare-refuse` refuses before opening the stream, `bare-big` sends one chunk of 40 KB.
import { BarePeer, envelope, token, type Env } from './bare.js';

interface Served {
  credit: number;
  cancelled: boolean;
  wake: (() => void) | undefined;
}

export class BareWorker {
  readonly inbox = `_INBOX.${token()}`;
  /** Ids of the requests a control.cancel stopped. */
  readonly cancelled: string[] = [];
  /** Every request received, as decoded. */
  readonly requests: Env[] = [];
  private readonly served = new Map<string, Served>();
  private timer: NodeJS.Timeout | undefined;
  private inflight = 0;

  constructor(
    readonly peer: BarePeer,
    readonly ns: string,
    readonly id: string,
    /** The chat subject it serves, announced in `heartbeat.address`. */
    readonly address = `${ns}.llm.worker.${id}.chat`,
    /** What it announces instead, to see a router refuse an address not under its own subjects. */
    readonly announced = address,
  ) {}

  async start(): Promise<void> {
    this.peer.subscribe(this.address, (env) => void this.onRequest(env));
    this.peer.subscribe(`${this.ns}.llm.worker.${this.id}.embed`, (env) => this.onEmbed(env));
    this.peer.subscribe(this.inbox, (env) => this.onControl(env));
    await this.peer.flush();
    this.beat('ready');
    this.timer = setInterval(() => this.beat('ready'), 200);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.beat('stopped');
    await this.peer.flush();
  }

  private beat(status: string): void {
    void this.peer.publish(
      envelope(
        'heartbeat',
        `${this.ns}.llm.heartbeat.${this.id}`,
        {
          worker: this.id,
          status,
          models: ['bare', 'bare-slow', 'bare-fail', 'bare-refuse', 'bare-big'],
          capacity: 8,
          inflight: this.inflight,
          intervalMs: 200,
          address: this.announced,
        },
        { source: this.id },
      ),
    );
  }

  /** An answer to `req`: to its replyTo, correlated, with our source (the heartbeats' one). */
  private reply(req: Env, kind: string, body: unknown, extra: Partial<Env> = {}): Promise<void> {
    return this.peer.publish(
      envelope(kind, req.replyTo!, body, { corr: req.id, source: this.id, ...extra }),
    );
  }

  private onControl(env: Env): void {
    const state = this.served.get(env.corr ?? '');
    if (state === undefined) return;
    if (env.kind === 'control.cancel') {
      state.cancelled = true;
      this.cancelled.push(env.corr!);
    } else if (env.kind === 'control.credit') {
      state.credit += (env.body as { credits: number }).credits;
    }
    state.wake?.();
  }

  private async onRequest(req: Env): Promise<void> {
    this.requests.push(req);
    if (req.kind !== 'inference.request') {
      void this.reply(
        req,
        'error',
        { code: 'unknown_kind', message: `no ${req.kind} here`, retryable: false },
        { eos: true },
      );
      return;
    }
    const body = req.body as { model: string; messages?: { content: string }[] };
    const prompt = body.messages?.at(-1)?.content ?? '';
    const words =
      body.model === 'bare-big'
        ? ['x'.repeat(40_000)]
        : `bare answer to ${prompt.length} characters`
            .split(' ')
            .map((w, i) => (i === 0 ? w : ` ${w}`));
    const usage = {
      prompt_tokens: prompt.length,
      completion_tokens: words.length,
      total_tokens: prompt.length + words.length,
    };
    if (req.credit === undefined) {
      void this.reply(req, 'inference.result', {
        model: body.model,
        text: words.join(''),
        finish_reason: 'stop',
        usage,
        worker: this.id,
      });
      return;
    }
    if (body.model === 'bare-refuse') {
      void this.reply(
        req,
        'error',
        {
          code: 'invalid_message',
          message: 'refused by the bare worker',
          retryable: false,
          details: { param: 'model' },
        },
        { eos: true },
      );
      return;
    }
    const state: Served = { credit: req.credit, cancelled: false, wake: undefined };
    this.served.set(req.id, state);
    this.inflight++;
    try {
      void this.reply(req, 'event', { type: 'stream.open' }, { seq: 0, replyTo: this.inbox });
      let seq = 1;
      for (let i = 0; body.model === 'bare-slow' || i < words.length; i++) {
        while (state.credit === 0 && !state.cancelled) {
          await new Promise<void>((resolve) => (state.wake = resolve));
        }
        if (state.cancelled) return; // nothing more for a cancelled stream
        if (body.model === 'bare-fail' && i === 2) {
          void this.reply(
            req,
            'error',
            { code: 'upstream_error', message: 'the model server fell over', retryable: false },
            { eos: true },
          );
          return;
        }
        state.credit--;
        await this.reply(
          req,
          'inference.chunk',
          { text: body.model === 'bare-slow' ? ' tick' : words[i]! },
          { seq: seq++ },
        );
        await new Promise((r) => setTimeout(r, body.model === 'bare-slow' ? 20 : 1));
      }
      void this.reply(
        req,
        'inference.result',
        { model: body.model, text: '', finish_reason: 'stop', usage, worker: this.id },
        { seq, eos: true },
      );
    } finally {
      this.inflight--;
      this.served.delete(req.id);
    }
  }

  private onEmbed(req: Env): void {
    this.requests.push(req);
    const body = req.body as { model: string; input: string | string[]; encoding_format?: string };
    const inputs = Array.isArray(body.input) ? body.input : [body.input];
    const data = inputs.map((text, index) => {
      const vector = [text.length, index, 0.5];
      // "embedding.result": base64 of the vector's little-endian float32 bytes, when asked for.
      const bytes = Buffer.alloc(vector.length * 4);
      vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
      const embedding = body.encoding_format === 'base64' ? bytes.toString('base64') : vector;
      return { index, embedding };
    });
    void this.reply(req, 'embedding.result', {
      model: body.model,
      data,
      usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
    });
  }
}
