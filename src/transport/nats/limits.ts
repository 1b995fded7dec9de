// Limit stores of the NATS transport (transport/limits.ts): one JetStream KV bucket per store,
// `<prefix>_LIM_<store>` (stream `KV_<prefix>_LIM_<store>`), one entry per key holding its
// buckets as JSON. A change reads the entry and writes it back only if its revision is still
// the last (compare-and-set); a writer that lost the race reads again. Within one process the
// changes to a key queue behind the write in flight and go in the next one together. The time is this
// process's clock; a bucket never refills backwards, so a gateway whose clock is behind only
// sees less refill. Entries expire (bucket max age) well after they would be full again.
import { JetStreamApiError, StorageType, jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { PermissionViolationError } from '@nats-io/transport-node';
import { ForbiddenError, UnavailableError } from '../../protocol/index.js';
import {
  checkBuckets,
  LIMIT_IDLE_MS,
  stepBuckets,
  type BucketState,
  type LimitBucket,
  type LimitStore,
  type LimitTake,
} from '../limits.js';
import { brokerError, type NatsContext } from './context.js';
import { limitBucket } from './names.js';

/** JetStream API codes of a write whose expected last sequence was not the last. */
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);
/** Writers racing on one key retry this often before the step fails as unavailable. */
const MAX_RACES = 50;
/** Entries are forgotten this long after their last write (a full bucket by then). */
const ENTRY_MAX_AGE_MS = 2 * LIMIT_IDLE_MS;

function limitError(err: unknown, what: string): Error {
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (err instanceof PermissionViolationError || cause instanceof PermissionViolationError) {
    return new ForbiddenError(`NATS user may not ${what}`, { cause: err });
  }
  return brokerError(err, what);
}

function lostRace(err: unknown): boolean {
  return err instanceof JetStreamApiError && WRONG_LAST_SEQUENCE.has(err.code);
}

type Stored = Record<string, BucketState>;

interface Step {
  readonly mode: 'take' | 'adjust';
  readonly buckets: readonly LimitBucket[];
  readonly resolve: (take: LimitTake) => void;
  readonly reject: (err: unknown) => void;
}

function parse(value: Uint8Array | undefined): Stored {
  if (value === undefined || value.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(value));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Stored) : {};
  } catch {
    return {}; // an entry nobody can read is a full bucket, as an absent one
  }
}

function state(stored: Stored, name: string): BucketState | undefined {
  const s = stored[name];
  return s !== undefined && Number.isFinite(s.l) && Number.isFinite(s.a) ? s : undefined;
}

export class NatsLimits implements LimitStore {
  private readonly bucket: string;
  private opening: Promise<KV> | undefined;
  /** Steps waiting for their key's write in flight, by key. */
  private readonly lanes = new Map<string, Step[]>();

  constructor(
    private readonly ctx: NatsContext,
    readonly name: string,
  ) {
    this.bucket = limitBucket(ctx.prefix, name);
  }

  take(key: string, buckets: readonly LimitBucket[]): Promise<LimitTake> {
    return this.step('take', key, buckets);
  }

  async adjust(key: string, buckets: readonly LimitBucket[]): Promise<void> {
    await this.step('adjust', key, buckets);
  }

  /**
   * Queues the step on its key's lane. One write per key is in flight from this process at a
   * time, and the steps queued behind it go together in the next write: this process never
   * races itself for a key, and a busy key costs a read and a write per batch, not per step.
   */
  private step(
    mode: Step['mode'],
    key: string,
    buckets: readonly LimitBucket[],
  ): Promise<LimitTake> {
    checkBuckets(buckets);
    return new Promise<LimitTake>((resolve, reject) => {
      const op: Step = { mode, buckets, resolve, reject };
      const lane = this.lanes.get(key);
      if (lane !== undefined) {
        lane.push(op);
        return;
      }
      const fresh = [op];
      this.lanes.set(key, fresh);
      void this.drain(key, fresh);
    });
  }

  private async drain(key: string, lane: Step[]): Promise<void> {
    while (lane.length > 0) {
      const batch = lane.splice(0);
      try {
        const answers = await this.apply(key, batch);
        batch.forEach((op, i) => op.resolve(answers[i]!));
      } catch (err) {
        for (const op of batch) op.reject(err);
      }
    }
    this.lanes.delete(key);
  }

  /** Runs a batch of steps on one key in order, in one compare-and-set write. */
  private async apply(key: string, batch: readonly Step[]): Promise<LimitTake[]> {
    const kv = await this.kv();
    for (let race = 0; race < MAX_RACES; race++) {
      let entry;
      try {
        entry = await kv.get(key);
      } catch (err) {
        throw limitError(err, `read limit store '${this.name}'`);
      }
      const stored: Stored = entry !== null && entry.operation === 'PUT' ? parse(entry.value) : {};
      const now = Date.now();
      let changed = false;
      const answers = batch.map((op) => {
        const { states, take } = stepBuckets(
          op.buckets.map((b) => state(stored, b.name)),
          op.buckets,
          op.mode,
          now,
        );
        // A refused take changes nothing worth a write: the refill is recomputed next time.
        if (take.waitMs === 0) {
          op.buckets.forEach((b, i) => (stored[b.name] = states[i]!));
          changed = true;
        }
        return take;
      });
      if (!changed) return answers;
      const value = new TextEncoder().encode(JSON.stringify(stored));
      try {
        if (entry === null) await kv.create(key, value);
        else await kv.update(key, value, entry.revision);
        return answers;
      } catch (err) {
        if (!lostRace(err)) throw limitError(err, `write limit store '${this.name}'`);
      }
    }
    throw new UnavailableError(`limit store '${this.name}': too many writers racing on one key`);
  }

  private kv(): Promise<KV> {
    this.opening ??= this.open().catch((err: unknown) => {
      this.opening = undefined; // the next call tries again
      throw limitError(err, `open limit store '${this.name}'`);
    });
    return this.opening;
  }

  private async open(): Promise<KV> {
    const js = jetstream(this.ctx.nc, { timeout: this.ctx.requestTimeoutMs, checkAPI: false });
    return new Kvm(js).create(this.bucket, {
      history: 1,
      ttl: ENTRY_MAX_AGE_MS,
      replicas: this.ctx.setup.replicas,
      storage: this.ctx.setup.storage === 'memory' ? StorageType.Memory : StorageType.File,
    });
  }
}
