// The receiving side of chunking: collects the parts of each transfer in any order, checks every
// part against its sum and the whole against the object sum, and gives back the object once all
// parts are in. Memory is bounded: transfers, object size and part count have limits.
import {
  ChunkCorruptError,
  ChunkMissingError,
  ConfigError,
  InvalidMessageError,
  PayloadTooLargeError,
  type ChunkInfo,
  type Envelope,
} from '../../protocol/index.js';
import { checksum } from '../integrity.js';
import { MemoryPartStore, type PartStore } from './part-store.js';
import { CHUNK_KIND } from './split.js';

export interface ChunkAssemblerOptions {
  /** Where parts wait. Default: in memory. */
  store?: PartStore;
  /** Unfinished transfers held at once. Default 64. */
  maxTransfers?: number;
  /** Largest object accepted, in bytes. Default 256 MiB. */
  maxObjectBytes?: number;
  /** Most parts one transfer may have. Default 65,536. */
  maxParts?: number;
  /** A transfer with no new part for this long is stalled; `expire()` drops it. Default 60 s. */
  timeoutMs?: number;
  /** Completed transfers remembered, so late duplicates of their parts are ignored. Default 4096. */
  rememberCompleted?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export type AcceptResult =
  | { complete: false; transfer: string; received: number; total: number; duplicate: boolean }
  | { complete: true; transfer: string; data: Uint8Array };

interface Transfer {
  readonly total: number;
  readonly size: number;
  readonly objectSum: string;
  readonly received: Set<number>;
  receivedBytes: number;
  updatedAt: number;
}

const SUM = /^sha256:[A-Za-z0-9_-]{43}$/;
const MISSING_IN_DETAILS = 32;

export class ChunkAssembler {
  private readonly store: PartStore;
  private readonly transfers = new Map<string, Transfer>();
  private readonly completed = new Map<string, { total: number; at: number }>();
  private readonly maxTransfers: number;
  private readonly maxObjectBytes: number;
  private readonly maxParts: number;
  private readonly timeoutMs: number;
  private readonly rememberCompleted: number;
  private readonly now: () => number;

  constructor(options: ChunkAssemblerOptions = {}) {
    this.store = options.store ?? new MemoryPartStore();
    this.maxTransfers = positive('maxTransfers', options.maxTransfers ?? 64);
    this.maxObjectBytes = positive('maxObjectBytes', options.maxObjectBytes ?? 256 * 1024 * 1024);
    this.maxParts = positive('maxParts', options.maxParts ?? 65_536);
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? 60_000);
    this.rememberCompleted = options.rememberCompleted ?? 4096;
    this.now = options.now ?? Date.now;
  }

  /** Unfinished transfers held. */
  get pending(): number {
    return this.transfers.size;
  }

  /**
   * Takes one opened `params.chunk` envelope. Throws ChunkCorruptError for a part that fails
   * its sum or disagrees with earlier parts (the transfer goes on; the sender may resend that
   * part), and for a whole that fails the object sum (the transfer is dropped).
   */
  accept(env: Envelope): AcceptResult {
    const info = readChunk(env);
    const part = env.body as Uint8Array;
    const { transfer, index } = info;
    const details = { transfer, index };
    if (info.size > this.maxObjectBytes) {
      throw new PayloadTooLargeError(
        `chunked object of ${info.size} bytes exceeds the ${this.maxObjectBytes}-byte limit`,
        { details: { ...details, size: info.size, limit: this.maxObjectBytes } },
      );
    }
    if (info.total > this.maxParts) {
      throw new PayloadTooLargeError(
        `chunked object of ${info.total} parts exceeds the ${this.maxParts}-part limit`,
        { details: { ...details, total: info.total, limit: this.maxParts } },
      );
    }
    const done = this.completed.get(transfer);
    if (done !== undefined) {
      return {
        complete: false,
        transfer,
        received: done.total,
        total: done.total,
        duplicate: true,
      };
    }
    let state = this.transfers.get(transfer);
    if (state !== undefined) {
      for (const field of ['total', 'size', 'objectSum'] as const) {
        if (state[field] !== info[field]) {
          throw new ChunkCorruptError(
            `part ${index} of transfer ${transfer} disagrees with earlier parts on ${field}`,
            { details: { ...details, field } },
          );
        }
      }
      if (state.received.has(index)) {
        return {
          complete: false,
          transfer,
          received: state.received.size,
          total: state.total,
          duplicate: true,
        };
      }
    }
    if (checksum(part) !== info.partSum) {
      throw new ChunkCorruptError(`part ${index} of transfer ${transfer} fails its checksum`, {
        details,
      });
    }
    state ??= this.begin(info);
    if (state.received.has(index)) {
      // Already held by the store from before a restart.
      return {
        complete: false,
        transfer,
        received: state.received.size,
        total: state.total,
        duplicate: true,
      };
    }
    if (state.receivedBytes + part.byteLength > state.size) {
      throw new ChunkCorruptError(`parts of transfer ${transfer} add up to more than its size`, {
        details,
      });
    }
    this.store.put(transfer, index, part);
    state.received.add(index);
    state.receivedBytes += part.byteLength;
    state.updatedAt = this.now();
    if (state.received.size < state.total) {
      return {
        complete: false,
        transfer,
        received: state.received.size,
        total: state.total,
        duplicate: false,
      };
    }
    return { complete: true, transfer, data: this.finish(transfer, state) };
  }

  /** Indices not yet received (up to `limit`), or undefined for a transfer not in progress. */
  missing(transfer: string, limit = Infinity): number[] | undefined {
    const state = this.transfers.get(transfer);
    if (state === undefined) return undefined;
    const out: number[] = [];
    for (let i = 0; i < state.total && out.length < limit; i++) {
      if (!state.received.has(i)) out.push(i);
    }
    return out;
  }

