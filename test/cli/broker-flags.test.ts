// Broker credentials on the command line: the worker's flags and the config's `broker` section
// become adapter options, each setting only where its broker takes it, and a missing file is
// `config_invalid` naming the flag or field.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTransport } from '../../src/cli/runtime.js';
import { brokerFromFlags, readBroker } from '../../src/cli/tls.js';
import { upConfig } from '../../src/cli/up.js';
import { tempDir } from '../transport/fixtures/nats-server.js';

test('broker flags - files named by flags are read; a missing one names its flag', () => {
  using dir = tempDir('llmwire-broker-flags-');
  const pw = join(dir.path, 'pw');
  writeFileSync(pw, 'hunter22\n');
  assert.deepEqual(brokerFromFlags({ 'broker-user': 'svc', 'broker-password-file': pw }), {
    user: 'svc',
    password: 'hunter22',
  });
  assert.equal(brokerFromFlags({}), undefined);
  assert.throws(() => brokerFromFlags({ 'tls-ca': join(dir.path, 'nope.pem') }), {
    code: 'config_invalid',
    message: /^--tls-ca: cannot read/,
  });
  assert.throws(() => brokerFromFlags({ 'nats-creds': join(dir.path, 'nope.creds') }), {
    code: 'config_invalid',
    message: /^--nats-creds: cannot read/,
  });
});

test('broker flags - the password may come from LLMWIRE_BROKER_PASSWORD, but not twice', () => {
  using dir = tempDir('llmwire-broker-flags-');
  const pw = join(dir.path, 'pw');
  writeFileSync(pw, 'from-file');
  process.env.LLMWIRE_BROKER_PASSWORD = 'from-env';
  try {
    assert.equal(brokerFromFlags({ 'broker-user': 'svc' })?.password, 'from-env');
    assert.throws(() => brokerFromFlags({ 'broker-user': 'svc', 'broker-password-file': pw }), {
      code: 'config_invalid',
    });
  } finally {
    delete process.env.LLMWIRE_BROKER_PASSWORD;
  }
});

test('broker flags - a setting the broker does not take is config_invalid before connecting', async () => {
  for (const [spec, broker] of [
    ['redis://127.0.0.1:1', { token: 't' }],
    ['amqp://127.0.0.1:1', { nkeySeed: 'SU' }],
    ['ws://127.0.0.1:1/v1/bus', { user: 'u' }],
  ] as const) {
    await assert.rejects(createTransport(spec, { dataDir: '.', broker }), {
      code: 'config_invalid',
      message: /does not apply/,
    });
  }
});

test('broker config - the broker section is checked by the schema and read by field name', () => {
  using dir = tempDir('llmwire-broker-config-');
  const file = join(dir.path, 'c.json');
  writeFileSync(
    file,
    JSON.stringify({
      transport: 'redis://127.0.0.1:1',
      broker: { user: 'svc', password: { env: 'LLMWIRE_TEST_UNSET_PW' } },
    }),
  );
  const config = upConfig({ config: file });
  assert.throws(() => readBroker(config.broker!), {
    code: 'config_invalid',
    message: /^broker\.password: environment variable LLMWIRE_TEST_UNSET_PW is not set/,
  });
  writeFileSync(file, JSON.stringify({ broker: { passwd: 'x' } }));
  assert.throws(() => upConfig({ config: file }), { code: 'config_invalid', message: /broker/ });
});
