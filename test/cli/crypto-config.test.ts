// The `crypto` configuration section: every wrong field named (config_invalid), keys read from
// files and environment variables, bad keys refused at start with their field named.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG, merge, validateConfig } from '../../src/cli/config.js';
import { busSecurity, type CryptoConfig } from '../../src/cli/crypto.js';
import { keygen } from '../../src/cli/keygen.js';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../src/protocol/index.js';

const configError = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof ConfigError, String(err));
  assert.equal(err.code, 'config_invalid');
  assert.match(err.message, pattern);
  return true;
};

describe('crypto config', () => {
  test('every wrong crypto field is named in one config_invalid error', () => {
    const bad = merge(DEFAULT_CONFIG, {
      crypto: {
        integrity: 'yes',
        signing: { keys: [{ alg: 'HS512', kid: 'a', secret: 'x' }], replayWindowMs: 5 },
        encryption: { keys: {} },
        extra: 1,
      },
    });
    assert.throws(
      () => validateConfig(bad, 'bad.yaml'),
      configError(
        /crypto\.integrity[\s\S]*crypto\.signing\.keys\.0\.alg[\s\S]*crypto\.signing\.replayWindowMs[\s\S]*crypto\.encryption/,
      ),
    );
    assert.throws(
      () => validateConfig(bad, 'bad.yaml'),
      configError(/crypto: Unexpected property|crypto\.extra/),
    );
  });

  test('keys come from files and environment variables; the first private key signs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmwire-crypto-config-'));
    try {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      writeFileSync(join(dir, 'ed.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
      writeFileSync(join(dir, 'k1.key'), `${randomBytes(32).toString('base64')}\n`);
      const envName = `LLMWIRE_TEST_K2_${randomBytes(3).toString('hex')}`;
      process.env[envName] = randomBytes(32).toString('base64');
      const crypto: CryptoConfig = {
        integrity: true,
        signing: {
          keys: [
            {
              alg: 'Ed25519',
              kid: 'pub',
              publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
            },
            { alg: 'Ed25519', kid: 'ed', privateKey: { file: join(dir, 'ed.pem') } },
          ],
        },
        encryption: {
          current: 'k2',
          keys: { k1: { file: join(dir, 'k1.key') }, k2: { env: envName } },
        },
      };
      validateConfig(merge(DEFAULT_CONFIG, { crypto }), 'test');
      const security = busSecurity(crypto)!;
      assert.equal(security.integrity, true);
      assert.equal(security.encryption?.current, 'k2');
      assert.equal(security.signing?.signer?.sign(Buffer.from('x')).kid, 'ed');
      delete process.env[envName];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a verify-only keyring signs nothing', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const security = busSecurity({
      signing: { keys: [{ alg: 'Ed25519', kid: 'p', publicKey: pem }] },
    })!;
    assert.equal(security.signing?.signer, undefined);
  });

  test('bad keys are refused with their field named', () => {
    assert.throws(
      () =>
        busSecurity({ signing: { keys: [{ alg: 'Ed25519', kid: 'e', secret: 'x'.repeat(32) }] } }),
      configError(/crypto\.signing\.keys\[0\]\.secret: an Ed25519 key/),
    );
    assert.throws(
      () => busSecurity({ encryption: { current: 'k1', keys: { k1: 'c2hvcnQ=' } } }),
      configError(/crypto\.encryption\.keys\.k1: must be 32 bytes/),
    );
    assert.throws(
      () =>
        busSecurity({
          encryption: { current: 'k9', keys: { k1: randomBytes(32).toString('base64') } },
        }),
      configError(/crypto\.encryption\.current/),
    );
    assert.throws(
      () => busSecurity({ signing: { keys: [{ alg: 'HS256', kid: 'h', secret: 'too short' }] } }),
      configError(/crypto\.signing\.keys\[0\]\.secret: HS256 secrets must be at least 32 bytes/),
    );
    assert.throws(
      () =>
        busSecurity({
          signing: {
            keys: [
              {
                alg: 'Ed25519',
                kid: 'e',
                privateKey: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----',
              },
            ],
          },
        }),
      configError(/crypto\.signing\.keys\[0\]: not a usable Ed25519 PEM key/),
    );
    assert.throws(
      () =>
        busSecurity({
          signing: {
            keys: [{ alg: 'HS256', kid: 'h', secret: { file: '/nonexistent/llmwire.key' } }],
          },
        }),
      configError(/crypto\.signing\.keys\[0\]\.secret: cannot read secret file/),
    );
  });

  for (const alg of ['HS256', 'Ed25519']) {
    test(`keygen ${alg}: the printed section, with the key files it names, is a working config`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'llmwire-keygen-'));
      try {
        let text = '';
        assert.equal(
          keygen(['--dir', dir, '--kid', 'g1', '--alg', alg], (l) => (text += l)),
          0,
        );
        const config = validateConfig(merge(DEFAULT_CONFIG, parseYaml(text)), 'keygen');
        const security = busSecurity(config.crypto)!;
        assert.equal(security.encryption?.current, 'g1');
        assert.equal(security.signing?.signer?.sign(Buffer.from('x')).alg, alg);
        assert.throws(
          () => keygen(['--dir', dir, '--kid', 'g1'], () => undefined),
          configError(/exists/),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
