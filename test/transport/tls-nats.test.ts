// NATS over TLS with real credentials: a nats-server of the test's own that verifies client
// certificates and holds users with per-user permissions (a password user, an NKey user), and a
// second one that takes a token.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { nkeys } from '@nats-io/transport-node';
import { createEnvelope } from '../../src/protocol/index.js';
import { createNatsTransport, type NatsTransportOptions } from '../../src/transport/nats/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { NEEDS, requires } from '../helpers/requires.js';
import { freePort, NatsServerProcess, tempDir } from './fixtures/nats-server.js';
import { makeTlsFiles, type TlsFiles } from './fixtures/tls-certs.js';
import { assertUnauthorized, delivered, pubSubRoundTrip, queueRoundTrip } from './tls-helpers.js';

const PASSWORD = 'alice-s3cret-pw';
const TOKEN = 'the-t0ken-of-nats';

if (await requires('nats tls', NEEDS.natsServer)) {
  describe('nats tls', () => {
    let certs: TlsFiles;
    let store: ReturnType<typeof tempDir>;
    let server: NatsServerProcess;
    let tokenServer: NatsServerProcess;
    const nkeyUser = nkeys.createUser();
    const seed = new TextDecoder().decode(nkeyUser.getSeed());
    const open: Transport[] = [];

    const connect = async (o: Partial<NatsTransportOptions>, url = server.url) => {
      const t = await createNatsTransport({
        servers: url,
        streamPrefix: 'TLSTEST',
        storage: 'memory',
        onError: () => undefined,
        ...o,
      });
      open.push(t);
      return t;
    };
    const mtls = () => certs.clientTls();

    before(async () => {
      certs = makeTlsFiles();
      store = tempDir('llmwire-nats-tls-');
      const tlsBlock = (verify: boolean) => [
        'tls {',
        `  cert_file: "${certs.serverCert}"`,
        `  key_file: "${certs.serverKey}"`,
        `  ca_file: "${certs.caCert}"`,
        `  verify: ${verify}`,
        '}',
      ];
      server = await new NatsServerProcess({
        port: await freePort(),
        storeDir: join(store.path, 'js'),
        config: [
          ...tlsBlock(true),
          'authorization {',
          '  users = [',
          `    { user: alice, password: "${PASSWORD}" }`,
          `    { nkey: ${nkeyUser.getPublicKey()}, permissions: {`,
          '        publish: { allow: ["tls.open.>", "_INBOX.>"] }',
          '        subscribe: { allow: ["tls.>", "_INBOX.>"] } } }',
          '  ]',
          '}',
        ],
      }).start();
      tokenServer = await new NatsServerProcess({
        port: await freePort(),
        config: [...tlsBlock(false), 'authorization {', `  token: "${TOKEN}"`, '}'],
      }).start();
    });

    after(async () => {
      await Promise.all(open.map((t) => t.close().catch(() => undefined)));
      await server?.kill();
      await tokenServer?.kill();
      store?.[Symbol.dispose]();
      certs?.[Symbol.dispose]();
    });

    test('nats tls - user and password over mutual TLS: publish/subscribe and a durable queue', async () => {
      const t = await connect({ credentials: { user: 'alice', password: PASSWORD }, tls: mtls() });
      const env = await pubSubRoundTrip(t, 'tls.alice.hello');
      assert.deepEqual(env.body, { hello: 'tls.alice.hello' });
      await queueRoundTrip(t, 'tlsjobs');
    });

    test('nats tls - an NKey user gets its own subject permissions', async () => {
      const alice = await connect({
        credentials: { user: 'alice', password: PASSWORD },
        tls: mtls(),
      });
      const n = await connect({ credentials: { nkeySeed: seed }, tls: mtls() });
      await pubSubRoundTrip(n, 'tls.open.nkey');
      const send = (subject: string) => () =>
        n.publish(createEnvelope({ kind: 'event', subject, body: 'x' }));
      assert.equal(await delivered(alice, send('tls.open.allowed'), 'tls.open.allowed'), true);
      // Outside its publish permissions: the server drops the message.
      assert.equal(await delivered(alice, send('tls.closed.denied'), 'tls.closed.denied'), false);
    });

    test('nats tls - a token user over TLS (server not verifying clients)', async () => {
      const t = await connect(
        { credentials: { token: TOKEN }, tls: { ca: certs.read(certs.caCert) } },
        tokenServer.url,
      );
      await pubSubRoundTrip(t, 'tls.token.hello');
    });

    test('nats tls - a wrong password is an unauthorized error that does not show it', async () => {
      const wrong = 'not-the-password';
      await assert.rejects(
        connect({ credentials: { user: 'alice', password: wrong }, tls: mtls() }),
        (err) => (assertUnauthorized(err, [wrong, PASSWORD], /credentials/), true),
      );
      await assert.rejects(
        connect(
          { credentials: { token: 'wrong-token' }, tls: { ca: certs.read(certs.caCert) } },
          tokenServer.url,
        ),
        (err) => (assertUnauthorized(err, ['wrong-token', TOKEN]), true),
      );
    });

    test('nats tls - without the CA the server certificate is refused at the handshake', async () => {
      const { ca: _ca, ...noCa } = mtls();
      await assert.rejects(
        connect({ credentials: { user: 'alice', password: PASSWORD }, tls: noCa }),
        (err) => (assertUnauthorized(err, [PASSWORD], /certificate is not trusted/), true),
      );
      await assert.rejects(
        connect({
          credentials: { user: 'alice', password: PASSWORD },
          tls: { ...noCa, ca: certs.read(certs.otherCa) },
        }),
        (err) => (assertUnauthorized(err, [PASSWORD], /not trusted/), true),
      );
    });

    test('nats tls - a client without a certificate is refused (unavailable) when the server verifies clients', async () => {
      await assert.rejects(
        connect({
          credentials: { user: 'alice', password: PASSWORD },
          tls: { ca: certs.read(certs.caCert) },
        }),
        (err) => {
          assert.ok(err instanceof Error);
          assert.ok(!err.message.includes(PASSWORD));
          // TLS 1.3 sends the server's refusal after the client thinks the handshake is done,
          // and nats.js reports only that the connection did not come up.
          assert.equal((err as { code?: unknown }).code, 'unavailable');
          return true;
        },
      );
    });
  });
}
