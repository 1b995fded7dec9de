// A nats-server of a test's own, started with the authorization block `llmwire nats-config`
// writes for a set of identities (and, when given, a gateway user): the NATS users the
// isolation and grant tests try as attackers would.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, NatsServerProcess } from '../transport/fixtures/nats-server.js';

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
