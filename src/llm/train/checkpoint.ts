// A shard's checkpoint: the last step of each run a trainer committed on that shard, and the
// trainer's own state saved with it (docs/protocol.md, "Training feeds"). Stored as UTF-8 JSON
// in a record store; the feed skips every batch at or below it.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { InvalidMessageError } from '../../protocol/index.js';

export const FeedCheckpointSchema = Type.Object(
  {
    /** Record format version; 1 here. */
    v: Type.Literal(1),
    feed: Type.String(),
    shard: Type.Integer({ minimum: 0 }),
    /** The last step committed, per run. */
    steps: Type.Record(Type.String({ minLength: 1, maxLength: 256 }), Type.Integer({ minimum: 0 })),
    /** What the trainer saved with its last commit (JSON), if anything. */
    state: Type.Optional(Type.Unknown()),
    /** Who wrote it: the trainer's id, or `operator` for a checkpoint set by hand. */
    by: Type.String(),
    /** When, ms since the epoch. */
    at: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type FeedCheckpoint = Static<typeof FeedCheckpointSchema>;

const check = TypeCompiler.Compile(FeedCheckpointSchema);

export function encodeCheckpoint(checkpoint: FeedCheckpoint): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(checkpoint));
}

/** Reads a stored checkpoint; one no writer could have made is `invalid_message`. */
export function decodeCheckpoint(bytes: Uint8Array, key: string): FeedCheckpoint {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new InvalidMessageError(`the checkpoint record '${key}' is not JSON`, { cause: err });
  }
  if (!check.Check(value)) {
    const first = check.Errors(value).First();
    throw new InvalidMessageError(
      `the checkpoint record '${key}' is not valid at ${first?.path || '/'}: ${first?.message ?? ''}`,
    );
  }
  return value;
}

/** True when the checkpoint already covers step `step` of run `run`. */
export function covers(checkpoint: FeedCheckpoint | undefined, run: string, step: number): boolean {
  const last = checkpoint?.steps[run];
  return last !== undefined && step <= last;
}
