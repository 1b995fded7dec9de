// Redis over TLS with an ACL user: a redis-server of the test's own with only a TLS port, client
// certificates required, the default user off and one user limited to the test's keys and
// channels (ACL ~pattern and &pattern).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import {
  createRedisTransport,
  type RedisTransportOptions,
} from '../../src/transport/redis/index.js';
import { createEnvelope } from '../../src/protocol/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { executable, requires } from '../helpers/requires.js';
import { freePort, reachable, sleep } from './fixtures/nats-server.js';
import { makeTlsFiles, type TlsFiles } from './fixtures/tls-certs.js';
import { assertUnauthorized, pubSubRoundTrip, queueRoundTrip, refusal } from './tls-helpers.js';

const REDIS_SERVER_BIN = process.env.LLMWIRE_REDIS_SERVER ?? '/usr/bin/redis-server';
const PASSWORD = 'redis-acl-s3cret';
const PREFIX = 'tlstest:';

const redisServer = executable(
  'redis-server',
  REDIS_SERVER_BIN,
  'install redis-server (Debian/Ubuntu: apt-get install redis-server) or set LLMWIRE_REDIS_SERVER',
);
if (await requires('redis tls', redisServer)) {
  describe('redis tls', () => {
    let certs: TlsFiles;
    let child: ChildProcess | undefined;
    let port = 0;
    let log = '';
    const open: Transport[] = [];

    const transport = (o: Partial<RedisTransportOptions>) => {
      const t = createRedisTransport({
        url: `rediss://127.0.0.1:${port}`,
        prefix: PREFIX,
        reconnect: { initialMs: 50, maxMs: 200 },
        onError: () => undefined,
        ...o,
      });
      open.push(t);
      return t;
    };
    const mtls = () => certs.clientTls();
    const connected = async (t: Transport) => {
      for await (const s of t.status()) {
        if (s.type === 'connected') return;
        if (s.type === 'error') throw s.error;
      }
      throw new Error('closed before connecting');
    };

    before(async () => {
      certs = makeTlsFiles();
      port = await freePort();
      // prettier-ignore
      child = spawn(REDIS_SERVER_BIN, [
        '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
        '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey,
        '--tls-ca-cert-file', certs.caCert, '--tls-auth-clients', 'yes',
        '--save', '', '--appendonly', 'no', '--dir', certs.dir,
        '--user', 'default', 'off',
        '--user', 'alice', 'on', `>${PASSWORD}`, `~${PREFIX}*`, `&${PREFIX}*`, '+@all',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.setEncoding('utf8').on('data', (s: string) => (log = (log + s).slice(-4000)));
      const until = Date.now() + 10_000;
      while (!(await reachable(`redis://127.0.0.1:${port}`, 200))) {
        if (child.exitCode !== null) throw new Error(`redis-server exited: ${log}`);
        if (Date.now() > until) throw new Error(`redis-server did not listen: ${log}`);
        await sleep(20);
      }
    });

    after(async () => {
      await Promise.all(open.map((t) => t.close().catch(() => undefined)));
      child?.kill('SIGKILL');
      certs?.[Symbol.dispose]();
    });

    test('redis tls - an ACL user over mutual TLS: publish/subscribe and a durable queue', async () => {
      const t = transport({ username: 'alice', password: PASSWORD, tls: mtls() });
      await connected(t);
      const env = await pubSubRoundTrip(t, 'tls.redis.hello');
      assert.deepEqual(env.body, { hello: 'tls.redis.hello' });
      await queueRoundTrip(t, 'tlsjobs');
    });

    test('redis tls - the ACL user cannot reach keys outside its pattern', async () => {
      const t = transport({ username: 'alice', password: PASSWORD, tls: mtls(), prefix: 'other:' });
      await connected(t);
      await assert.rejects(
        t.queue('jobs').enqueue(createEnvelope({ kind: 'event', subject: 'jobs' })),
        { code: 'forbidden' },
      );
    });

    test('redis tls - a client without a certificate is refused', async () => {
      const t = transport({
        username: 'alice',
        password: PASSWORD,
        tls: { ca: certs.read(certs.caCert) },
      });
      assertUnauthorized(await refusal(t), [PASSWORD], /CERTIFICATE_REQUIRED/);
    });

    test('redis tls - a wrong password is an unauthorized error that does not show it', async () => {
      const wrong = 'not-the-redis-password';
      const err = await refusal(transport({ username: 'alice', password: wrong, tls: mtls() }));
      assertUnauthorized(err, [wrong, PASSWORD], /WRONGPASS/);
    });

    test('redis tls - an untrusted server certificate is refused at the handshake', async () => {
      const err = await refusal(
        transport({
          username: 'alice',
          password: PASSWORD,
          tls: { ...mtls(), ca: certs.read(certs.otherCa) },
        }),
      );
      assertUnauthorized(err, [PASSWORD], /not trusted/);
    });

    test('redis tls - TLS options need a rediss:// url', () => {
      assert.throws(() => createRedisTransport({ url: `redis://127.0.0.1:${port}`, tls: mtls() }), {
        code: 'config_invalid',
      });
    });
  });
}
