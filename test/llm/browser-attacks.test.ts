// A hostile web page against a local gateway, in a real Chromium (playwright-core,
// LLMWIRE_CHROMIUM or /usr/bin/chromium): from another origin (a second local server on another port) it tries a
// no-cors text/plain POST (no preflight), a JSON POST (needs a preflight) and a WebSocket to
// the bus endpoint. None may reach a worker or join the bus, while SDK traffic beside them is
// served exactly; once that origin is listed in cors.origins, the same page's JSON call works.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { createBusHub } from '../../src/transport/ws/index.js';
import { CHROMIUM_PATH, NEEDS, skipUnless } from '../helpers/requires.js';
import { completed, legitTraffic } from './legit-traffic.js';
import { referenceText, startStack, type Stack } from './stack.js';

const request = {
  model: 'sim',
  messages: [{ role: 'user' as const, content: 'Spend their budget.' }],
  max_tokens: 8,
  seed: 5,
};

async function launch(): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}

/** The attacker's site: one blank page, on a port of its own (so another origin). */
async function attackerSite(): Promise<{ url: string } & AsyncDisposable> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>free prizes</title><p>nothing to see</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Seen {
  method: string;
  path: string;
  origin: string | undefined;
  status: number;
}

/** Every HTTP answer the gateway gives, as the server saw it. */
function recordAnswers(stack: Stack): Seen[] {
  const seen: Seen[] = [];
  stack.gateway.server.on('request', (req: IncomingMessage, res) => {
    res.once('finish', () =>
      seen.push({
        method: req.method ?? '',
        path: req.url ?? '',
        origin: req.headers.origin,
        status: res.statusCode,
      }),
    );
  });
  return seen;
}

interface PageResults {
  noCors: string;
  json: string;
  ws: string;
}

/** Runs the three attacks inside the page against `gateway`, with `body` as the chat request. */
function attack([gateway, body]: readonly [string, string]): Promise<PageResults> {
  return (async () => {
    const chat = `${gateway}/v1/chat/completions`;
    const noCors = await fetch(chat, {
      method: 'POST',
      mode: 'no-cors',
      headers: { 'content-type': 'text/plain' },
      body,
    }).then(
      (r) => `response ${r.type} ${r.status}`,
      (e: Error) => `rejected ${e.name}`,
    );
    const json = await fetch(chat, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    }).then(
      async (r) => `response ${r.status} ${await r.text()}`,
      (e: Error) => `rejected ${e.name}`,
    );
    const ws = await new Promise<string>((resolve) => {
      const socket = new WebSocket(`${gateway.replace('http', 'ws')}/v1/bus`);
      socket.onopen = () => {
        socket.close();
        resolve('open');
      };
      socket.onclose = (e) => resolve(`closed ${e.code}`);
    });
    return { noCors, json, ws };
  })();
}

const needsChromium = await skipUnless('browser attacks', NEEDS.chromium);

describe('browser attacks', needsChromium, () => {
  test(
    'a page from another origin reaches no worker and cannot join the bus; listed, it can call the API',
    { timeout: 90_000 },
    async () => {
      await using site = await attackerSite();
      await using browser = await launch();
      const body = JSON.stringify(request);
      const expected = await referenceText({}, request);

      // Not listed: every attack is refused, SDK traffic beside it is served exactly.
      {
        await using stack = await startStack({ workers: 2, gateway: { metrics: true } });
        const hub = createBusHub(stack.transport, {
          server: stack.gateway.server,
          onError: () => undefined,
        });
        const upgrades: (string | undefined)[] = [];
        stack.gateway.server.on('upgrade', (req: IncomingMessage) =>
          upgrades.push(req.headers.origin),
        );
        const seen = recordAnswers(stack);
        try {
          const page = await browser.newPage();
          await page.goto(site.url);
          const before = completed(stack);
          const [results] = await Promise.all([
            page.evaluate(attack, [stack.url, body] as const),
            legitTraffic(stack, 20),
          ]);
          assert.equal(results.noCors, 'response opaque 0', 'the browser hides the answer');
          assert.equal(results.json, 'rejected TypeError', 'the preflight failed');
          assert.match(results.ws, /^closed 1006$/);
          const fromPage = seen.filter((s) => s.origin === site.url);
          assert.deepEqual(fromPage.map((s) => `${s.method} ${s.path} ${s.status}`).sort(), [
            'OPTIONS /v1/chat/completions 403',
            'POST /v1/chat/completions 403',
          ]);
          assert.deepEqual(upgrades, [site.url], 'the upgrade came from the page');
          assert.equal(hub.peers().length, 0, 'the page never joined the bus');
          assert.equal(completed(stack) - before, 20, 'only the SDK requests reached a worker');
          const refused = await (await fetch(`${stack.url}/metrics`)).text();
          assert.match(
            refused,
            /request_errors_total\{[^}]*code="forbidden"[^}]*\} 2\b/,
            'both refusals of the page are counted',
          );
          await page.close();
        } finally {
          await hub.close();
        }
      }

      // Listed: the same page's JSON call is answered, and it may open the bus socket.
      {
        await using stack = await startStack({
          workers: 1,
          gateway: { cors: { origins: [site.url] } },
        });
        const hub = createBusHub(stack.transport, {
          server: stack.gateway.server,
          allowedOrigins: [site.url],
          onError: () => undefined,
        });
        try {
          const page = await browser.newPage();
          await page.goto(site.url);
          const before = completed(stack);
          const [answer] = await Promise.all([
            page.evaluate(
              async ([gateway, payload]) => {
                const r = await fetch(`${gateway}/v1/chat/completions`, {
                  method: 'POST',
                  headers: { 'content-type': 'application/json', 'x-llmwire-priority': 'high' },
                  body: payload,
                });
                const data = (await r.json()) as {
                  choices: { message: { content: string } }[];
                };
                return {
                  status: r.status,
                  text: data.choices[0]?.message.content,
                  requestId: r.headers.get('x-request-id'),
                };
              },
              [stack.url, body] as const,
            ),
            legitTraffic(stack, 10),
          ]);
          assert.equal(answer.status, 200);
          assert.equal(answer.text, expected);
          assert.ok(answer.requestId, 'exposed response headers are readable');
          assert.equal(completed(stack) - before, 11);
          const ws = await page.evaluate(
            (url) =>
              new Promise<string>((resolve) => {
                const socket = new WebSocket(url);
                socket.onopen = () => {
                  socket.close();
                  resolve('open');
                };
                socket.onclose = (e) => resolve(`closed ${e.code}`);
              }),
            `${stack.url.replace('http', 'ws')}/v1/bus`,
          );
          assert.equal(ws, 'open', 'a listed origin may open the bus endpoint');
          await page.close();
        } finally {
          await hub.close();
        }
      }
    },
  );
});
