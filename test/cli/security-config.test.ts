// The locked-down deployment of docs/security.md, as written there: its YAML block (paths moved
// to a temporary folder, loopback instead of every address) runs `llmwire up` over HTTPS with
// identities and signing; a worker process joins with its credential and the same file, and the
// official openai SDK gets an answer through it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { makeTlsFiles } from '../transport/fixtures/tls-certs.js';
import { Background } from './helpers.js';
import { waitUntil } from '../wait.js';

const DOC = fileURLToPath(new URL('../../../docs/security.md', import.meta.url));
const CLIENT = fileURLToPath(new URL('../llm/https-openai-client.js', import.meta.url));
const run = promisify(execFile);

/** The first YAML block under the "locked-down deployment" heading. */
function documentedConfig(): string {
  const doc = readFileSync(DOC, 'utf8');
  const section = doc.slice(doc.indexOf('## A locked-down deployment'));
  const m = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'docs/security.md has the config block');
  return m[1]!;
}

const waitFor = (what: string, check: () => boolean, timeoutMs = 20_000) =>
  waitUntil(check, what, timeoutMs, 25);

describe('security config - the documented locked-down deployment', () => {
  test('runs as written: https, identities, signing; a worker joins with its credential', async () => {
    using certs = makeTlsFiles();
    const dir = certs.dir;
    const keys = {
      tenant: `sk-${randomBytes(12).toString('hex')}`,
      gpu: `wk-${randomBytes(12).toString('hex')}`,
      ops: `op-${randomBytes(12).toString('hex')}`,
      prom: `ob-${randomBytes(12).toString('hex')}`,
    };
    writeFileSync(join(dir, 'gpu-1.key'), `${keys.gpu}\n`);
    writeFileSync(join(dir, 'ops.key'), `${keys.ops}\n`);
    writeFileSync(join(dir, 'k1.key'), randomBytes(32).toString('base64'));
    const yaml = documentedConfig()
      .replaceAll('/etc/llmwire/cert.pem', certs.serverCert)
      .replaceAll('/etc/llmwire/key.pem', certs.serverKey)
      .replaceAll('/etc/llmwire/', `${dir}/`)
      .replace('0.0.0.0', '127.0.0.1');
    const config = join(dir, 'llmwire.yaml');
    writeFileSync(config, yaml);
    process.env.TENANT_A_KEY = keys.tenant;
    process.env.PROM_KEY = keys.prom;
    await using up = new Background([
      'up',
      '--config',
      config,
      '--port',
      '0',
      '--workers',
      '0',
      '--data-dir',
      join(dir, 'data'),
    ]);
    await waitFor('llmwire up to be ready', () => /ready/.test(up.stdout));
    const m = /gateway\s+(https:\/\/[\d.:]+)\/v1/.exec(up.stdout);
    assert.ok(m, up.stdout);
    const base = m[1]!;
    await using worker = new Background([
      'worker',
      '--connect',
      `${base.replace('https', 'wss')}/v1/bus`,
      '--token',
      keys.gpu,
      '--config',
      config,
      '--tls-ca',
      certs.caCert,
      '--sim-ttft-ms',
      '0',
      '--sim-itl-ms',
      '0',
    ]);
    await waitFor('the worker to join as gpu-1', () => /llmwire worker gpu-1/.test(worker.stdout));
    let answer: { text: string; chunks: number } | undefined;
    const until = Date.now() + 15_000;
    while (answer === undefined) {
      try {
        const { stdout } = await run(process.execPath, [CLIENT, `${base}/v1`, keys.tenant], {
          env: { PATH: process.env.PATH ?? '', NODE_EXTRA_CA_CERTS: certs.caCert },
          timeout: 20_000,
        });
        answer = JSON.parse(stdout) as { text: string; chunks: number };
      } catch (err) {
        // 404 until the worker's first heartbeat reaches the gateway.
        if (Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.ok(answer.text.length > 0 && answer.chunks > 1, JSON.stringify(answer));
    assert.doesNotMatch(up.stderr + worker.stderr, /bad_signature|forbidden/);
  });
});
