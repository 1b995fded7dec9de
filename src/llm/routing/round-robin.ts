// Round-robin: each worker in turn. The turn follows worker ids rather than list positions, so
// the cycle stays even when the candidate list changes order or a busy worker drops out of it.
import type { RoutingPolicy, WorkerView } from './policy.js';

export class RoundRobinPolicy implements RoutingPolicy {
  readonly name = 'round-robin';
  private last: string | undefined;

  pick(candidates: readonly WorkerView[]): WorkerView | undefined {
    // The next id after the last one picked, wrapping to the smallest id.
    let next: WorkerView | undefined;
    let first: WorkerView | undefined;
    for (const w of candidates) {
      if (first === undefined || w.id < first.id) first = w;
      if (this.last !== undefined && w.id > this.last && (next === undefined || w.id < next.id)) {
        next = w;
      }
    }
    const chosen = next ?? first;
    if (chosen !== undefined) this.last = chosen.id;
    return chosen;
  }
}
