// The routing seam: a policy picks one worker for a request from the live candidates. Policies
// sit side by side in this folder; the router owns the worker registry and calls the policy.
import type { InferenceRequest } from '../../protocol/index.js';

/** What the router knows of one worker, from its heartbeats and its own bookkeeping. */
export interface WorkerView {
  readonly id: string;
  /** Subject that reaches this worker alone. */
  readonly address: string;
  readonly models: readonly string[];
  /** Requests the worker runs at once. */
  readonly capacity: number;
  /** In flight: the larger of the worker's own report and what this router has sent it. */
  readonly inflight: number;
  /** Prompt-prefix block hashes the worker holds in cache. */
  readonly prefixHashes: ReadonlySet<string>;
}

export interface RouteContext {
  readonly request: InferenceRequest;
  /** Chained prompt-prefix block hashes of this request (see prefix.ts). */
  readonly prefixHashes: readonly string[];
  /** Session/affinity key (e.g. the `user` field or an x-session-id header). */
  readonly sessionKey: string | undefined;
}

export interface RoutingPolicy {
  readonly name: PolicyName;
  /** Picks one of `candidates` (never empty; all serve the model and have room), or undefined. */
  pick(candidates: readonly WorkerView[], ctx: RouteContext): WorkerView | undefined;
}

export type PolicyName =
  'round-robin' | 'least-outstanding' | 'power-of-two' | 'session-affinity' | 'prefix-affinity';

export const POLICY_NAMES: readonly PolicyName[] = [
  'round-robin',
  'least-outstanding',
  'power-of-two',
  'session-affinity',
  'prefix-affinity',
];
