// A consistent-hash ring with virtual nodes (Karger et al., "Consistent Hashing and Random
// Trees", 1997). Points are placed as ketama does: each MD5 digest of "<id>-<n>" gives four
// 32-bit points, so any implementation can rebuild the same ring from the same ids.
import { createHash } from 'node:crypto';

function digest(text: string): Buffer {
  return createHash('md5').update(text).digest();
}

/** The ring position of a key. */
export function ringPosition(key: string): number {
  return digest(key).readUInt32LE(0);
}

export class HashRing {
  private readonly pointCache = new Map<string, number[]>();
  private readonly members = new Set<string>();
  private positions: number[] = [];
  private owners: string[] = [];

  constructor(readonly virtualNodes: number) {}

  get size(): number {
    return this.members.size;
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  ids(): string[] {
    return [...this.members];
  }

  /** Makes the ring hold exactly `ids`. */
  reset(ids: Iterable<string>): void {
    this.members.clear();
    for (const id of ids) this.members.add(id);
    for (const id of this.pointCache.keys()) if (!this.members.has(id)) this.pointCache.delete(id);
    const points: { position: number; id: string }[] = [];
    for (const id of this.members) {
      for (const position of this.pointsOf(id)) points.push({ position, id });
    }
    // Ties (rare) are ordered by id so every process builds the same ring.
    points.sort((a, b) => a.position - b.position || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.positions = points.map((p) => p.position);
    this.owners = points.map((p) => p.id);
  }

  /** Each member once, in ring order clockwise from the key's position: owner first. */
  *walk(key: string): Generator<string> {
    const total = this.positions.length;
    if (total === 0) return;
    const start = this.firstAtOrAfter(ringPosition(key));
    const seen = new Set<string>();
    for (let i = 0; i < total && seen.size < this.members.size; i++) {
      const id = this.owners[(start + i) % total]!;
      if (seen.has(id)) continue;
      seen.add(id);
      yield id;
    }
  }

  private pointsOf(id: string): number[] {
    let points = this.pointCache.get(id);
    if (points === undefined) {
      points = [];
      for (let n = 0; points.length < this.virtualNodes; n++) {
        const d = digest(`${id}-${n}`);
        for (let k = 0; k < 4 && points.length < this.virtualNodes; k++) {
          points.push(d.readUInt32LE(k * 4));
        }
      }
      this.pointCache.set(id, points);
    }
    return points;
  }

  /** Index of the first point at or after `position`, wrapping to 0. */
  private firstAtOrAfter(position: number): number {
    let lo = 0;
    let hi = this.positions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.positions[mid]! < position) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.positions.length ? 0 : lo;
  }
}
