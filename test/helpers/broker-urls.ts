// Where the shared brokers are, for tests and benchmarks alike: the LLMWIRE_*_URL variables, or
// the local defaults (scripts/ensure-brokers.sh starts brokers there).
export const BROKER_URLS = {
  nats: process.env['LLMWIRE_NATS_URL'] ?? 'nats://127.0.0.1:4222',
  redis: process.env['LLMWIRE_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  amqp: process.env['LLMWIRE_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672',
} as const;
export type BrokerName = keyof typeof BROKER_URLS;
export const NATS_URL = BROKER_URLS.nats;
export const REDIS_URL = BROKER_URLS.redis;
export const AMQP_URL = BROKER_URLS.amqp;
