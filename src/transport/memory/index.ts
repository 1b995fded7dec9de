// The memory transport: everything in one process, no I/O. The reference implementation of the
// Transport semantics and the backbone of unit tests. With `codec` set, every published message
// is encoded and decoded on the way, to exercise the wire format in-process.
import type { Codec } from '../../codec/codec.js';
import type { Envelope } from '../../protocol/index.js';
import { ClosedError } from '../../protocol/index.js';
import type { BlobStore } from '../blobs.js';
import { contractBlobs } from '../blobs-contract.js';
import { contractQueue } from '../queue-contract.js';
import { contractRecords, resolveRecordOptions } from '../records-contract.js';
import type { RecordStore, RecordStoreOptions } from '../records.js';
import { resolveQueueOptions } from '../queue-policy.js';
import { StatusFeed } from '../status.js';
import type { DurableQueue, QueueOptions, Transport, TransportStatus } from '../transport.js';
import { SubjectRouter } from './pubsub.js';
import { MemoryBlobs } from './blobs.js';
import { MemoryQueue } from './queue.js';
import { MemoryRecords, type MemoryRecordEntry } from './records.js';

export interface MemoryTransportOptions {
  /** Round-trip each published message through this codec (tests, debugging). */
  codec?: Codec;
  /** Called when a subscriber's handler throws. Default: printed to stderr. */
  onHandlerError?: (err: unknown, env: Envelope) => void;
}

export function createMemoryTransport(options: MemoryTransportOptions = {}): Transport {
  const onHandlerError =
    options.onHandlerError ??
    ((err: unknown, env: Envelope) => {
      console.error(`llmwire: subscriber on '${env.subject}' threw`, err);
    });
  const router = new SubjectRouter(onHandlerError);
  const queues = new Map<string, MemoryQueue>();
  const records = new Map<string, Map<string, MemoryRecordEntry>>();
  const status = new StatusFeed();
  status.push({ type: 'connected' });
  let blobs: BlobStore | undefined;
  const codec = options.codec;
  let closed = false;

  const assertOpen = () => {
    if (closed) throw new ClosedError('memory transport');
  };

  return {
    name: 'memory',
    maxMessageBytes: codec?.maxFrameBytes ?? Number.POSITIVE_INFINITY,
    publish(env) {
      assertOpen();
      router.publish(codec === undefined ? env : codec.decode(codec.encode(env)));
    },
    subscribe(pattern, handler, subOptions) {
      assertOpen();
      return router.subscribe(pattern, handler, subOptions);
    },
    flush: () => Promise.resolve(),
    queue(name: string, queueOptions?: QueueOptions): DurableQueue {
      assertOpen();
      const resolved = resolveQueueOptions(name, queueOptions);
      let store = queues.get(name);
      if (store === undefined) {
        store = new MemoryQueue(name, resolved);
        queues.set(name, store);
      }
      return contractQueue(store);
    },
    records(name: string, recordOptions?: RecordStoreOptions): RecordStore {
      assertOpen();
      const resolved = resolveRecordOptions(name, recordOptions);
      let entries = records.get(name);
      if (entries === undefined) records.set(name, (entries = new Map()));
      return contractRecords(new MemoryRecords(name, entries, resolved), {
        isClosed: () => closed,
        what: 'memory transport',
      });
    },
    blobs(): BlobStore {
      assertOpen();
      return (blobs ??= contractBlobs(new MemoryBlobs(assertOpen), {
        isClosed: () => closed,
        what: 'memory transport',
      }));
    },
    status: (): AsyncIterable<TransportStatus> => status.iterate(),
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const q of queues.values()) q.close();
      records.clear();
      status.push({ type: 'closed' });
      status.end();
      return Promise.resolve();
    },
  };
}
