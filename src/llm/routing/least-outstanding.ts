// Least-outstanding: the worker with the fewest requests in flight per slot. Ties rotate, so
// idle workers share a trickle of traffic instead of the first one taking all of it.
import { utilization } from './load.js';
import type { RoutingPolicy, WorkerView } from './policy.js';

export class LeastOutstandingPolicy implements RoutingPolicy {
  readonly name = 'least-outstanding';
  private turn = 0;

  pick(candidates: readonly WorkerView[]): WorkerView | undefined {
    let least = Number.POSITIVE_INFINITY;
    const tied: WorkerView[] = [];
    for (const w of candidates) {
      const load = utilization(w);
      if (load < least) {
        least = load;
        tied.length = 0;
      }
      if (load === least) tied.push(w);
    }
    if (tied.length === 0) return undefined;
    const chosen = tied[this.turn % tied.length];
    this.turn = (this.turn + 1) % Number.MAX_SAFE_INTEGER;
    return chosen;
  }
}
