// Batches sent by blob reference: the trainer reads the blob (every part and the whole checked
// by `bus.blobs`), and checks it is the blob the batch names (size and sum) and holds the
// examples it names; anything else is refused for good.
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import {
  ChunkCorruptError,
  InvalidMessageError,
  PayloadTooLargeError,
  TrainingExampleSchema,
  type TrainingBatchRef,
  type TrainingExample,
  type WireError,
} from '../../protocol/index.js';
import type { FeedContext } from './context.js';

/** A batch the feed refuses for good (dead-lettered at once, reported). */
export class Refused extends Error {
  override name = 'Refused';
  constructor(readonly error: WireError) {
    super(error.message, { cause: error });
  }
}

const examplesCheck = TypeCompiler.Compile(Type.Array(TrainingExampleSchema, { minItems: 1 }));

/** Reads a batch's examples from its blob, checked against the reference and the schema. */
export async function fetchExamples(
  ctx: FeedContext,
  ref: TrainingBatchRef,
): Promise<TrainingExample[]> {
  const where = `${ref.blob}@${ref.version}`;
  if (ref.size > ctx.maxBatchBytes) {
    throw new Refused(
      new PayloadTooLargeError(
        `batch blob ${where} is ${ref.size} bytes, more than the feed's maxBatchBytes ${ctx.maxBatchBytes}`,
      ),
    );
  }
  const reader = await ctx.bus.blobs.open(ref.blob, { version: ref.version });
  const m = reader.manifest;
  if (m.sum !== ref.sum || m.size !== ref.size) {
    throw new Refused(
      new ChunkCorruptError(
        `batch blob ${where} is not the one referenced: it holds ${m.size} bytes with sum ${m.sum}, the batch names ${ref.size} bytes with sum ${ref.sum}`,
        { details: { blob: ref.blob, version: ref.version } },
      ),
    );
  }
  const bytes = Buffer.allocUnsafe(m.size);
  let at = 0;
  for await (const part of reader) {
    bytes.set(part, at);
    at += part.byteLength;
  }
  let examples: unknown;
  try {
    examples = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new Refused(new InvalidMessageError(`batch blob ${where} is not JSON`, { cause: err }));
  }
  if (!examplesCheck.Check(examples) || examples.length !== ref.count) {
    throw new Refused(
      new InvalidMessageError(
        `batch blob ${where} does not hold the ${ref.count} examples the batch names`,
      ),
    );
  }
  return examples;
}
