// Parameter sync between trainers over the bus (docs/dataplane.md, "Parameter sync"):
// not an all-reduce, which is a job for a collective library, but what a bus does well. A
// coordinator broadcasts a versioned parameter snapshot as a blob and announces it; each trainer
// fetches the snapshot (verified part by part), computes its update on its own data, and sends
// it back as a blob named in a durable queue; the coordinator collects one update per trainer
// for that version, averages them into the next version and broadcasts that.
//
// Parameters here are a Float32Array; a real trainer would send a tensor file or an adapter.
import type { Bus } from '../src/bus/index.js';

/** What the coordinator announces on `params.<job>.version`. */
export interface SnapshotAnnounce {
  readonly version: number;
  readonly blob: string;
  readonly blobVersion: string;
  readonly sum: string;
}

/** What a trainer sends on the queue `params-<job>-updates`. */
export interface UpdateNote {
  readonly version: number;
  readonly trainer: string;
  readonly blob: string;
  readonly blobVersion: string;
  readonly sum: string;
}

/** The `event` body both messages travel in. */
interface Event<T> {
  readonly type: string;
  readonly data: T;
}

export const snapshotSubject = (job: string) => `params.${job}.version`;
export const updatesQueue = (job: string) => `params-${job}-updates`;
const snapshotBlob = (job: string) => `params/${job}`;
const updateBlob = (job: string, version: number, trainer: string) =>
  `params/${job}/updates/v${version}/${trainer}`;

const toBytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const fromBytes = (b: Uint8Array) =>
  new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

/** Writes version `version` of the parameters as a blob and announces it. */
export async function broadcastSnapshot(
  bus: Bus,
  job: string,
  version: number,
  params: Float32Array,
): Promise<SnapshotAnnounce> {
  const m = await bus.blobs.put(snapshotBlob(job), toBytes(params), {
    version: `v${version}`,
    contentType: 'application/x-float32',
    meta: { job, version: String(version) },
  });
  const announce = { version, blob: m.name, blobVersion: m.version, sum: m.sum };
  bus.publish(snapshotSubject(job), { type: 'params.snapshot', data: announce }, { kind: 'event' });
  return announce;
}

export interface CoordinatorOptions {
  job: string;
  /** The trainers whose updates make a version complete. */
  trainers: readonly string[];
  /** Versions to publish after the first. */
  rounds: number;
  initial: Float32Array;
  signal?: AbortSignal;
}

/**
 * Broadcasts version 0, then for each round collects one update per trainer for the current
 * version (late or repeated updates are dropped), averages them into the next version and
 * broadcasts it. Resolves with the parameters of the last version.
 */
export async function runCoordinator(bus: Bus, options: CoordinatorOptions): Promise<Float32Array> {
  const { job, trainers } = options;
  let params = options.initial;
  let version = 0;
  await broadcastSnapshot(bus, job, version, params);
  const queue = bus.queue<Event<UpdateNote>>(updatesQueue(job));
  let updates = new Map<string, Float32Array>();
  const it = queue.deliveries(options.signal === undefined ? {} : { signal: options.signal });
  for await (const d of it) {
    const note = (d.envelope.body as Event<UpdateNote>).data;
    if (note.version === version && trainers.includes(note.trainer) && !updates.has(note.trainer)) {
      const bytes = await bus.blobs.get(note.blob, { version: note.blobVersion });
      const m = await bus.blobs.stat(note.blob, { version: note.blobVersion });
      if (m.sum === note.sum) updates.set(note.trainer, fromBytes(bytes));
    }
    await d.ack();
    if (updates.size < trainers.length) continue;
    const next = new Float32Array(params.length);
    for (let i = 0; i < params.length; i++) {
      let sum = 0;
      for (const u of updates.values()) sum += u[i]!;
      next[i] = params[i]! + sum / updates.size;
    }
    params = next;
    version++;
    updates = new Map();
    await broadcastSnapshot(bus, job, version, params);
    if (version >= options.rounds) break;
  }
  return params;
}

export interface TrainerOptions {
  job: string;
  id: string;
  /** The trainer's update for a snapshot (its gradient step on its own data). */
  computeUpdate(params: Float32Array, version: number): Float32Array | Promise<Float32Array>;
  /** Stop after sending the update for this version. */
  lastVersion: number;
  signal?: AbortSignal;
}

/**
 * Follows the coordinator's versions: starts from the newest snapshot stored, then each one
 * announced; for each, fetches it, computes an update and sends it. Resolves with the versions
 * it sent updates for.
 */
export async function runTrainer(bus: Bus, options: TrainerOptions): Promise<number[]> {
  const { job, id } = options;
  const sent: number[] = [];
  const announced = bus.subscribe<Event<SnapshotAnnounce>>(snapshotSubject(job));
  await announced.ready;
  const queue = bus.queue<Event<UpdateNote>>(updatesQueue(job));
  const handle = async (blobVersion: string) => {
    const manifest = await bus.blobs.stat(snapshotBlob(job), { version: blobVersion });
    const version = Number(manifest.meta?.['version']);
    if (sent.includes(version) || (sent.length > 0 && version < sent.at(-1)!)) return;
    const params = fromBytes(await bus.blobs.get(snapshotBlob(job), { version: blobVersion }));
    const update = await options.computeUpdate(params, version);
    const name = updateBlob(job, version, id);
    const m = await bus.blobs.put(name, toBytes(update), { version: 'u1' });
    // The id makes a resent update (after a crash) a duplicate the queue drops.
    await queue.enqueue(
      {
        type: 'params.update',
        data: { version, trainer: id, blob: name, blobVersion: m.version, sum: m.sum },
      },
      { kind: 'event', id: `${job}-${id}-v${version}` },
    );
    sent.push(version);
  };
  try {
    // A snapshot broadcast before this trainer subscribed is read from the store.
    const latest = await bus.blobs.stat(snapshotBlob(job)).catch(() => undefined);
    if (latest !== undefined) await handle(latest.version);
    if (sent.at(-1) === options.lastVersion) return sent;
    for await (const msg of announced) {
      if (options.signal?.aborted) break;
      await handle(msg.body.data.blobVersion);
      if (sent.at(-1) === options.lastVersion) break;
    }
  } finally {
    announced.unsubscribe();
  }
  return sent;
}
