// Ways for a test to cut a transport off from RabbitMQ: the broker closing the connection
// itself (management HTTP API, or rabbitmqctl when the plugin is off), or a TCP proxy of the
// test's own whose sockets it can destroy and whose door it can shut for a while.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { AMQP_URL } from './amqp-harness.js';

const run = promisify(execFile);

const broker = new URL(AMQP_URL);
const brokerPort = Number(broker.port || 5672);

/** Asks the management plugin to close the named connection; false when it is not there. */
async function closeByApi(name: string): Promise<boolean> {
  const auth = Buffer.from(
    `${decodeURIComponent(broker.username || 'guest')}:${decodeURIComponent(broker.password || 'guest')}`,
  ).toString('base64');
  const api = `http://${broker.hostname}:15672/api/connections`;
  const headers = { authorization: `Basic ${auth}` };
  try {
    const res = await fetch(api, { headers, signal: AbortSignal.timeout(2000) });
    if (!res.ok) return false;
    const conns = (await res.json()) as {
      name: string;
      client_properties?: Record<string, unknown>;
    }[];
    const mine = conns.filter((c) => c.client_properties?.connection_name === name);
    for (const c of mine) {
      await fetch(`${api}/${encodeURIComponent(c.name)}`, { method: 'DELETE', headers });
    }
    return mine.length > 0;
  } catch {
    return false;
  }
}

/** Closes the named connection with rabbitmqctl; false when the tool is missing or refuses. */
async function closeByCtl(name: string): Promise<boolean> {
  try {
    const { stdout } = await run(
      'rabbitmqctl',
      ['list_connections', 'pid', 'client_properties', '-q', '--no-table-headers'],
      { timeout: 15_000 },
    );
    const pids = stdout
      .split('\n')
      .filter((line) => line.includes(name))
      .map((line) => line.split('\t')[0]!)
      .filter((pid) => pid.startsWith('<'));
    for (const pid of pids) {
      await run('rabbitmqctl', ['close_connection', pid, 'llmwire test: forced close'], {
        timeout: 15_000,
      });
    }
    return pids.length > 0;
  } catch {
    return false;
  }
}

/**
 * Has the broker close the connection named `name` (connection.close, 320 CONNECTION_FORCED).
 * Returns how, or undefined when neither the API nor rabbitmqctl can do it here.
 */
export async function brokerCloses(
  name: string,
): Promise<'management API' | 'rabbitmqctl' | undefined> {
  if (await closeByApi(name)) return 'management API';
  if (await closeByCtl(name)) return 'rabbitmqctl';
  return undefined;
}

/** A TCP proxy in front of the broker. */
export interface BrokerProxy {
  /** amqp:// URL through the proxy, with the broker's credentials and vhost. */
  readonly url: string;
  /** Destroys every open socket (both sides), as a network failure would. */
  drop(): void;
  /** Refuses new connections (closing them at once) until `open` is called. */
  shut(): void;
  open(): void;
  close(): Promise<void>;
}

export async function startProxy(): Promise<BrokerProxy> {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(brokerPort, broker.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const url = new URL(AMQP_URL);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const drop = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    url: url.href,
    drop,
    shut: () => (refusing = true),
    open: () => (refusing = false),
    close: () => {
      drop();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
