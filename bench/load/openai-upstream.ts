// A simulated OpenAI-compatible model server for the proxy group, run as its own process: a bare
// node:http server answering /v1/models and /v1/chat/completions, streamed (SSE `data: {chunk}`
// events, usage when asked for, `data: [DONE]`) or whole, with `max_tokens` tokens paced
// `itlMs` apart, or all written at once when the pace is 0 (a whole stream in one socket write).
// The pace comes with the model name: `sim` is unpaced, `sim-itl20` sends a token every 20 ms.
import { fork } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface UpstreamProcess {
  pid: number;
  /** API root, e.g. http://127.0.0.1:PORT/v1. */
  baseURL: string;
  /** Base URL without /v1, for the load generator's direct rounds. */
  url: string;
  close(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);
const WORDS = [' The', ' kettle', ' boils', ' quickly', ' and', ' quietly', ',', ' but', ' the'];
const DEFAULT_TOKENS = 16;

/** The model name that asks the upstream for a token every `itlMs` (0: all at once). */
export function pacedModel(itlMs: number): string {
  return itlMs > 0 ? `sim-itl${itlMs}` : 'sim';
}

/** Starts the upstream as a child process; it answers any model name (see `pacedModel`). */
export async function startOpenAIUpstream(): Promise<UpstreamProcess> {
  const child = fork(SELF, [], { execArgv: [], stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`upstream exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    pid: child.pid!,
    url,
    baseURL: `${url}/v1`,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

interface ChatBody {
  model?: string;
  max_tokens?: number;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

async function readBody(req: IncomingMessage): Promise<ChatBody> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatBody;
}

let nextId = 1;

function answer(body: ChatBody, res: ServerResponse): void {
  const itlMs = Number(/-itl(\d+)$/.exec(body.model ?? '')?.[1] ?? 0);
  const model = JSON.stringify(body.model ?? 'sim');
  const tokens = Math.max(1, body.max_tokens ?? DEFAULT_TOKENS);
  const id = `chatcmpl-${nextId++}`;
  const usage = `{"prompt_tokens":40,"completion_tokens":${tokens},"total_tokens":${40 + tokens}}`;
  if (body.stream !== true) {
    let text = '';
    for (let i = 0; i < tokens; i++) text += WORDS[i % WORDS.length];
    const out =
      `{"id":"${id}","object":"chat.completion","created":0,"model":${model},"choices":[{"index":0,` +
      `"message":{"role":"assistant","content":${JSON.stringify(text)},"refusal":null},` +
      `"logprobs":null,"finish_reason":"length"}],"usage":${usage}}`;
    const send = () =>
      res
        .writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(out),
        })
        .end(out);
    if (itlMs > 0) setTimeout(send, itlMs * tokens);
    else send();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":0,"model":${model},"choices":[{"index":0,`;
  const tail = ',"logprobs":null,"finish_reason":null}]}\n\n';
  const first = `${head}"delta":{"role":"assistant","content":""}${tail}`;
  const token = (i: number) =>
    `${head}"delta":{"content":${JSON.stringify(WORDS[i % WORDS.length])}}${tail}`;
  const last =
    `${head}"delta":{},"logprobs":null,"finish_reason":"length"}]}\n\n` +
    (body.stream_options?.include_usage === true
      ? `data: {"id":"${id}","object":"chat.completion.chunk","created":0,"model":${model},"choices":[],"usage":${usage}}\n\n`
      : '') +
    'data: [DONE]\n\n';
  if (itlMs <= 0) {
    let out = first;
    for (let i = 0; i < tokens; i++) out += token(i);
    res.end(out + last);
    return;
  }
  res.write(first);
  let i = 0;
  const timer = setInterval(() => {
    if (res.destroyed) {
      clearInterval(timer);
      return;
    }
    res.write(token(i++));
    if (i === tokens) {
      clearInterval(timer);
      res.end(last);
    }
  }, itlMs);
  res.once('close', () => clearInterval(timer));
}

function serve(): void {
  const server = createServer((req, res) => {
    if (req.url?.endsWith('/models')) {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(
          '{"object":"list","data":[{"id":"sim","object":"model","created":0,"owned_by":"bench"}]}',
        );
      return;
    }
    readBody(req).then(
      (body) => answer(body, res),
      () => res.writeHead(400).end(),
    );
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
}

if (process.argv[1] === SELF && process.send !== undefined) serve();
