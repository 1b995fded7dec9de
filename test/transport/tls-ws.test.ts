// The standalone bus hub over TLS (wss://) and the ws client transport with a CA and a client
// certificate: messages flow; an untrusted hub and, under mutual TLS, a peer without a
// certificate are refused at the handshake with `unauthorized`, and not retried.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMemoryTransport } from '../../src/transport/memory/index.js';
import type { Transport } from '../../src/transport/transport.js';
import { createBusHub, type BusHub } from '../../src/transport/ws/index.js';
import {
  createWebSocketTransport,
  type WebSocketTransportOptions,
} from '../../src/transport/ws/client.js';
import { makeTlsFiles, type TlsFiles } from './fixtures/tls-certs.js';
import { assertUnauthorized, pubSubRoundTrip, refusal } from './tls-helpers.js';

describe('ws tls', () => {
  let certs: TlsFiles;
  let hub: BusHub;
  let mtlsHub: BusHub;
  const open: Transport[] = [];
  const local = createMemoryTransport();

  const client = (o: Partial<WebSocketTransportOptions> & { url: string }) => {
    const t = createWebSocketTransport({ onError: () => undefined, ...o });
    open.push(t);
    return t;
  };

  before(async () => {
    certs = makeTlsFiles();
    const server = { cert: certs.read(certs.serverCert), key: certs.read(certs.serverKey) };
    hub = createBusHub(local, { tls: server, onError: () => undefined });
    mtlsHub = createBusHub(local, {
      tls: { ...server, ca: certs.read(certs.caCert) },
      onError: () => undefined,
    });
    await Promise.all([hub.listening, mtlsHub.listening]);
  });

  after(async () => {
    await Promise.all(open.map((t) => t.close()));
    await hub?.close();
    await mtlsHub?.close();
    await local.close();
    certs?.[Symbol.dispose]();
  });

  test('ws tls - a hub with its own TLS server serves wss:// and a client trusting its CA joins', async () => {
    assert.match(hub.url, /^wss:\/\/127\.0\.0\.1:\d+\/v1\/bus$/);
    const t = client({ url: hub.url, tls: { ca: certs.read(certs.caCert) } });
    await pubSubRoundTrip(t, 'tls.ws.hello');
  });

  test('ws tls - a client that does not trust the hub gives up at once with unauthorized', async () => {
    const t = client({ url: hub.url, tls: { ca: certs.read(certs.otherCa) } });
    assertUnauthorized(await refusal(t), [], /not trusted/);
  });

  test('ws tls - mutual TLS: a peer with a client certificate joins, one without is refused', async () => {
    const ca = certs.read(certs.caCert);
    const good = client({
      url: mtlsHub.url,
      tls: { ca, cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) },
    });
    await pubSubRoundTrip(good, 'tls.ws.mtls');
    const bad = client({ url: mtlsHub.url, tls: { ca } });
    assertUnauthorized(await refusal(bad), [], /refused this client/);
  });

  test('ws tls - TLS options need a wss:// url, and a certificate needs its key', () => {
    const ca = certs.read(certs.caCert);
    assert.throws(() => createWebSocketTransport({ url: 'ws://127.0.0.1:1/v1/bus', tls: { ca } }), {
      code: 'config_invalid',
    });
    assert.throws(
      () =>
        createWebSocketTransport({
          url: 'wss://127.0.0.1:1/v1/bus',
          tls: { ca, cert: certs.read(certs.clientCert) },
        }),
      { code: 'config_invalid' },
    );
    assert.throws(
      () => createBusHub(local, { tls: { cert: 'not pem', key: certs.read(certs.serverKey) } }),
      { code: 'config_invalid', message: /hub\.tls\.cert: not a PEM/ },
    );
  });
});
