// training.batch: one batch of examples for a trainer; params.chunk: one part of a large
// transfer (model parameters, adapters, any oversized frame). A params.chunk body is the raw
// bytes of the part; what part it is travels in the envelope's `chunk` field.
import { Type, type Static } from '@sinclair/typebox';

export const TrainingBatchSchema = Type.Object({
  run: Type.String({ minLength: 1, maxLength: 256 }),
  step: Type.Integer({ minimum: 0 }),
  epoch: Type.Optional(Type.Integer({ minimum: 0 })),
  examples: Type.Array(
    Type.Object({
      input: Type.Unknown(),
      target: Type.Optional(Type.Unknown()),
      weight: Type.Optional(Type.Number({ minimum: 0 })),
    }),
    { minItems: 1 },
  ),
});
export type TrainingBatch = Static<typeof TrainingBatchSchema>;

export const ParamsChunkSchema = Type.Uint8Array();
