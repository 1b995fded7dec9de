// TLS settings shared by the servers (gateway, bus hub) and the clients (ws, brokers): PEM
// material already read into memory, checked once by Node's own parser so a bad certificate
// fails at start naming its field rather than at the first handshake.
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { ServerOptions } from 'node:https';
import { ConfigError } from '../protocol/index.js';

export type Pem = string | Buffer;

/** A client's TLS: the CA that signs the server's certificate, and a certificate of its own. */
export interface ClientTlsOptions {
  /** CA certificate(s) to trust instead of the system's. */
  ca?: Pem;
  /** Client certificate chain, for servers that verify clients (mutual TLS). Needs `key`. */
  cert?: Pem;
  key?: Pem;
}

/** A server's TLS: its certificate and key, and the CA its clients' certificates must chain to. */
export interface ServerTlsOptions {
  cert: Pem;
  key: Pem;
  /** Clients must present a certificate signed by this CA (mutual TLS). */
  ca?: Pem;
  /**
   * With `ca`: refuse, at the handshake, a client without a valid certificate. Default true;
   * false asks for one but lets clients without one in.
   */
  requireClientCert?: boolean;
}

/** Options for `https.createServer`, after checking that the PEM parses and cert matches key. */
export function httpsServerOptions(tls: ServerTlsOptions, field: Field = 'tls'): ServerOptions {
  checkPem(tls, field);
  if (tls.ca === undefined) return { cert: tls.cert, key: tls.key };
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca,
    requestCert: true,
    rejectUnauthorized: tls.requireClientCert ?? true,
  };
}

/** Checks a client's TLS material; returns it as Node's `tls.connect` options. */
export function clientTlsOptions(
  tls: ClientTlsOptions,
  field: Field = 'tls',
): SecureContextOptions {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new ConfigError(
      `${nameOf(field, 'cert')}, ${nameOf(field, 'key')}: a client certificate needs both`,
    );
  }
  checkPem(tls, field);
  return {
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
  };
}

/** How errors name a setting: `prefix.ca`, or whatever the function says (a flag's name). */
export type Field = string | ((name: 'ca' | 'cert' | 'key') => string);

function nameOf(field: Field, name: 'ca' | 'cert' | 'key'): string {
  return typeof field === 'string' ? `${field}.${name}` : field(name);
}

/**
 * Parses each PEM on its own so the error names the field, then together, which checks that
 * the key belongs to the certificate. OpenSSL's message says what is wrong, never the bytes.
 */
function checkPem(tls: ClientTlsOptions, field: Field): void {
  for (const name of ['ca', 'cert', 'key'] as const) {
    const pem = tls[name];
    if (pem === undefined) continue;
    if (!pem.toString().includes('-----BEGIN ')) {
      throw new ConfigError(`${nameOf(field, name)}: not a PEM file (no -----BEGIN line)`);
    }
    try {
      if (name === 'ca') createSecureContext({ ca: pem });
      else if (name === 'cert') createSecureContext({ cert: pem });
      else createSecureContext({ key: pem });
    } catch (cause) {
      throw new ConfigError(`${nameOf(field, name)}: unusable PEM: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
  if (tls.cert !== undefined && tls.key !== undefined) {
    try {
      createSecureContext({ cert: tls.cert, key: tls.key });
    } catch (cause) {
      throw new ConfigError(
        `${nameOf(field, 'key')}: does not belong to ${nameOf(field, 'cert')}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
}

/** Node's codes for a server certificate the client does not accept (X509_V_ERR_*, RFC 5280). */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
/** OpenSSL's codes when the other end does not speak TLS at all. */
const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);

/**
 * What went wrong, when `err` (or an error in its cause chain) is a failed TLS handshake that
 * trying again will not fix; undefined otherwise. Read from the error codes Node and OpenSSL
 * set, never from message text.
 */
export function tlsFailure(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (UNTRUSTED.has(code)) {
      return `the server's certificate is not trusted (${code}); give the CA that signed it`;
    }
    if (NOT_TLS.has(code)) return `the server does not speak TLS (${code})`;
    // A TLS alert from the server: it refused this client (no certificate, an unknown CA...).
    if (code.startsWith('ERR_SSL_') && code.includes('_ALERT_')) {
      return `the server refused this client's TLS handshake (${code}); check the client certificate`;
    }
  }
  return undefined;
}