  /**
   * The first part a sender should resend from (`fromIndex`): the lowest missing index, the
   * part count for a transfer already completed, and 0 for one never seen. Parts a store kept
   * across a restart count as received.
   */
  resumeFrom(transfer: string): number {
    const done = this.completed.get(transfer);
    if (done !== undefined) return done.total;
    const held = this.transfers.get(transfer)?.received ?? new Set(this.store.indices(transfer));
    let i = 0;
    while (held.has(i)) i++;
    return i;
  }

  /**
   * Drops transfers with no new part for `olderThanMs` (default: the `timeoutMs` option) and
   * returns a ChunkMissingError for each, saying what was missing, for the sender to see.
   */
  expire(olderThanMs = this.timeoutMs): InstanceType<typeof ChunkMissingError>[] {
    const now = this.now();
    const errors: InstanceType<typeof ChunkMissingError>[] = [];
    for (const [transfer, state] of this.transfers) {
      if (now - state.updatedAt < olderThanMs) continue;
      const missing = this.missing(transfer, MISSING_IN_DETAILS) ?? [];
      errors.push(
        new ChunkMissingError(
          `transfer ${transfer} stalled with ${state.total - state.received.size} of ${state.total} parts missing`,
          {
            details: {
              transfer,
              total: state.total,
              received: state.received.size,
              missing,
              resumeFrom: missing[0] ?? state.total,
            },
          },
        ),
      );
      this.discard(transfer);
    }
    for (const [transfer, { at }] of this.completed) {
      if (now - at >= this.timeoutMs) this.completed.delete(transfer);
    }
    return errors;
  }

  /** Forgets an unfinished transfer and its parts. */
  discard(transfer: string): void {
    this.transfers.delete(transfer);
    this.store.delete(transfer);
  }

  private begin(info: ChunkInfo): Transfer {
    if (this.transfers.size >= this.maxTransfers) {
      throw new PayloadTooLargeError(
        `too many chunked transfers in progress (limit ${this.maxTransfers})`,
        { details: { transfer: info.transfer, index: info.index, limit: this.maxTransfers } },
      );
    }
    const state: Transfer = {
      total: info.total,
      size: info.size,
      objectSum: info.objectSum,
      received: new Set(),
      receivedBytes: 0,
      updatedAt: this.now(),
    };
    // Parts a durable store kept from before a restart; their sums were checked when they came
    // in, and the object sum checks them again at the end.
    for (const index of this.store.indices(info.transfer)) {
      const held = this.store.get(info.transfer, index);
      if (held === undefined || index >= info.total) continue;
      state.received.add(index);
      state.receivedBytes += held.byteLength;
    }
    this.transfers.set(info.transfer, state);
    return state;
  }

  private finish(transfer: string, state: Transfer): Uint8Array {
    const data = new Uint8Array(state.size);
    let offset = 0;
    try {
      for (let i = 0; i < state.total; i++) {
        const part = this.store.get(transfer, i);
        if (part === undefined) {
          throw new ChunkMissingError(`part ${i} of transfer ${transfer} is gone from the store`, {
            details: { transfer, index: i },
          });
        }
        if (offset + part.byteLength > state.size) break;
        data.set(part, offset);
        offset += part.byteLength;
      }
      if (offset !== state.size || checksum(data) !== state.objectSum) {
        throw new ChunkCorruptError(`transfer ${transfer} does not match its object checksum`, {
          details: { transfer },
        });
      }
    } finally {
      this.discard(transfer);
    }
    this.completed.set(transfer, { total: state.total, at: this.now() });
    if (this.completed.size > this.rememberCompleted) {
      this.completed.delete(this.completed.keys().next().value!);
    }
    return data;
  }
}

function positive(name: string, value: number): number {
  if (!(value > 0)) throw new ConfigError(`${name} must be positive, got ${value}`);
  return value;
}

/** The part's ChunkInfo, checked for shape and for sense (the part lies inside the object). */
function readChunk(env: Envelope): ChunkInfo {
  if (env.kind !== CHUNK_KIND) {
    throw new InvalidMessageError(`expected a ${CHUNK_KIND} message, got ${env.kind}`);
  }
  const info = env.chunk;
  if (typeof info !== 'object' || info === null) {
    throw new InvalidMessageError(`${CHUNK_KIND} message has no chunk field`);
  }
  if (!(env.body instanceof Uint8Array)) {
    throw new InvalidMessageError(`${CHUNK_KIND} body must be the part's bytes`);
  }
  const { transfer, index, total, size, offset, partSum, objectSum } = info;
  if (typeof transfer !== 'string' || transfer.length === 0 || transfer.length > 128) {
    throw new InvalidMessageError(`${CHUNK_KIND} chunk.transfer must be 1 to 128 characters`);
  }
  const length = env.body.byteLength;
  const sane =
    isCount(index, 0) &&
    isCount(total, 1) &&
    isCount(size, 1) &&
    isCount(offset, 0) &&
    typeof partSum === 'string' &&
    SUM.test(partSum) &&
    typeof objectSum === 'string' &&
    SUM.test(objectSum) &&
    index < total &&
    total <= size &&
    length > 0 &&
    offset + length <= size &&
    (index !== 0 || offset === 0) &&
    (index !== total - 1 || offset + length === size);
  if (!sane) {
    throw new ChunkCorruptError(`part ${String(index)} of transfer ${transfer} is out of bounds`, {
      details: { transfer, index },
    });
  }
  return info;
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}
