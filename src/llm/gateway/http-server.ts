// The gateway's node:http server with limits on slow and idle clients. Node's own defaults
// (headers 60 s, whole request 300 s, checked every 30 s, no connection cap) let a few hundred
// sockets that trickle a byte now and then hold the server for minutes (slowloris).
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import { Type } from '@sinclair/typebox';
import { ConfigError, optionsCheck } from '../../protocol/index.js';

export interface HttpServerOptions {
  /** Time to receive a request's headers. Default 10 s. */
  headersTimeoutMs?: number;
  /**
   * Time to receive a whole request, headers and body. Node stops counting once the request is
   * in, so a response that streams longer (SSE) is not cut. Default 30 s.
   */
  requestTimeoutMs?: number;
  /** A keep-alive connection with no request in flight is closed after this. Default 65 s. */
  idleTimeoutMs?: number;
  /** Open connections (WebSocket bus peers included); past it new ones are closed at once. Default 10,000. */
  maxConnections?: number;
}

export const HTTP_DEFAULTS: Required<HttpServerOptions> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 65_000,
  maxConnections: 10_000,
};

const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }));

/** Checked in the gateway options' shape, so errors name `http.<field>`. */
const checkOptions = optionsCheck(
  'gateway',
  Type.Object({
    http: Type.Object(
      {
        headersTimeoutMs: Limit,
        requestTimeoutMs: Limit,
        idleTimeoutMs: Limit,
        maxConnections: Limit,
      },
      { additionalProperties: false },
    ),
  }),
);

export function createHttpServer(
  listener: RequestListener,
  options: HttpServerOptions | undefined,
  /** Serve HTTPS with these (certificate, key, client CA). */
  tls?: HttpsOptions,
): Server {
  checkOptions({ http: options ?? {} });
  const o = { ...HTTP_DEFAULTS, ...options };
  if (o.headersTimeoutMs > o.requestTimeoutMs) {
    throw new ConfigError(
      `gateway: 'http.headersTimeoutMs' (${o.headersTimeoutMs}) must not exceed 'http.requestTimeoutMs' (${o.requestTimeoutMs})`,
    );
  }
  const limits = {
    headersTimeout: o.headersTimeoutMs,
    requestTimeout: o.requestTimeoutMs,
    // How often Node looks for expired requests (default 30 s): a late cut is a held socket.
    connectionsCheckingInterval: Math.min(1_000, o.headersTimeoutMs),
  };
  const server: Server =
    tls === undefined
      ? createServer(limits, listener)
      : createHttpsServer({ ...tls, ...limits }, listener);
  server.keepAliveTimeout = o.idleTimeoutMs;
  server.maxConnections = o.maxConnections;
  return server;
}
