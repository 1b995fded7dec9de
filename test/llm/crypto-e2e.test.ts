// Message crypto switched on by configuration, end to end between real processes: `llmwire
// gateway` and `llmwire worker` read signing and encryption keys from key files named in their
// config files; the hub between them has no keys and sees only headers.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { createCodec } from '../../src/codec/codec.js';
import { createKeyring } from '../../src/codec/security/encryption.js';
import { createSigning } from '../../src/codec/security/signing.js';
import { createEnvelope, type Envelope } from '../../src/protocol/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { createWebSocketTransport } from '../../src/transport/ws/client.js';
import { eventually } from '../conformance/harness.js';
import { BROKER_URLS, brokerAvailable, waitUntilAsync } from './broker-stack.js';
import { spawnProcess, within, type WorkerProcess } from './process-stack.js';
import { referenceText } from './stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const PROMPT = 'Tell the hub nothing about zebras.';

/** A directory of key files and the config files that name them; removed on dispose. */
function keyDir() {
  const dir = mkdtempSync(join(tmpdir(), 'llmwire-crypto-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, `${text}\n`, { mode: 0o600 });
    return path;
  };
  const ed = () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return {
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
  };
  const aes = { k1: randomBytes(32).toString('base64'), k2: randomBytes(32).toString('base64') };
  const hmac = randomBytes(32).toString('base64');
  return {
    dir,
    file,
    ed,
    aes,
    hmac,
    [Symbol.dispose]() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function stop(p: WorkerProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await within(p.exited, `${p.id} to exit`, 5000);
}

interface Stack {
  url: string;
  namespace: string;
  gateway: WorkerProcess;
  workers: WorkerProcess[];
  client(): OpenAI;
  [Symbol.asyncDispose](): Promise<void>;
}

/** `llmwire gateway` and one `llmwire worker` on `transport` (or the gateway's hub), each with its config file. */
async function startStack(opts: {
  transport?: string;
  gatewayConfig: string;
  workerConfig: string;
  dataDir: string;
}): Promise<Stack> {
  const namespace = `t${randomBytes(5).toString('hex')}`;
  const procs: WorkerProcess[] = [];
  const gateway = spawnProcess('gateway', CLI, [
    'gateway',
    '--transport',
    opts.transport ?? 'memory',
    '--namespace',
    namespace,
    '--port',
    '0',
    '--data-dir',
    opts.dataDir,
    '--config',
    opts.gatewayConfig,
  ]);
  procs.push(gateway);
  const dispose = async () => void (await Promise.all(procs.map(stop)));
  try {
    await gateway.waitForOutput(/^ready;/m, 20_000);
    assert.match(gateway.output(), /crypto +.*signing.*encryption/);
    const url = /gateway +(http:\/\/[^/\s]+)\/v1/.exec(gateway.output())![1]!;
    const worker = spawnProcess('w1', CLI, [
      'worker',
      '--connect',
      opts.transport ?? `${url.replace('http', 'ws')}/v1/bus`,
      '--namespace',
      namespace,
      '--id',
      'w1',
      '--config',
      opts.workerConfig,
    ]);
    procs.push(worker);
    await worker.waitForOutput(/^llmwire worker /m, 20_000);
    await waitUntilAsync(async () => {
      const res = await fetch(`${url}/v1/llmwire/workers`);
      const body = (await res.json()) as { workers: { id: string; status: string }[] };
      return body.workers.some((w) => w.id === 'w1' && w.status === 'ready');
    }, 'worker w1 to join the gateway (its signed, encrypted heartbeats opened)');
    return {
      url,
      namespace,
      gateway,
      workers: [worker],
      client: () => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 }),
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    console.error(procs.map((p) => p.output()).join('\n---\n'));
    await dispose();
    throw err;
  }
}

async function streamedText(client: OpenAI, seed: number): Promise<string> {
  const stream = await client.chat.completions.create({
    model: 'sim',
    messages: [{ role: 'user', content: PROMPT }],
    seed,
    max_tokens: 12,
    stream: true,
  });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  return text;
}

const expected = (seed: number) =>
  referenceText(
    {},
    { model: 'sim', messages: [{ role: 'user', content: PROMPT }], seed, max_tokens: 12 },
  );

describe('crypto e2e - gateway and worker over the ws hub', () => {
  test('signed and encrypted: exact streamed text; the hub tap sees sealed requests; a forged request is refused; rotated keyrings interoperate', async () => {
    using keys = keyDir();
    const gw = keys.ed();
    const wk = keys.ed();
    // Each side signs with its own Ed25519 key and verifies the other's public key; encryption
    // rotates: the gateway still writes k1, the worker already writes k2, both read both.
    const gatewayConfig = keys.file(
      'gateway.json',
      JSON.stringify({
        crypto: {
          integrity: true,
          signing: {
            keys: [
              {
                alg: 'Ed25519',
                kid: 'gw',
                privateKey: { file: keys.file('gw.pem', gw.privateKey) },
              },
              { alg: 'Ed25519', kid: 'wk', publicKey: { file: keys.file('wk.pub', wk.publicKey) } },
            ],
          },
          encryption: {
            current: 'k1',
            keys: {
              k1: { file: keys.file('k1.key', keys.aes.k1) },
              k2: { file: keys.file('k2.key', keys.aes.k2) },
            },
          },
        },
      }),
    );
    const workerConfig = keys.file(
      'worker.yaml',
      [
        'crypto:',
        '  signing:',
        '    keys:',
        `      - { alg: Ed25519, kid: wk, privateKey: { file: ${keys.file('wk.pem', wk.privateKey)} } }`,
        `      - { alg: Ed25519, kid: gw, publicKey: { file: ${keys.file('gw.pub', gw.publicKey)} } }`,
        '  encryption:',
        '    current: k2',
        '    keys:',
        `      k1: { file: ${join(keys.dir, 'k1.key')} }`,
        `      k2: { file: ${join(keys.dir, 'k2.key')} }`,
      ].join('\n'),
    );
    await using stack = await startStack({ gatewayConfig, workerConfig, dataDir: keys.dir });
    const busUrl = `${stack.url.replace('http', 'ws')}/v1/bus`;

    // A raw peer with no keys: what the hub carries, it sees.
    const tap = createWebSocketTransport({ url: busUrl, onError: () => undefined });
    const seen: Envelope[] = [];
    const sub = tap.subscribe(`${stack.namespace}.llm.worker.*.chat`, (env) => void seen.push(env));
    const inbox: Envelope[] = [];
    const inboxSub = tap.subscribe('_INBOX.>', (env) => void inbox.push(env));
    const forgedReplies: Envelope[] = [];
    const forgerInbox = `forger.${randomBytes(4).toString('hex')}`;
    const forgedSub = tap.subscribe(forgerInbox, (env) => void forgedReplies.push(env));
    await Promise.all([sub.ready, inboxSub.ready, forgedSub.ready]);

    const client = stack.client();
    // A forged, unsigned request beside legit traffic.
    const legit = Promise.all([streamedText(client, 1), streamedText(client, 2)]);
    tap.publish(
      createEnvelope({
        kind: 'inference.request',
        subject: `${stack.namespace}.llm.worker.w1.chat`,
        replyTo: forgerInbox,
        deadline: Date.now() + 10_000,
        body: { model: 'sim', messages: [{ role: 'user', content: 'forged' }] },
      }),
    );
    const [a, b] = await legit;
    assert.equal(a, await expected(1));
    assert.equal(b, await expected(2));

    const requests = seen.filter((e) => e.kind === 'inference.request' && e.source !== undefined);
    assert.ok(requests.length >= 2, 'the tap saw the gateway requests');
    for (const env of requests) {
      assert.equal(env.body, undefined);
      assert.ok(env.sig?.alg === 'Ed25519' && env.sig.kid === 'gw');
      assert.equal(env.enc?.kid, 'k1');
      assert.ok(!Buffer.from(env.payload!).toString('latin1').includes('zebras'));
    }
    assert.ok(
      inbox.some((e) => e.enc?.kid === 'k2' && e.sig?.kid === 'wk'),
      'the worker answers with its own keys (k2, wk) and the gateway reads them',
    );

    // The forged request was refused; the refusal comes back sealed, readable with the keys.
    await eventually(() => forgedReplies.length > 0, 10_000);
    const reader = createCodec({
      signing: createSigning([{ alg: 'Ed25519', kid: 'wk', publicKey: wk.publicKey }]),
      encryption: createKeyring({
        current: 'k1',
        keys: { k1: keys.aes.k1, k2: keys.aes.k2 },
      }),
    });
    const refusal = reader.open(forgedReplies[0]!, { replay: false });
    assert.equal(refusal.kind, 'error');
    assert.equal((refusal.body as { code: string }).code, 'bad_signature');
    assert.match(stack.workers[0]!.output(), /not signed/);
    await tap.close();
  });

  test('a worker config naming a key that is not there fails at start with config_invalid', async () => {
    using keys = keyDir();
    const workerConfig = keys.file(
      'worker.json',
      JSON.stringify({
        crypto: {
          encryption: { current: 'k1', keys: { k1: { file: join(keys.dir, 'missing.key') } } },
          signing: { keys: [] },
        },
      }),
    );
    const w = spawnProcess('bad', CLI, [
      'worker',
      '--connect',
      'ws://127.0.0.1:9/v1/bus',
      '--config',
      workerConfig,
    ]);
    const exit = await within(w.exited, 'the misconfigured worker to exit', 10_000);
    assert.notEqual(exit.code, 0);
    assert.match(w.output(), /crypto\.signing\.keys/);
  });
});

describe('crypto e2e - gateway and worker over NATS', async () => {
  if (!(await brokerAvailable('nats', 'crypto e2e - gateway and worker over NATS'))) return;
  test('signed (HS256) and encrypted over NATS: exact streamed text, requests sealed on the broker', async () => {
    using keys = keyDir();
    const config = keys.file(
      'llmwire.yaml',
      [
        'crypto:',
        '  integrity: true',
        '  signing:',
        `    keys: [{ alg: HS256, kid: h1, secret: { file: ${keys.file('h1.key', keys.hmac)} } }]`,
        '  encryption:',
        '    current: k1',
        `    keys: { k1: { file: ${keys.file('k1.key', keys.aes.k1)} } }`,
      ].join('\n'),
    );
    await using stack = await startStack({
      transport: BROKER_URLS.nats,
      gatewayConfig: config,
      workerConfig: config,
      dataDir: keys.dir,
    });
    const tap: Transport = await createNatsTransport({ servers: BROKER_URLS.nats });
    const seen: Envelope[] = [];
    const sub = tap.subscribe(`${stack.namespace}.llm.worker.*.chat`, (env) => void seen.push(env));
    await sub.ready;
    assert.equal(await streamedText(stack.client(), 3), await expected(3));
    await eventually(() => seen.length > 0);
    assert.equal(seen[0]!.body, undefined);
    assert.equal(seen[0]!.sig?.alg, 'HS256');
    assert.ok(!Buffer.from(seen[0]!.payload!).toString('latin1').includes('zebras'));
    await tap.close();
  });
});
