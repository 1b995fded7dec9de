// Power of two choices: sample two distinct workers at random and take the less loaded one.
// Nearly as well balanced as least-outstanding, but with stale load reports it does not send a
// whole burst to the one worker that looked idle (Mitzenmacher, "The Power of Two Choices in
// Randomized Load Balancing", 2001).
import { Type } from '@sinclair/typebox';
import { optionsCheck } from '../../protocol/index.js';
import { utilization } from './load.js';
import type { RoutingPolicy, WorkerView } from './policy.js';

export interface PowerOfTwoOptions {
  /** Uniform numbers in [0, 1); injectable so tests are repeatable. Default Math.random. */
  random?: () => number;
}

const checkOptions = optionsCheck(
  "routing policy 'power-of-two'",
  Type.Object(
    { random: Type.Optional(Type.Function([], Type.Number())) },
    { additionalProperties: false },
  ),
);

export class PowerOfTwoPolicy implements RoutingPolicy {
  readonly name = 'power-of-two';
  private readonly random: () => number;

  constructor(options: PowerOfTwoOptions = {}) {
    this.random = checkOptions(options).random ?? Math.random;
  }

  pick(candidates: readonly WorkerView[]): WorkerView | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const i = this.index(n);
    let j = this.index(n - 1);
    if (j >= i) j += 1; // distinct from i, still uniform
    const a = candidates[i]!;
    const b = candidates[j]!;
    return utilization(b) < utilization(a) ? b : a;
  }

  private index(n: number): number {
    return Math.min(n - 1, Math.floor(this.random() * n));
  }
}
