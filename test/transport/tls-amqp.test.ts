// RabbitMQ credentials: a user and virtual host of the test's own, made with rabbitmqctl on the
// shared broker and removed afterwards. amqps:// is checked only as far as the shared broker
// allows without reconfiguring it: TLS options reach amqplib, and a TLS handshake against its
// plain port fails with the typed refusal.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import {
  createAmqpTransport,
  type AmqpTransport,
  type AmqpTransportOptions,
} from '../../src/transport/amqp/index.js';
import { AMQP_URL, namespace } from './amqp-harness.js';
import { executable, NEEDS, requires } from '../helpers/requires.js';
import { makeTlsFiles, type TlsFiles } from './fixtures/tls-certs.js';
import { assertUnauthorized, pubSubRoundTrip, queueRoundTrip, refusal } from './tls-helpers.js';

const RABBITMQCTL = process.env.LLMWIRE_RABBITMQCTL ?? '/usr/sbin/rabbitmqctl';
const run = promisify(execFile);
const ctl = (...args: string[]) => run(RABBITMQCTL, args, { timeout: 30_000 });

const broker = new URL(AMQP_URL);
const PLAIN_HOST = `${broker.hostname}:${broker.port || '5672'}`;

const rabbitmqctl = executable(
  'rabbitmqctl',
  RABBITMQCTL,
  'run the tests where RabbitMQ is installed, or set LLMWIRE_RABBITMQCTL',
);
if (await requires('amqp credentials', NEEDS.amqp, rabbitmqctl)) {
  describe('amqp credentials', () => {
    const id = randomBytes(4).toString('hex');
    const vhost = `llmwire-test-${id}`;
    const user = `llmwire-test-${id}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    let certs: TlsFiles;
    const open: AmqpTransport[] = [];

    const transport = (o: Partial<AmqpTransportOptions>) => {
      const t = createAmqpTransport({
        url: `amqp://${PLAIN_HOST}`,
        exchange: namespace(),
        deleteOnClose: true,
        reconnect: { initialMs: 50, maxMs: 500 },
        connectTimeoutMs: 3000,
        onError: () => undefined,
        ...o,
      });
      open.push(t);
      return t;
    };

    before(async () => {
      certs = makeTlsFiles();
      await ctl('add_vhost', vhost);
      await ctl('add_user', user, password);
      await ctl('set_permissions', '-p', vhost, user, '.*', '.*', '.*');
    });

    after(async () => {
      await Promise.all(open.map((t) => t.close().catch(() => undefined)));
      await ctl('delete_user', user).catch(() => undefined);
      await ctl('delete_vhost', vhost).catch(() => undefined);
      certs?.[Symbol.dispose]();
    });

    test('amqp credentials - a user of its own on a vhost of its own: publish/subscribe and a durable queue', async () => {
      const t = transport({ credentials: { user, password }, vhost });
      await t.ready;
      const env = await pubSubRoundTrip(t, 'tls.amqp.hello');
      assert.deepEqual(env.body, { hello: 'tls.amqp.hello' });
      await queueRoundTrip(t, 'tlsjobs');
      const { stdout } = await ctl('list_queues', '-p', vhost, 'name', '--quiet');
      assert.match(stdout, /tlsjobs/, 'the queue lives in the test vhost');
    });

    test('amqp credentials - a wrong password is an unauthorized error that does not show it', async () => {
      const wrong = `wrong-${randomBytes(6).toString('hex')}`;
      const t = transport({ credentials: { user, password: wrong }, vhost });
      const err = await refusal(t);
      assertUnauthorized(err, [wrong, password], /ACCESS-REFUSED/);
      await assert.rejects(t.ready, { code: 'unauthorized' });
    });

    test('amqp credentials - amqps options reach amqplib: a TLS handshake with a plain port is refused', async () => {
      const t = transport({
        url: `amqps://${PLAIN_HOST}`,
        credentials: { user, password },
        vhost,
        tls: { ca: certs.read(certs.caCert) },
      });
      const err = await refusal(t);
      assertUnauthorized(err, [password], /does not speak TLS/);
    });

    test('amqp credentials - TLS options need an amqps:// url', () => {
      assert.throws(
        () => createAmqpTransport({ url: AMQP_URL, tls: { ca: certs.read(certs.caCert) } }),
        { code: 'config_invalid' },
      );
    });
  });
}
