// embedding.request / .result: the OpenAI embeddings API.
import { Type, type Static } from '@sinclair/typebox';

export const EmbeddingRequestSchema = Type.Object({
  model: Type.String({ minLength: 1, maxLength: 256 }),
  input: Type.Union([
    Type.String(),
    Type.Array(Type.String(), { minItems: 1 }),
    Type.Array(Type.Integer(), { minItems: 1 }),
    Type.Array(Type.Array(Type.Integer()), { minItems: 1 }),
  ]),
  encoding_format: Type.Optional(Type.Union([Type.Literal('float'), Type.Literal('base64')])),
  dimensions: Type.Optional(Type.Integer({ minimum: 1 })),
  user: Type.Optional(Type.String()),
});
export type EmbeddingRequest = Static<typeof EmbeddingRequestSchema>;

export const EmbeddingResultSchema = Type.Object({
  model: Type.String({ minLength: 1 }),
  data: Type.Array(
    Type.Object({
      index: Type.Integer({ minimum: 0 }),
      embedding: Type.Union([Type.Array(Type.Number()), Type.String()]),
    }),
  ),
  usage: Type.Object({
    prompt_tokens: Type.Integer({ minimum: 0 }),
    total_tokens: Type.Integer({ minimum: 0 }),
  }),
});
export type EmbeddingResult = Static<typeof EmbeddingResultSchema>;
