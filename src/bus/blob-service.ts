// The blob service: answers the blob subjects (blob-wire.ts) from a local store, so peers whose
// transport keeps no blobs (WebSocket peers of `llmwire up`) read and write it over the bus.
// Who may use it is the transport's business (the hub's permissions, docs/security.md): the
// service answers whoever reaches it. Everything it is sent is checked: names, versions, part
// sums (a part whose bytes do not match the sum given is refused, never stored) and manifests.
import { markBinaryBody } from '../codec/binary-body.js';
import { sha256Base64Url } from '../codec/integrity.js';
import { checkBlobName, decodeManifest } from '../protocol/blob.js';
import {
  ChunkCorruptError,
  ConfigError,
  InvalidMessageError,
  OverloadedError,
  PayloadTooLargeError,
  type Envelope,
} from '../protocol/index.js';
import type { BlobStore } from '../transport/blobs.js';
import type { Bus } from './api.js';
import {
  BLOB_SERVICE_QUEUE,
  BLOB_SERVICE_SUBJECTS,
  BLOB_SUBJECTS,
  bodyBytes,
  readCommitHeaders,
  readPartHeaders,
  readRequest,
} from './blob-wire.js';
import type { Message } from './message.js';

export interface BlobServiceOptions {
  /** Requests handled at once; the rest wait their turn. Default 8. */
  maxInflight?: number;
  /** Requests waiting past which new ones fail `overloaded`. Default 1024. */
  maxWaiting?: number;
}

/** A running blob service. */
export interface BlobService {
  /** Resolves once the service's subscription is registered. */
  readonly ready: Promise<void>;
  /** Stops answering; requests being handled finish. */
  close(): void;
}

/**
 * Serves `store` on `bus`'s blob subjects. Give it a store of this process (the transport's
 * own, or one made for it), never the remote store of a bus: that would answer itself.
 */
export function serveBlobs(
  bus: Bus,
  store: BlobStore,
  options: BlobServiceOptions = {},
): BlobService {
  const maxInflight = options.maxInflight ?? 8;
  const maxWaiting = options.maxWaiting ?? 1024;
  if (!Number.isInteger(maxInflight) || maxInflight < 1) {
    throw new ConfigError('serveBlobs maxInflight must be a positive integer');
  }
  let running = 0;
  const waiting: (() => void)[] = [];
  const run = (msg: Message): void => {
    running++;
    void handle(bus, store, msg)
      .then(
        (reply) => respond(bus, msg.envelope, reply),
        (err: unknown) => msg.respondError(err),
      )
      .catch((err: unknown) => bus.reportError(err, msg.envelope))
      .finally(() => {
        running--;
        waiting.shift()?.();
      });
  };
  const sub = bus.subscribe(
    BLOB_SERVICE_SUBJECTS,
    (msg) => {
      if (msg.envelope.replyTo === undefined) return;
      if (running < maxInflight) run(msg);
      else if (waiting.length < maxWaiting) waiting.push(() => run(msg));
      else msg.respondError(new OverloadedError('the blob service is busy; retry shortly'));
    },
    { queue: BLOB_SERVICE_QUEUE },
  );
  return {
    ready: sub.ready,
    close: () => {
      sub.unsubscribe();
      waiting.length = 0;
    },
  };
}

/** Sends a reply; bytes go as a raw MessagePack body without a compression pass. */
function respond(bus: Bus, request: Envelope, body: unknown): void {
  if (body instanceof Uint8Array) markBinaryBody(body);
  const reply = bus.envelope(request.replyTo!, body, {
    corr: request.id,
    ...(request.tenant === undefined ? {} : { tenant: request.tenant }),
    ...(request.traceparent === undefined ? {} : { traceparent: request.traceparent }),
  });
  bus.send(reply);
}

function partSum(bytes: Uint8Array): string {
  return 'sha256:' + sha256Base64Url(bytes);
}

async function handle(bus: Bus, store: BlobStore, msg: Message): Promise<unknown> {
  const env = msg.envelope;
  switch (env.subject) {
    case BLOB_SUBJECTS.info:
      return { kind: store.kind, maxPartBytes: limitOf(store, bus) };
    case BLOB_SUBJECTS.manifest: {
      const { name, version } = readRequest('manifest', env.body);
      return (await store.getManifest(name, version)) ?? null;
    }
    case BLOB_SUBJECTS.list: {
      const { prefix } = readRequest('list', env.body);
      return { blobs: await store.list(prefix) };
    }
    case BLOB_SUBJECTS.part: {
      const { upload, index } = readRequest('part', env.body);
      return (await store.getPart(upload, index)) ?? null;
    }
    case BLOB_SUBJECTS.stored: {
      const { upload } = readRequest('stored', env.body);
      return { parts: [...(await store.storedParts(upload))] };
    }
    case BLOB_SUBJECTS.putPart: {
      const { upload, index, sum } = readPartHeaders(env.headers);
      const bytes = bodyBytes(env.body, 'a blob part');
      const limit = limitOf(store, bus);
      if (bytes.byteLength > limit) {
        throw new PayloadTooLargeError(
          `blob part of ${bytes.byteLength} bytes is more than the ${limit} this service takes`,
          { details: { size: bytes.byteLength, limit } },
        );
      }
      if (partSum(bytes) !== sum) {
        throw new ChunkCorruptError(`part ${index} of '${upload}' does not match its sum`, {
          details: { upload, index },
        });
      }
      await store.putPart(upload, index, bytes, sum);
      return {};
    }
    case BLOB_SUBJECTS.commit: {
      const { name, version } = readCommitHeaders(env.headers);
      const bytes = bodyBytes(env.body, 'a blob manifest');
      let manifest;
      try {
        manifest = decodeManifest(bytes);
      } catch (err) {
        throw new InvalidMessageError(`blob commit: ${(err as Error).message}`, { cause: err });
      }
      if (manifest.name !== name || manifest.version !== version) {
        throw new InvalidMessageError(
          `blob commit of ${name}@${version} carries the manifest of ${manifest.name}@${manifest.version}`,
        );
      }
      await store.commit(name, version, bytes);
      return {};
    }
    case BLOB_SUBJECTS.delete: {
      const { name, version } = readRequest('delete', env.body);
      checkBlobName(name);
      return { removed: await store.delete(name, version) };
    }
    default:
      throw new InvalidMessageError(`no blob operation on '${env.subject}'`);
  }
}

/** Largest part the service takes: the store's, and what one message of the bus carries. */
export function limitOf(store: BlobStore, bus: Bus): number {
  return Math.min(store.maxPartBytes, partRoom(bus.transport.maxMessageBytes));
}

/** Room for a part's bytes in one message of `maxMessageBytes` (headers take the rest). */
export function partRoom(maxMessageBytes: number): number {
  return Number.isFinite(maxMessageBytes)
    ? Math.max(0, maxMessageBytes - 64 * 1024)
    : Number.MAX_SAFE_INTEGER;
}
