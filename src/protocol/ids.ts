// Message ids: UUIDv7 text (RFC 9562 section 5.7), time-ordered and unique across processes.
// Layout: 48-bit ms timestamp | version 7 | 32-bit per-process sequence (12 + 20 bits around the
// variant) | 40 random bits drawn per process and redrawn whenever the sequence wraps. Ids made
// by one process sort in creation order as strings.
import { randomBytes, randomInt } from 'node:crypto';

let seq = randomInt(0, 2 ** 24);
let tail = '';
let lastMs = -1;
let msHex = '';

function redrawTail(): void {
  // Random bits as 11 hex digits; the id uses the last 10 (40 bits).
  const b = randomBytes(6);
  const n = (b.readUIntBE(0, 6) % 2 ** 42).toString(16).padStart(11, '0');
  tail = n;
}
redrawTail();

const HEX = '0123456789abcdef';

/** Returns a new UUIDv7 string. Monotonic within this process. */
export function createId(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    msHex = now.toString(16).padStart(12, '0');
  }
  seq = (seq + 1) >>> 0;
  if (seq === 0) redrawTail();
  const hi = seq >>> 20; // 12 bits
  const lo = seq & 0xfffff; // 20 bits
  // variant 0b10 plus the top 2 bits of lo form the first nibble of group 4.
  const v = 8 | (lo >>> 18);
  const lo18 = (lo & 0x3ffff).toString(16).padStart(5, '0');
  return (
    msHex.slice(0, 8) +
    '-' +
    msHex.slice(8, 12) +
    '-7' +
    hi.toString(16).padStart(3, '0') +
    '-' +
    HEX[v]! +
    lo18.slice(0, 3) +
    '-' +
    lo18.slice(3) +
    tail.slice(1)
  );
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
