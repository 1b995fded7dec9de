// The gateway group's baseline: the least an OpenAI-style server on bare node:http does to serve
// a backend: parse the JSON body, run the backend in-process, and write `data: {chunk}` events
// and `data: [DONE]` (or one JSON answer), with the same chunk bytes the gateway sends.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Backend } from '../../src/llm/backends/backend.js';
import type { InferenceRequest } from '../../src/protocol/index.js';

export interface BareServer {
  url: string;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<InferenceRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as InferenceRequest;
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function handle(backend: Backend, req: IncomingMessage, res: ServerResponse) {
  const request = await readBody(req);
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const gen = backend.generate(request, { signal: abort.signal });
  // Like the gateway, headers wait for the first token so a failure before it gets a status.
  let step = await gen.next();
  if (request.stream !== true) {
    let text = '';
    while (step.done !== true) {
      text += step.value.text;
      step = await gen.next();
    }
    const body = JSON.stringify({
      id,
      object: 'chat.completion',
      created,
      model: request.model,
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text, refusal: null },
          logprobs: null,
          finish_reason: step.value.finish_reason,
        },
      ],
      usage: step.value.usage,
    });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
    return;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(request.model)},"system_fingerprint":null,"choices":[{"index":0,`;
  const tail = ',"logprobs":null,"finish_reason":null}]}\n\n';
  res.write(`${head}"delta":{"role":"assistant","content":""}${tail}`);
  while (step.done !== true) {
    if (!res.write(`${head}"delta":{"content":${JSON.stringify(step.value.text)}}${tail}`))
      await drained(res);
    if (res.destroyed) return;
    step = await gen.next();
  }
  res.write(
    `${head}"delta":{},"logprobs":null,"finish_reason":"${step.value.finish_reason}"}]}\n\n`,
  );
  res.end('data: [DONE]\n\n');
}

export async function startBareServer(backend: Backend): Promise<BareServer> {
  const server = createServer((req, res) => {
    handle(backend, req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else res.writeHead(500).end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
