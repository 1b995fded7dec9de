// TLS and broker credentials on the command line: the config's `gateway.tls` and `broker`
// sections and the worker's --tls-* / --broker-* / --nats-* flags, read (files, environment)
// and checked at start, so a missing or bad file fails with `config_invalid` naming its field.
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError } from '../protocol/index.js';
import {
  clientTlsOptions,
  httpsServerOptions,
  type ClientTlsOptions,
  type Field,
  type ServerTlsOptions,
} from '../transport/tls.js';
import { readSecret, readSecretBytes, SecretSchema, type Secret } from './secrets.js';

export const ClientTlsSchema = Type.Object(
  {
    ca: Type.Optional(SecretSchema),
    cert: Type.Optional(SecretSchema),
    key: Type.Optional(SecretSchema),
  },
  { additionalProperties: false },
);

export const ServerTlsSchema = Type.Object(
  {
    cert: SecretSchema,
    key: SecretSchema,
    ca: Type.Optional(SecretSchema),
    requireClientCert: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** How llmwire proves itself to the broker `transport` names; each setting where it applies. */
export const BrokerSchema = Type.Object(
  {
    /** NATS, Redis (ACL user), RabbitMQ. */
    user: Type.Optional(Type.String({ minLength: 1 })),
    password: Type.Optional(SecretSchema),
    /** NATS only. */
    token: Type.Optional(SecretSchema),
    nkeySeed: Type.Optional(SecretSchema),
    credsFile: Type.Optional(Type.String({ minLength: 1 })),
    /** RabbitMQ only. */
    vhost: Type.Optional(Type.String({ minLength: 1 })),
    tls: Type.Optional(ClientTlsSchema),
  },
  { additionalProperties: false },
);

export type ServerTlsConfig = Static<typeof ServerTlsSchema>;
export type ClientTlsConfig = Static<typeof ClientTlsSchema>;
export type BrokerConfig = Static<typeof BrokerSchema>;

/** Broker credentials and TLS, read. `createTransport` hands each adapter what applies to it. */
export interface BrokerSettings {
  user?: string;
  password?: string;
  token?: string;
  nkeySeed?: string;
  creds?: Buffer;
  vhost?: string;
  tls?: ClientTlsOptions;
}

/** Reads the gateway's certificate, key and client CA, and checks they are usable together. */
export function readServerTls(config: ServerTlsConfig, field: string): ServerTlsOptions {
  const tls: ServerTlsOptions = {
    cert: readSecretBytes(config.cert, `${field}.cert`),
    key: readSecretBytes(config.key, `${field}.key`),
    ...(config.ca === undefined ? {} : { ca: readSecretBytes(config.ca, `${field}.ca`) }),
    ...(config.requireClientCert === undefined
      ? {}
      : { requireClientCert: config.requireClientCert }),
  };
  httpsServerOptions(tls, field);
  return tls;
}

export function readClientTls(config: ClientTlsConfig, field: Field): ClientTlsOptions {
  const read = (s: Secret | undefined, name: 'ca' | 'cert' | 'key') =>
    s === undefined
      ? {}
      : {
          [name]: readSecretBytes(s, typeof field === 'string' ? `${field}.${name}` : field(name)),
        };
  const tls: ClientTlsOptions = {
    ...read(config.ca, 'ca'),
    ...read(config.cert, 'cert'),
    ...read(config.key, 'key'),
  };
  clientTlsOptions(tls, field);
  return tls;
}

/** `name` says how an error names a setting: `broker.password` in the config, a flag otherwise. */
export function readBroker(
  config: BrokerConfig,
  name: (key: string) => string = (key) => `broker.${key}`,
): BrokerSettings {
  const out: BrokerSettings = {};
  if (config.user !== undefined) out.user = config.user;
  if (config.password !== undefined) out.password = readSecret(config.password, name('password'));
  if (config.token !== undefined) out.token = readSecret(config.token, name('token'));
  if (config.nkeySeed !== undefined) out.nkeySeed = readSecret(config.nkeySeed, name('nkeySeed'));
  if (config.credsFile !== undefined) {
    out.creds = readSecretBytes({ file: config.credsFile }, name('credsFile'));
  }
  if (config.vhost !== undefined) out.vhost = config.vhost;
  if (config.tls !== undefined) out.tls = readClientTls(config.tls, (k) => name(`tls.${k}`));
  return out;
}

const FLAG_OF: Record<string, string> = {
  password: '--broker-password-file',
  token: '--broker-token-file',
  nkeySeed: '--nats-nkey-file',
  credsFile: '--nats-creds',
  'tls.ca': '--tls-ca',
  'tls.cert': '--tls-cert',
  'tls.key': '--tls-key',
};

/** The flags that carry broker settings; every one also reads LLMWIRE_<FLAG> (args.ts). */
export const BROKER_OPTIONS = {
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'broker-user': { type: 'string' },
  'broker-password-file': { type: 'string' },
  'broker-token-file': { type: 'string' },
  'nats-creds': { type: 'string' },
  'nats-nkey-file': { type: 'string' },
} as const;

export const BROKER_HELP = `TLS and broker credentials (secrets from files or the environment, never as flags):
  --tls-ca FILE       CA certificate to trust for wss://, tls://, rediss://, amqps://
  --tls-cert FILE     client certificate (mutual TLS); needs --tls-key
  --tls-key FILE      the client certificate's private key
  --broker-user NAME  NATS user, Redis ACL user or RabbitMQ user
  --broker-password-file FILE  its password (or the variable LLMWIRE_BROKER_PASSWORD)
  --broker-token-file FILE     NATS token
  --nats-creds FILE   NATS .creds file (user JWT and seed)
  --nats-nkey-file FILE        NATS NKey seed (SU...)
`;

/** Broker settings from the flags (and their LLMWIRE_* variables); undefined when none is set. */
export function brokerFromFlags(
  flags: Record<string, string | boolean | undefined>,
): BrokerSettings | undefined {
  const str = (name: string) => (typeof flags[name] === 'string' ? flags[name] : undefined);
  const config: BrokerConfig = {};
  const user = str('broker-user');
  if (user !== undefined) config.user = user;
  const passwordFile = str('broker-password-file');
  const passwordEnv = process.env.LLMWIRE_BROKER_PASSWORD;
  if (passwordFile !== undefined && passwordEnv !== undefined && passwordEnv !== '') {
    throw new ConfigError(
      'give the broker password once: --broker-password-file or LLMWIRE_BROKER_PASSWORD',
    );
  }
  if (passwordFile !== undefined) config.password = { file: passwordFile };
  else if (passwordEnv !== undefined && passwordEnv !== '') {
    config.password = { env: 'LLMWIRE_BROKER_PASSWORD' };
  }
  const tokenFile = str('broker-token-file');
  if (tokenFile !== undefined) config.token = { file: tokenFile };
  const nkey = str('nats-nkey-file');
  if (nkey !== undefined) config.nkeySeed = { file: nkey };
  const creds = str('nats-creds');
  if (creds !== undefined) config.credsFile = creds;
  const tls: ClientTlsConfig = {};
  for (const name of ['ca', 'cert', 'key'] as const) {
    const file = str(`tls-${name}`);
    if (file !== undefined) tls[name] = { file };
  }
  if (Object.keys(tls).length > 0) config.tls = tls;
  if (Object.keys(config).length === 0) return undefined;
  return readBroker(config, (key) => FLAG_OF[key] ?? key);
}

/** Throws unless every setting given is one the transport `scheme` takes. */
export function checkBrokerFits(
  broker: BrokerSettings,
  scheme: string,
  allowed: readonly (keyof BrokerSettings)[],
): void {
  const extra = (Object.keys(broker) as (keyof BrokerSettings)[]).filter(
    (k) => broker[k] !== undefined && !allowed.includes(k),
  );
  if (extra.length > 0) {
    throw new ConfigError(
      `broker setting${extra.length > 1 ? 's' : ''} ${extra.join(', ')} do${extra.length > 1 ? '' : 'es'} not apply to ${scheme} transports (they take ${allowed.join(', ')})`,
    );
  }
}
