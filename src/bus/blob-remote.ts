// A BlobStore reached over the bus: each call is a request to the blob service of another
// process (blob-service.ts), parts as raw bodies. `bus.blobs` uses it when its transport keeps
// no blobs of its own, so a worker on a WebSocket hub reads the blobs of `llmwire up`. Memory
// stays bounded: the bus's blob API keeps a few parts in flight, each one request.
import { markBinaryBody } from '../codec/binary-body.js';
import {
  InvalidMessageError,
  NoRespondersError,
  OverloadedError,
  UnavailableError,
} from '../protocol/index.js';
import type { BlobListing, BlobStore } from '../transport/blobs.js';
import { contractBlobs } from '../transport/blobs-contract.js';
import type { Bus } from './api.js';
import { partRoom } from './blob-service.js';
import { BLOB_SUBJECTS } from './blob-wire.js';

/**
 * Largest part written over the bus (and the default part size of a put through it): the
 * process serving the store relays every part to every reader, and holds a few copies of each
 * part in flight; 1 MiB parts keep that to a few MiB per reader.
 */
export const REMOTE_PART_BYTES = 1024 * 1024;

export interface RemoteBlobStoreOptions {
  /** How long one call waits for its answer. Default 60 s. */
  timeoutMs?: number;
}

function bytesOrNull(body: unknown, what: string): Uint8Array | undefined {
  if (body === null) return undefined;
  if (body instanceof Uint8Array) return body;
  throw new InvalidMessageError(`the blob service answered ${what} with neither bytes nor null`);
}

/** The blob store of the process serving blobs on `bus`'s subjects. */
export function remoteBlobStore(bus: Bus, options: RemoteBlobStoreOptions = {}): BlobStore {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const call = async (subject: string, body: unknown, headers?: Record<string, string>) => {
    const until = Date.now() + timeoutMs;
    for (let wait = 10; ; wait = Math.min(wait * 2, 500)) {
      try {
        const reply = await bus.request(subject, body, {
          timeoutMs: Math.max(1, until - Date.now()),
          ...(headers === undefined ? {} : { headers }),
        });
        return reply.body;
      } catch (err) {
        // A link backed up with parts already sent, or a service busy: wait for it, then again.
        if (err instanceof OverloadedError && Date.now() + wait < until) {
          await bus.transport.flush().catch(() => undefined);
          await new Promise((r) => setTimeout(r, wait));
          continue;
        }
        throw unserved(err);
      }
    }
  };
  const unserved = (err: unknown) => {
    if (!(err instanceof NoRespondersError)) return err;
    return new UnavailableError(
      `the ${bus.transport.name} transport keeps no blobs and no blob service answers on it: run 'llmwire up' (it serves its store to the peers of its bus), serveBlobs() in a process that has a store, or give the bus a store every peer reaches, createBus({ transport, blobs: store })`,
      { cause: err },
    );
  };
  const store: BlobStore = {
    kind: 'bus service',
    get maxPartBytes() {
      return Math.min(REMOTE_PART_BYTES, partRoom(bus.transport.maxMessageBytes));
    },
    async putPart(upload, index, bytes, sum) {
      // Sent as they are: a MessagePack frame, no compression pass (codec/binary-body.ts).
      const body = markBinaryBody(bytes);
      await call(BLOB_SUBJECTS.putPart, body, { upload, index: String(index), sum });
    },
    async getPart(upload, index) {
      return bytesOrNull(await call(BLOB_SUBJECTS.part, { upload, index }), 'a part');
    },
    async storedParts(upload) {
      const body = (await call(BLOB_SUBJECTS.stored, { upload })) as { parts?: unknown } | null;
      if (!Array.isArray(body?.parts)) {
        throw new InvalidMessageError('the blob service answered stored parts without a list');
      }
      const out = new Map<number, string>();
      for (const entry of body.parts as unknown[]) {
        if (Array.isArray(entry) && typeof entry[0] === 'number' && typeof entry[1] === 'string') {
          out.set(entry[0], entry[1]);
        }
      }
      return out;
    },
    async commit(name, version, manifest) {
      await call(BLOB_SUBJECTS.commit, manifest, { name, version });
    },
    async getManifest(name, version) {
      const body = await call(
        BLOB_SUBJECTS.manifest,
        version === undefined ? { name } : { name, version },
      );
      return bytesOrNull(body, 'a manifest');
    },
    async list(prefix = '') {
      const body = (await call(BLOB_SUBJECTS.list, { prefix })) as { blobs?: unknown } | null;
      if (!Array.isArray(body?.blobs)) {
        throw new InvalidMessageError('the blob service answered a list without blobs');
      }
      return body.blobs as BlobListing[];
    },
    async delete(name, version) {
      const body = (await call(
        BLOB_SUBJECTS.delete,
        version === undefined ? { name } : { name, version },
      )) as { removed?: unknown } | null;
      return body?.removed === true;
    },
  };
  // Arguments checked here as every store checks them; a closed bus refuses the call itself.
  return contractBlobs(store, { isClosed: () => false, what: 'bus' });
}
