// A progress bar on a terminal: one line on stderr redrawn at most ten times a second, with the
// bytes done, the total and the rate. Off when stderr is not a terminal (pipes and logs get the
// command's one result line only).
import type { BlobProgress } from '../bus/index.js';

const WIDTH = 28;

/** Bytes for people: 512 B, 12.0 KiB, 3.4 MiB, 1.00 GiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export interface ProgressBar {
  /** Records a part handled (a blob API progress event). */
  update(p: BlobProgress): void;
  /** Clears the line. */
  done(): void;
}

/** A bar for `what` (e.g. 'put models/a'), or one that draws nothing when `enabled` is false. */
export function progressBar(
  what: string,
  knownSize: number | undefined,
  enabled = process.stderr.isTTY === true,
): ProgressBar {
  if (!enabled) return { update: () => undefined, done: () => undefined };
  const started = Date.now();
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      const now = Date.now();
      const total = p.size ?? knownSize;
      if (now - last < 100 && (total === undefined || p.bytes < total)) return;
      last = now;
      const share = total === undefined || total === 0 ? 0 : Math.min(1, p.bytes / total);
      const filled = Math.round(share * WIDTH);
      const rate = p.bytes / Math.max(0.001, (now - started) / 1000);
      const line = `${what} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${Math.floor(share * 100)}% ${bytes(p.bytes)}${total === undefined ? '' : ` / ${bytes(total)}`} ${bytes(rate)}/s`;
      process.stderr.write(`\r${line}\x1b[K`);
      drawn = true;
    },
    done() {
      if (drawn) process.stderr.write('\r\x1b[K');
    },
  };
}
