// A bare OpenAI-style upstream for tests: a real HTTP server on 127.0.0.1 that answers the
// chat, completions, embeddings and models routes in the OpenAI wire format (SSE for streams),
// as a script says, and records each call and whether its connection closed before the end.
import { once } from 'node:events';
import { type IncomingHttpHeaders, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Reply =
  /**
   * Streams `pieces`, then a finish reason, then usage when asked for, then [DONE]; to a
   * request without `stream: true`, one JSON answer of all the pieces (as a server does).
   */
  | {
      kind: 'stream';
      pieces: string[];
      finish?: string;
      usage?: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number };
      /** Pause between pieces. */
      delayMs?: number;
      /** Stop writing (connection left open) after this many pieces. */
      hangAfter?: number;
      /** Destroy the socket after this many pieces. */
      dropAfter?: number;
      /** Send an `error` object as an SSE event after this many pieces. */
      errorAfter?: number;
    }
  | { kind: 'error'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'json'; body: unknown }
  /** A float embedding per input (dimensions as asked, else 3). */
  | { kind: 'embeddings' }
  /** Accept the request and never answer. */
  | { kind: 'hang' };

export interface Call {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** Resolves when the connection closes: true when that was before the reply was complete. */
  closed: Promise<boolean>;
}

export interface Upstream {
  baseURL: string;
  calls: Call[];
  [Symbol.asyncDispose](): Promise<void>;
}

export type Script = (call: Call) => Reply;

/** Answers any chat or completion with this text, one piece per word. */
export function echoScript(pieces: string[], usage = true): Script {
  return (call) => {
    if (call.path.endsWith('/models')) {
      return { kind: 'json', body: { object: 'list', data: [model('m-one'), model('m-two')] } };
    }
    if (call.path.endsWith('/embeddings')) return { kind: 'embeddings' };
    return {
      kind: 'stream',
      pieces,
      finish: 'stop',
      ...(usage
        ? { usage: { prompt_tokens: 11, completion_tokens: pieces.length, cached_tokens: 4 } }
        : {}),
    };
  };
}

function model(id: string) {
  return { id, object: 'model', created: 0, owned_by: 'test' };
}

export async function startUpstream(script: Script): Promise<Upstream> {
  const calls: Call[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      const closed = new Promise<boolean>((resolve) => {
        res.on('close', () => resolve(!res.writableFinished));
      });
      const call: Call = {
        method: req.method ?? 'GET',
        path: (req.url ?? '/').split('?')[0] ?? '/',
        headers: req.headers,
        body: raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>),
        closed,
      };
      calls.push(call);
      void answer(call, script(call), res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    calls,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

async function answer(call: Call, reply: Reply, res: ServerResponse): Promise<void> {
  switch (reply.kind) {
    case 'hang':
      return;
    case 'json':
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
      return;
    case 'error':
      res
        .writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers })
        .end(
          JSON.stringify(
            reply.body ?? { error: { message: `status ${reply.status}`, type: 'test' } },
          ),
        );
      return;
    case 'embeddings':
      return embeddings(call, res);
    case 'stream':
      return call.body['stream'] === true ? stream(call, reply, res) : whole(call, reply, res);
  }
}

async function stream(call: Call, reply: Extract<Reply, { kind: 'stream' }>, res: ServerResponse) {
  const isChat = call.path.endsWith('/chat/completions');
  const base = {
    id: 'cmpl-test',
    object: isChat ? 'chat.completion.chunk' : 'text_completion',
    created: 0,
    model: String(call.body['model']),
  };
  const choice = (text: string, finish: string | null) =>
    isChat
      ? { index: 0, delta: text === '' ? {} : { content: text }, finish_reason: finish }
      : { index: 0, text, finish_reason: finish };
  const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (isChat)
    send({ ...base, choices: [{ index: 0, delta: { role: 'assistant' }, finish_reason: null }] });
  for (const [i, piece] of reply.pieces.entries()) {
    if (i === reply.hangAfter) return;
    if (i === reply.dropAfter) {
      // Let what was written reach the client first; destroy() discards unsent data.
      await new Promise((r) => setTimeout(r, 20));
      res.socket?.destroy();
      return;
    }
    if (i === reply.errorAfter) {
      send({ error: { message: 'generation failed', type: 'server_error', code: 'engine_dead' } });
      res.end();
      return;
    }
    if (reply.delayMs !== undefined) await new Promise((r) => setTimeout(r, reply.delayMs));
    if (res.destroyed) return;
    send({ ...base, choices: [choice(piece, null)] });
  }
  send({ ...base, choices: [choice('', reply.finish ?? 'stop')] });
  const options = call.body['stream_options'] as { include_usage?: boolean } | undefined;
  if (reply.usage !== undefined && options?.include_usage === true) {
    const { prompt_tokens, completion_tokens, cached_tokens } = reply.usage;
    send({
      ...base,
      choices: [],
      usage: {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        ...(cached_tokens === undefined ? {} : { prompt_tokens_details: { cached_tokens } }),
      },
    });
  }
  res.end('data: [DONE]\n\n');
}

/** The same reply as one JSON answer: what a server sends to a request without `stream`. */
async function whole(call: Call, reply: Extract<Reply, { kind: 'stream' }>, res: ServerResponse) {
  const isChat = call.path.endsWith('/chat/completions');
  const n = reply.pieces.length;
  if (reply.hangAfter !== undefined && reply.hangAfter < n) return;
  if (reply.delayMs !== undefined) await new Promise((r) => setTimeout(r, reply.delayMs! * n));
  if (reply.dropAfter !== undefined && reply.dropAfter < n) {
    res.socket?.destroy();
    return;
  }
  if (reply.errorAfter !== undefined && reply.errorAfter < n) {
    res.writeHead(500, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        error: { message: 'generation failed', type: 'server_error', code: 'engine_dead' },
      }),
    );
    return;
  }
  const text = reply.pieces.join('');
  const finish = reply.finish ?? 'stop';
  const usage =
    reply.usage === undefined
      ? {}
      : {
          usage: {
            prompt_tokens: reply.usage.prompt_tokens,
            completion_tokens: reply.usage.completion_tokens,
            total_tokens: reply.usage.prompt_tokens + reply.usage.completion_tokens,
            ...(reply.usage.cached_tokens === undefined
              ? {}
              : { prompt_tokens_details: { cached_tokens: reply.usage.cached_tokens } }),
          },
        };
  const choice = isChat
    ? { index: 0, message: { role: 'assistant', content: text }, finish_reason: finish }
    : { index: 0, text, finish_reason: finish };
  res.writeHead(200, { 'content-type': 'application/json' }).end(
    JSON.stringify({
      id: 'cmpl-test',
      object: isChat ? 'chat.completion' : 'text_completion',
      created: 0,
      model: String(call.body['model']),
      choices: [choice],
      ...usage,
    }),
  );
}

function embeddings(call: Call, res: ServerResponse): void {
  const input = call.body['input'];
  const inputs = Array.isArray(input) ? input : [input];
  const dims = typeof call.body['dimensions'] === 'number' ? call.body['dimensions'] : 3;
  const data = inputs.map((_, index) => ({
    object: 'embedding',
    index,
    embedding: Array.from({ length: dims }, (_v, j) => (index + 1) / (j + 2)),
  }));
  res.writeHead(200, { 'content-type': 'application/json' }).end(
    JSON.stringify({
      object: 'list',
      model: call.body['model'],
      data,
      usage: { prompt_tokens: inputs.length * 2, total_tokens: inputs.length * 2 },
    }),
  );
}
