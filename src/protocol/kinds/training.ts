// training.batch: one batch of examples for a trainer, carried inline or, when large, as a
// reference to a blob holding the examples (docs/protocol.md, "training.batch"); params.chunk:
// one part of a large transfer (model parameters, adapters, any oversized frame). A params.chunk
// body is the raw bytes of the part; what part it is travels in the envelope's `chunk` field.
import { Type, type Static } from '@sinclair/typebox';
import { BLOB_NAME_RE, BLOB_VERSION_RE, SHA256_SUM_RE } from '../blob.js';

export const TrainingExampleSchema = Type.Object({
  input: Type.Unknown(),
  target: Type.Optional(Type.Unknown()),
  weight: Type.Optional(Type.Number({ minimum: 0 })),
});
export type TrainingExample = Static<typeof TrainingExampleSchema>;

/** Where the examples of a large batch are: a blob of their JSON array, and its sum and size. */
export const TrainingBatchRefSchema = Type.Object(
  {
    blob: Type.String({ pattern: BLOB_NAME_RE.source }),
    version: Type.String({ pattern: BLOB_VERSION_RE.source }),
    sum: Type.String({ pattern: SHA256_SUM_RE.source }),
    size: Type.Integer({ minimum: 1 }),
    /** Examples in the blob. */
    count: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type TrainingBatchRef = Static<typeof TrainingBatchRefSchema>;

const batchHead = {
  run: Type.String({ minLength: 1, maxLength: 256 }),
  step: Type.Integer({ minimum: 0 }),
  epoch: Type.Optional(Type.Integer({ minimum: 0 })),
};

export const TrainingBatchInlineSchema = Type.Object({
  ...batchHead,
  examples: Type.Array(TrainingExampleSchema, { minItems: 1 }),
  ref: Type.Optional(Type.Never()),
});

export const TrainingBatchByRefSchema = Type.Object({
  ...batchHead,
  ref: TrainingBatchRefSchema,
  examples: Type.Optional(Type.Never()),
});

export const TrainingBatchSchema = Type.Union([
  TrainingBatchInlineSchema,
  TrainingBatchByRefSchema,
]);
export type TrainingBatch = Static<typeof TrainingBatchSchema>;

export const ParamsChunkSchema = Type.Uint8Array();
