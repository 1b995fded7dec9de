// Message ids: UUIDv7 text (RFC 9562 section 5.7), time-ordered and unique across processes.
// Layout: 48-bit ms timestamp | version 7 | a 32-bit per-process sequence split 12 + 20 bits
// around the variant nibble (whose two free bits are drawn once per process) | 40 random bits
// drawn per process and redrawn whenever the sequence wraps. Ids made by one process sort in
// creation order as strings (within a millisecond the sequence orders them).
import { randomBytes, randomInt } from 'node:crypto';

const HEX2: string[] = [];
const HEX3: string[] = [];
for (let i = 0; i < 256; i++) HEX2.push(i.toString(16).padStart(2, '0'));
for (let i = 0; i < 4096; i++) HEX3.push(i.toString(16).padStart(3, '0'));

let seq = randomInt(0, 2 ** 24);
let tail = '';
let variant = '';
let lastMs = -1;
let prefix = '';

function redraw(): void {
  const b = randomBytes(6);
  tail = b.subarray(0, 5).toString('hex'); // 40 bits
  variant = '89ab'[b[5]! & 3]!;
}
redraw();

/**
 * Returns a new UUIDv7 string. Monotonic within this process. `now` (ms epoch, default the
 * clock) saves a second clock read to a caller that has just read it.
 */
export function createId(now = Date.now()): string {
  if (now !== lastMs) {
    lastMs = now;
    const hex = now.toString(16).padStart(12, '0');
    prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7`;
  }
  seq = (seq + 1) >>> 0;
  if (seq === 0) redraw();
  const lo = seq & 0xfffff;
  return `${prefix}${HEX3[seq >>> 20]!}-${variant}${HEX3[lo >>> 8]!}-${HEX2[lo & 0xff]!}${tail}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a lower-case UUID string (any version). */
export function isId(value: string): boolean {
  return UUID_RE.test(value);
}

/** The millisecond timestamp encoded in a UUIDv7. */
export function idTime(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
