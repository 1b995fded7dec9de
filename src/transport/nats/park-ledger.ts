// Deliveries that were not attempts. A follower parked behind its key (key-gate.ts) and given
// back when its transport closes comes round again with JetStream's delivery count one higher,
// though no handler saw it. Those give-backs are written here, in a small KV bucket per queue
// keyed by work-stream sequence, and subtracted when the message is delivered again. The same
// bucket keeps the last error a message was nacked with (key `err.<seq>`), which JetStream's
// redelivery does not carry, so its dead letter can show it (queue-contract.ts `lastError`).
import { JetStreamApiError, StorageType } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { WireErrorBody } from '../../protocol/index.js';
import type { NatsContext } from './context.js';

/** Records outlive any lease; the bucket forgets them after a day. */
const RECORD_TTL_MS = 24 * 60 * 60 * 1000;
const STREAM_NOT_FOUND = 10059;

export class ParkLedger {
  private kv: KV | undefined;

  constructor(
    private readonly ctx: NatsContext,
    /** KV bucket name (its stream is `KV_<bucket>`). */
    private readonly bucket: string,
  ) {}

  /** How many deliveries of the message at `seq` were give-backs, not attempts. */
  async returned(seq: number): Promise<number> {
    const kv = await this.open(false);
    if (kv === undefined) return 0;
    const entry = await kv.get(String(seq));
    if (entry === null || entry.operation !== 'PUT') return 0;
    const n = Number(entry.string());
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  }

  /** Notes one more give-back for each message. */
  async record(items: readonly { seq: number; returned: number }[]): Promise<void> {
    if (items.length === 0) return;
    const kv = (await this.open(true))!;
    await Promise.all(items.map((i) => kv.put(String(i.seq), String(i.returned + 1))));
  }

  /** The last error the message at `seq` was nacked with, if any. */
  async lastError(seq: number): Promise<WireErrorBody | undefined> {
    const kv = await this.open(false);
    if (kv === undefined) return undefined;
    const entry = await kv.get(`err.${seq}`);
    if (entry === null || entry.operation !== 'PUT') return undefined;
    try {
      return entry.json<WireErrorBody>();
    } catch {
      return undefined; // a damaged record: the dead letter goes without it
    }
  }

  /** Keeps the error the message at `seq` was nacked with, for its dead letter. */
  async noteError(seq: number, error: WireErrorBody): Promise<void> {
    const kv = (await this.open(true))!;
    await kv.put(`err.${seq}`, JSON.stringify(error));
  }

  private async open(create: boolean): Promise<KV | undefined> {
    if (this.kv !== undefined) return this.kv;
    const kvm = new Kvm(this.ctx.js);
    if (create) {
      this.kv = await kvm.create(this.bucket, {
        history: 1,
        ttl: RECORD_TTL_MS,
        replicas: this.ctx.setup.replicas,
        storage: this.ctx.setup.storage === 'memory' ? StorageType.Memory : StorageType.File,
      });
      return this.kv;
    }
    try {
      await this.ctx.jsm.streams.info(`KV_${this.bucket}`);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND) return undefined;
      throw err;
    }
    this.kv = await kvm.open(this.bucket);
    return this.kv;
  }
}
