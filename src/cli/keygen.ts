// `llmwire keygen`: new keys for the `crypto` configuration section, written as files (mode
// 0600) that the section names, and the section itself printed to paste into a config file.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../protocol/index.js';
import { parse, type Options } from './args.js';

export const KEYGEN_HELP = `Usage: llmwire keygen [options]

Writes new keys for message crypto (docs/security.md) into a directory, one file each (mode
0600), and prints the config section that uses them.

Options:
  --dir DIR    where the key files go (default .llmwire/keys; created if missing)
  --kid ID     key id, also the files' base name (default k<date>, e.g. k20260101)
  --alg ALG    signing algorithm: HS256 (default; one shared secret) or Ed25519 (a key pair)
  -h, --help   show this help
`;

const OPTIONS: Options = {
  dir: { type: 'string' },
  kid: { type: 'string' },
  alg: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export function keygen(args: string[], out: (line: string) => void): number {
  const flags = parse('keygen', args, OPTIONS);
  if (flags.help === true) {
    out(KEYGEN_HELP);
    return 0;
  }
  const alg = typeof flags.alg === 'string' ? flags.alg : 'HS256';
  if (alg !== 'HS256' && alg !== 'Ed25519') {
    throw new ConfigError(`--alg must be HS256 or Ed25519, got '${alg}'`);
  }
  const kid =
    typeof flags.kid === 'string'
      ? flags.kid
      : `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}`;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(kid)) {
    throw new ConfigError(`--kid must be 1-64 letters, digits, '_', '.' or '-', got '${kid}'`);
  }
  const dir = resolve(typeof flags.dir === 'string' ? flags.dir : join('.llmwire', 'keys'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    // Never overwrite: a key file may be the only copy of a key still in use.
    if (existsSync(path)) throw new ConfigError(`${path} exists; choose another --kid`);
    writeFileSync(path, `${text}\n`, { mode: 0o600, flag: 'wx' });
    return path;
  };
  const aes = write(`${kid}.aes`, randomBytes(32).toString('base64'));
  let signing: string[];
  if (alg === 'HS256') {
    const secret = write(`${kid}.hs256`, randomBytes(48).toString('base64'));
    signing = [`      - { alg: HS256, kid: ${kid}, secret: { file: ${secret} } }`];
  } else {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const priv = write(
      `${kid}.pem`,
      privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().trim(),
    );
    const pub = write(
      `${kid}.pub`,
      publicKey.export({ type: 'spki', format: 'pem' }).toString().trim(),
    );
    signing = [
      `      # on the processes that sign as ${kid}:`,
      `      - { alg: Ed25519, kid: ${kid}, privateKey: { file: ${priv} } }`,
      `      # on the others (verify only): { alg: Ed25519, kid: ${kid}, publicKey: { file: ${pub} } }`,
    ];
  }
  out(
    [
      `# keys written to ${dir}; copy them to every process on the bus`,
      'crypto:',
      '  integrity: true',
      '  signing:',
      '    keys:',
      ...signing,
      '  encryption:',
      `    current: ${kid}`,
      '    keys:',
      `      ${kid}: { file: ${aes} }`,
    ].join('\n'),
  );
  return 0;
}
