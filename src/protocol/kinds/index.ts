// The registry of message kinds: kind name -> body schema and its compiled check.
import type { TSchema, Static } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { InvalidMessageError, UnknownKindError } from '../errors.js';
import type { Envelope } from '../envelope.js';
import { ControlCancelSchema, ControlCreditSchema } from './control.js';
import { EmbeddingRequestSchema, EmbeddingResultSchema } from './embedding.js';
import {
  InferenceChunkSchema,
  InferenceRequestSchema,
  InferenceResultSchema,
} from './inference.js';
import { ErrorBodySchema, EventSchema, HeartbeatSchema, MetricSchema } from './telemetry.js';
import { ParamsChunkSchema, TrainingBatchSchema } from './training.js';

export const KIND_SCHEMAS = {
  'inference.request': InferenceRequestSchema,
  'inference.chunk': InferenceChunkSchema,
  'inference.result': InferenceResultSchema,
  'embedding.request': EmbeddingRequestSchema,
  'embedding.result': EmbeddingResultSchema,
  'training.batch': TrainingBatchSchema,
  'params.chunk': ParamsChunkSchema,
  'control.cancel': ControlCancelSchema,
  'control.credit': ControlCreditSchema,
  heartbeat: HeartbeatSchema,
  metric: MetricSchema,
  event: EventSchema,
  error: ErrorBodySchema,
} as const satisfies Record<string, TSchema>;

export type Kind = keyof typeof KIND_SCHEMAS;
export type BodyOf<K extends Kind> = Static<(typeof KIND_SCHEMAS)[K]>;

export const KINDS = Object.keys(KIND_SCHEMAS) as Kind[];

const checks = new Map<string, TypeCheck<TSchema>>();
for (const kind of KINDS) checks.set(kind, TypeCompiler.Compile(KIND_SCHEMAS[kind]));

export function isKnownKind(kind: string): kind is Kind {
  return checks.has(kind);
}

/**
 * Checks a body against its kind's schema. Throws UnknownKindError for a kind this version does
 * not know and InvalidMessageError naming the first wrong field otherwise.
 */
export function validateBody<K extends Kind>(env: Envelope): asserts env is Envelope<BodyOf<K>> {
  const check = checks.get(env.kind);
  if (check === undefined) {
    throw new UnknownKindError(`unknown message kind '${env.kind}'`, {
      details: { kind: env.kind },
    });
  }
  if (env.items !== undefined) {
    // A coalesced message: the body is the array of its items' bodies (docs/protocol.md).
    const items: unknown = env.body;
    if (!Array.isArray(items) || items.length !== env.items) {
      throw new InvalidMessageError(
        `invalid ${env.kind} body at /: a message with items=${env.items} carries an array of that many item bodies`,
        { details: { kind: env.kind, path: '/' } },
      );
    }
    items.forEach((item: unknown, i) => checkBody(env.kind, check, item, `/${i}`));
    return;
  }
  checkBody(env.kind, check, env.body, '');
}

function checkBody(
  kind: string,
  check: NonNullable<ReturnType<typeof checks.get>>,
  body: unknown,
  at: string,
): void {
  if (!check.Check(body)) {
    const first = check.Errors(body).First();
    const path = `${at}${first?.path ?? ''}` || '/';
    throw new InvalidMessageError(
      `invalid ${kind} body at ${path}: ${first?.message ?? 'does not match schema'}`,
      { details: { kind, path } },
    );
  }
}

export * from './control.js';
export * from './embedding.js';
export * from './inference.js';
export * from './telemetry.js';
export * from './training.js';
