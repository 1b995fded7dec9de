// Load as the policies compare it: the share of a worker's slots in use, so a worker with twice
// the capacity counts as half as busy at the same number of requests in flight.
import type { WorkerView } from './policy.js';

/** In-flight requests per slot; a worker reporting no capacity counts as one slot. */
export function utilization(worker: WorkerView): number {
  return worker.inflight / Math.max(1, worker.capacity);
}
