// `llmwire up` with gateway.tls, as a child process: the openai SDK reaches it over HTTPS
// trusting the test CA, a `llmwire worker` joins over wss:// with --tls-ca and serves a streamed
// chat; plain HTTP, an untrusted certificate, and (with a client CA) a client without a
// certificate are refused; unreadable or bad certificate files fail at start naming the field.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../transport/fixtures/nats-server.js';
import { makeTlsFiles, type TlsFiles } from '../transport/fixtures/tls-certs.js';
import { spawnProcess, within, type WorkerProcess } from './process-stack.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./https-openai-client.js', import.meta.url));
const KEY = 'sk-llmwire-tls-test-key';
/** The workers and the workers list use an operator credential (a client key may not serve). */
const OPKEY = 'op-tls-operator-0123456789';
const run = promisify(execFile);

interface Answer {
  status: number;
  body: string;
}

/** One HTTPS GET with the given trust and client certificate. */
function get(
  url: string,
  tls: { ca?: string; cert?: string; key?: string },
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

function writeConfig(certs: TlsFiles, name: string, port: number, tls: string[]): string {
  const file = join(certs.dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'transport: memory',
      `identities: [{ name: ops, role: operator, key: ${OPKEY} }]`,
      `dataDir: ${join(certs.dir, `${name}-data`)}`,
      'gateway:',
      '  host: 127.0.0.1',
      `  port: ${port}`,
      '  metrics: false',
      '  dashboard: false',
      '  apiKeys:',
      `    ${KEY}: { name: tls-tenant }`,
      '  tls:',
      ...tls.map((l) => `    ${l}`),
      'workers: { count: 0, concurrency: 4, backend: { kind: sim, models: [sim] } }',
      '',
    ].join('\n'),
  );
  return file;
}

async function startUp(config: string): Promise<WorkerProcess> {
  const up = spawnProcess('up', CLI, ['up', '--config', config]);
  await up.waitForOutput(/^ready/m, 15_000);
  return up;
}

async function stop(p: WorkerProcess | undefined): Promise<void> {
  if (p === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGKILL');
  await within(p.exited, `${p.id} to exit`, 5000);
}

describe('https gateway', () => {
  let certs: TlsFiles;
  let port = 0;
  let up: WorkerProcess | undefined;
  const children: WorkerProcess[] = [];
  const base = () => `https://127.0.0.1:${port}`;
  const bus = () => `wss://127.0.0.1:${port}/v1/bus`;

  before(async () => {
    certs = makeTlsFiles();
    port = await freePort();
    const config = writeConfig(certs, 'tls', port, [
      `cert: { file: ${certs.serverCert} }`,
      `key: { file: ${certs.serverKey} }`,
    ]);
    up = await startUp(config);
  });

  after(async () => {
    await Promise.all([...children, up].map(stop));
    certs?.[Symbol.dispose]();
  });

  test('https gateway - up prints https and wss URLs', () => {
    assert.match(up!.output(), new RegExp(`gateway +${base()}/v1`));
    assert.match(up!.output(), new RegExp(`remote workers: ${bus()}`));
  });

  test('https gateway - a worker joins over wss with --tls-ca and the openai SDK streams a chat over https', async () => {
    const w = spawnProcess('w-tls', CLI, [
      'worker', '--connect', bus(), '--tls-ca', certs.caCert, '--token', OPKEY, '--id', 'w-tls',
    ]); // prettier-ignore
    children.push(w);
    await w.waitForOutput(/^llmwire worker /m);
    const ca = certs.read(certs.caCert);
    const auth = { authorization: `Bearer ${OPKEY}` };
    let workers = '';
    const deadline = Date.now() + 10_000;
    while (!workers.includes('"w-tls"') && Date.now() < deadline) {
      workers = (await get(`${base()}/v1/llmwire/workers`, { ca }, auth)).body;
      if (!workers.includes('"w-tls"')) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(workers, /"w-tls"/);
    const { stdout } = await run(process.execPath, [CLIENT, `${base()}/v1`, KEY], {
      env: { PATH: process.env.PATH ?? '', NODE_EXTRA_CA_CERTS: certs.caCert },
      timeout: 20_000,
    });
    const answer = JSON.parse(stdout) as { text: string; chunks: number };
    assert.ok(answer.chunks > 1, `a streamed answer, got ${stdout}`);
    assert.ok(answer.text.length > 0);
  });

  test('https gateway - plain http to the https port fails', async () => {
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  });

  test('https gateway - a client that does not trust the CA is refused at the handshake', async () => {
    await assert.rejects(get(`${base()}/healthz`, { ca: certs.read(certs.otherCa) }), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  test('https gateway - a worker without the CA stops at once with unauthorized', async () => {
    const w = spawnProcess('w-noca', CLI, ['worker', '--connect', bus(), '--token', OPKEY]);
    children.push(w);
    const exit = await within(w.exited, 'the worker to give up', 10_000);
    assert.equal(exit.code, 2, w.output());
    assert.match(w.output(), /not trusted.*\[unauthorized\]/);
  });

  test('https gateway - with a client CA (mutual TLS) a client without a certificate is refused', async () => {
    const mport = await freePort();
    const config = writeConfig(certs, 'mtls', mport, [
      `cert: { file: ${certs.serverCert} }`,
      `key: { file: ${certs.serverKey} }`,
      `ca: { file: ${certs.caCert} }`,
    ]);
    const mup = await startUp(config);
    children.push(mup);
    const ca = certs.read(certs.caCert);
    const url = `https://127.0.0.1:${mport}/healthz`;
    await assert.rejects(get(url, { ca }));
    const ok = await get(url, {
      ca,
      cert: certs.read(certs.clientCert),
      key: certs.read(certs.clientKey),
    });
    assert.equal(ok.status, 200);
    const mbus = `wss://127.0.0.1:${mport}/v1/bus`;
    const refused = spawnProcess('w-nocert', CLI, [
      'worker', '--connect', mbus, '--tls-ca', certs.caCert, '--token', OPKEY,
    ]); // prettier-ignore
    children.push(refused);
    const exit = await within(
      refused.exited,
      'the worker without a certificate to give up',
      10_000,
    );
    assert.equal(exit.code, 2, refused.output());
    assert.match(refused.output(), /\[unauthorized\]/);
    const w = spawnProcess('w-mtls', CLI, [
      'worker', '--connect', mbus, '--tls-ca', certs.caCert, '--tls-cert', certs.clientCert,
      '--tls-key', certs.clientKey, '--token', OPKEY, '--id', 'w-mtls',
    ]); // prettier-ignore
    children.push(w);
    await w.waitForOutput(/^llmwire worker w-mtls/m);
  });

  test('https gateway - unreadable or bad certificate files fail at start naming the field', async () => {
    const missing = writeConfig(certs, 'missing', 0, [
      `cert: { file: ${certs.serverCert} }`,
      `key: { file: ${join(certs.dir, 'no-such.key')} }`,
    ]);
    const bad = writeConfig(certs, 'bad', 0, [
      `cert: { file: ${certs.serverCert} }`,
      `key: { file: ${certs.clientKey} }`,
    ]);
    for (const [config, pattern] of [
      [missing, /gateway\.tls\.key: cannot read secret file .*\[config_invalid\]/],
      [bad, /gateway\.tls\.key: does not belong to gateway\.tls\.cert.*\[config_invalid\]/],
    ] as const) {
      const p = spawnProcess('up-bad', CLI, ['up', '--config', config, '--once']);
      const exit = await within(p.exited, 'up to fail', 10_000);
      assert.equal(exit.code, 2, p.output());
      assert.match(p.output(), pattern);
    }
  });
});
