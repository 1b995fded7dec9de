// heartbeat, metric, event, error: what components say about themselves and about failures.
import { Type, type Static } from '@sinclair/typebox';
import { HeldParamsSchema } from '../params.js';

export const HeartbeatSchema = Type.Object({
  worker: Type.String({ minLength: 1, maxLength: 256 }),
  status: Type.Union([Type.Literal('ready'), Type.Literal('draining'), Type.Literal('stopped')]),
  models: Type.Array(Type.String({ minLength: 1 })),
  capacity: Type.Integer({ minimum: 0 }),
  inflight: Type.Integer({ minimum: 0 }),
  /** Hashes of the prompt-prefix blocks the worker holds in cache (hex). */
  prefixHashes: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 65_536 })),
  intervalMs: Type.Optional(Type.Integer({ minimum: 1 })),
  address: Type.Optional(Type.String()),
  /** The request kinds the worker answers: `chat` (inference.request), `embeddings`. Absent: both. */
  serves: Type.Optional(
    Type.Array(Type.Union([Type.Literal('chat'), Type.Literal('embeddings')]), { maxItems: 2 }),
  ),
  /** The parameter and adapter versions the worker holds (docs/protocol.md, "Params"). */
  params: Type.Optional(Type.Array(HeldParamsSchema, { maxItems: 1024 })),
});
export type Heartbeat = Static<typeof HeartbeatSchema>;

export const MetricSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256, pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$' }),
  value: Type.Number(),
  type: Type.Optional(
    Type.Union([Type.Literal('counter'), Type.Literal('gauge'), Type.Literal('histogram')]),
  ),
  unit: Type.Optional(Type.String()),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
});
export type Metric = Static<typeof MetricSchema>;

export const EventSchema = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 256 }),
  data: Type.Optional(Type.Unknown()),
});
export type Event = Static<typeof EventSchema>;

export const ErrorBodySchema = Type.Object({
  /** Any code: a newer peer may send codes this version does not know (read as `internal`). */
  code: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9_]*$' }),
  message: Type.String({ maxLength: 4096 }),
  retryable: Type.Boolean(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
