// A nats-server of a test's own, started with the authorization block `llmwire nats-config`
// writes for a set of identities (and, when given, a gateway user): the NATS users the
// isolation and grant tests try as attackers would.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PermissionViolationError } from '@nats-io/transport-node';
import { freePort, NatsServerProcess } from '../transport/fixtures/nats-server.js';
import { spawnProcess, type WorkerProcess } from './process-stack.js';
import { waitUntil } from '../wait.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = promisify(execFile);

export interface ConfinedIdentity {
  name: string;
  role: 'client' | 'worker' | 'operator' | 'observer';
  key: string;
}

export interface ConfinedNats {
  server: NatsServerProcess;
  port: number;
  /** The config file holding the identities, for the gateway and workers started later. */
  config: string;
  /** What `llmwire nats-config --out` printed. */
  stdout: string;
}

/** Writes the identities' config in `dir`, runs `llmwire nats-config` on it, starts nats-server. */
export async function startConfinedNats(
  dir: string,
  identities: readonly ConfinedIdentity[],
  gateway?: { user: string; password: string },
): Promise<ConfinedNats> {
  const config = join(dir, 'llmwire.json');
  writeFileSync(config, JSON.stringify({ identities }));
  const auth = join(dir, 'auth.conf');
  const args = [CLI, 'nats-config', '--config', config, '--out', auth];
  if (gateway !== undefined) {
    const passwordFile = join(dir, 'gateway.pass');
    writeFileSync(passwordFile, `${gateway.password}\n`);
    args.push('--gateway-user', gateway.user, '--gateway-password-file', passwordFile);
  }
  const { stdout } = await run(process.execPath, args);
  const port = await freePort();
  const server = await new NatsServerProcess({
    port,
    storeDir: join(dir, 'js'),
    // The block as written (nats-server resolves `include` relative to its config file).
    config: [readFileSync(auth, 'utf8')],
  }).start();
  return { server, port, config, stdout };
}

/** Waits up to 5 s for `check` to hold, failing with `what` otherwise. */
export async function eventually(check: () => boolean, what: string): Promise<void> {
  return waitUntil(check, what, 5000, 20);
}

/** Waits for a connection's status errors to report a refused publish on `subject`. */
export function publishRefused(errors: readonly unknown[], subject: string): Promise<void> {
  return eventually(
    () =>
      errors.some(
        (e) =>
          e instanceof PermissionViolationError &&
          e.operation === 'publish' &&
          e.subject === subject,
      ),
    `a publish violation for ${subject}`,
  );
}

/**
 * Starts `llmwire gateway` as the NATS user `gateway` (config `config`, data under `dataDir`) and
 * one `llmwire worker` as the user `gpu-1`, each with its own inbox root, pushing both onto
 * `processes` for the caller to stop; resolves with both and the gateway's base URL once up.
 */
export async function startConfinedPair(
  url: (user: 'gateway' | 'gpu-1') => string,
  config: string,
  dataDir: string,
  processes: WorkerProcess[],
): Promise<{ base: string; gateway: WorkerProcess; worker: WorkerProcess }> {
  const gateway = spawnProcess('gateway', CLI, [
    'gateway',
    '--transport',
    url('gateway'),
    '--inbox-prefix',
    '_INBOX.gateway',
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--config',
    config,
  ]);
  processes.push(gateway);
  await gateway.waitForOutput(/^ready;/m, 20_000);
  const m = /gateway +(http:\/\/[^/\s]+)\/v1/.exec(gateway.output());
  assert.ok(m, `the gateway prints its URL:\n${gateway.output()}`);
  const worker = spawnProcess('gpu-1', CLI, [
    'worker',
    '--connect',
    url('gpu-1'),
    '--id',
    'gpu-1',
    '--inbox-prefix',
    '_INBOX.gpu-1',
  ]);
  processes.push(worker);
  await worker.waitForOutput(/^llmwire worker /m, 20_000);
  return { base: m[1]!, gateway, worker };
}
