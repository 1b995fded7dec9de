// Chunk coalescing on the responder side of a stream (docs/protocol.md, "Coalesced items"):
// items written within `maxDelayMs` of the first one pending go out as one message whose body is
// the array of their bodies, `items` = how many, `seq` = the last one's. Only for requests that
// said, with `batch`, that their reader unpacks such messages. A paced producer (a model emitting
// tokens) then pays one broker message per few tokens instead of one per token.
import { ConfigError, MAX_BATCH_ITEMS, type Envelope } from '../protocol/index.js';
import type { Bus } from './bus.js';

export interface CoalesceOptions {
  /** Longest an item waits for others to join it, ms (0 < maxDelayMs <= 1000). */
  maxDelayMs: number;
  /** Most items in one message. Default and cap 64. */
  maxChunks?: number;
  /** Most body bytes (JSON length of the items) in one message. Default and cap 16 KiB. */
  maxBytes?: number;
}

export interface ResolvedCoalesce {
  readonly maxDelayMs: number;
  readonly maxChunks: number;
  readonly maxBytes: number;
}

export const MAX_COALESCE_BYTES = 16 * 1024;

export function resolveCoalesce(
  options: CoalesceOptions | undefined,
): ResolvedCoalesce | undefined {
  if (options === undefined) return undefined;
  const { maxDelayMs, maxChunks = MAX_BATCH_ITEMS, maxBytes = MAX_COALESCE_BYTES } = options;
  if (!(typeof maxDelayMs === 'number' && maxDelayMs > 0 && maxDelayMs <= 1000)) {
    throw new ConfigError('coalesce.maxDelayMs must be a number above 0 and at most 1000');
  }
  if (!(Number.isInteger(maxChunks) && maxChunks >= 1 && maxChunks <= MAX_BATCH_ITEMS)) {
    throw new ConfigError(`coalesce.maxChunks must be an integer from 1 to ${MAX_BATCH_ITEMS}`);
  }
  if (!(Number.isInteger(maxBytes) && maxBytes >= 1 && maxBytes <= MAX_COALESCE_BYTES)) {
    throw new ConfigError(`coalesce.maxBytes must be an integer from 1 to ${MAX_COALESCE_BYTES}`);
  }
  return { maxDelayMs, maxChunks, maxBytes };
}

/** Rough JSON size of an item: exact for strings and bytes, JSON.stringify otherwise. */
function sizeOf(body: unknown): number {
  if (typeof body === 'string') return body.length + 2;
  if (body instanceof Uint8Array) return body.byteLength;
  if (body === undefined) return 0;
  try {
    return JSON.stringify(body)?.length ?? 0;
  } catch {
    return 0;
  }
}

/** The items of one stream waiting to be sent together. */
export class Coalescer {
  private bodies: unknown[] = [];
  private bytes = 0;
  private lastSeq = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly limit: number;

  constructor(
    private readonly bus: Bus,
    private readonly request: Envelope,
    private readonly kind: string,
    private readonly options: ResolvedCoalesce,
  ) {
    this.limit = Math.min(options.maxChunks, request.batch ?? 1);
  }

  get pending(): number {
    return this.bodies.length;
  }

  /** Adds an item; sends at once when the message is full, else within maxDelayMs. */
  add(body: unknown, seq: number): void {
    const size = sizeOf(body);
    if (this.bodies.length > 0 && this.bytes + size > this.options.maxBytes) this.flush();
    this.bodies.push(body);
    this.bytes += size;
    this.lastSeq = seq;
    if (this.bodies.length >= this.limit || this.bytes >= this.options.maxBytes) this.flush();
    else this.timer ??= setTimeout(this.onTimer, this.options.maxDelayMs);
  }

  private readonly onTimer = () => {
    this.timer = undefined;
    try {
      this.flush();
    } catch (err) {
      this.bus.reportError(err, this.request);
    }
  };

  /** Sends what is pending: one item as a plain chunk, several as one coalesced message. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const n = this.bodies.length;
    if (n === 0) return;
    const bodies = this.bodies;
    this.bodies = [];
    this.bytes = 0;
    const extra = n === 1 ? { seq: this.lastSeq } : { seq: this.lastSeq, items: n };
    this.bus.send(
      this.bus.replyEnvelope(this.request, this.kind, n === 1 ? bodies[0] : bodies, extra),
    );
  }

  /** Drops what is pending (the stream was cancelled). */
  discard(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.bodies = [];
    this.bytes = 0;
  }
}
