// Per-key ordering on JetStream. Keyed messages live on `<root>.<class>.k.<key token>`, so the
// oldest unacked message of a key is the first one JetStream still holds on `<root>.*.k.<token>`
// (work-queue retention deletes a message when it is acked or dead-lettered). A pulled message
// that is not that head is parked here: kept leased (working() before its AckWait runs out) and
// not handed out, until a look at the stream shows it has become the head. Parking instead of
// nak() keeps the server's delivery count equal to the real attempts; parked messages given back
// on close are written down (park-ledger.ts) for the same reason.
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { PriorityClass } from './names.js';
import type { ParkLedger } from './park-ledger.js';
import type { AckInfo } from './pull.js';

export interface Parked {
  readonly msg: Msg;
  readonly info: AckInfo;
  readonly token: string;
  readonly cls: PriorityClass;
  readonly expiresAt: number;
  /** Earlier deliveries that were give-backs, not attempts (park-ledger.ts). */
  readonly returned: number;
  /** Known to be the head of its key: stays so until taken (only its holder can settle it). */
  head: boolean;
}

export interface KeyGateDeps {
  readonly nc: NatsConnection;
  /** Stream sequence of the oldest message of a key still in the stream, if any. */
  headOf(token: string): Promise<number | undefined>;
  /** A parked message whose TTL passed: the owner dead-letters it. */
  expire(p: Parked): void;
  /** Where give-backs on close are written down, so they do not count as attempts. */
  readonly ledger: ParkLedger;
  readonly leaseMs: number;
  /** How often every parked key is looked at again, for keys settled by other processes. */
  readonly recheckMs: number;
  readonly onError: (err: unknown) => void;
}

/** Most messages parked per queue handle; past it a follower is nak'ed back (an attempt). */
export const MAX_PARKED = 1_000;

export class KeyGate {
  private readonly lanes = new Map<string, Parked[]>();
  private readonly touched = new Set<string>();
  private parkedCount = 0;
  private lastSweep = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: KeyGateDeps) {}

  get size(): number {
    return this.parkedCount;
  }

  /** Holds `p` back; false when the gate is full. */
  park(p: Parked): boolean {
    if (this.parkedCount >= MAX_PARKED) return false;
    const lane = this.lanes.get(p.token);
    if (lane === undefined) this.lanes.set(p.token, [p]);
    else {
      let at = lane.length;
      while (at > 0 && lane[at - 1]!.info.streamSeq > p.info.streamSeq) at--;
      lane.splice(at, 0, p);
    }
    this.parkedCount++;
    this.timer ??= this.startKeepalive();
    return true;
  }

  /** A message of this key was settled here: look at its lane on the next receive. */
  touch(token: string): void {
    if (this.lanes.has(token)) this.touched.add(token);
  }

  /** Parked messages that are now the head of their key (first of each lane only). */
  async heads(now: number): Promise<Parked[]> {
    if (this.parkedCount === 0) return [];
    const sweep = now - this.lastSweep >= this.deps.recheckMs;
    if (sweep) this.lastSweep = now;
    const checks: Promise<Parked | undefined>[] = [];
    for (const [token, lane] of this.lanes) {
      const first = lane[0]!;
      if (first.head) checks.push(Promise.resolve(first));
      else if (sweep || this.touched.has(token)) checks.push(this.check(first));
    }
    this.touched.clear();
    const found = await Promise.all(checks);
    return found.filter((p): p is Parked => p !== undefined);
  }

  private async check(first: Parked): Promise<Parked | undefined> {
    try {
      const head = await this.deps.headOf(first.token);
      if (head === undefined || head >= first.info.streamSeq) {
        first.head = true;
        return first;
      }
    } catch (err) {
      this.deps.onError(err); // looked at again on the next sweep
    }
    return undefined;
  }

  /** Removes `p` from the gate (it is being handed out or dead-lettered). */
  take(p: Parked): void {
    const lane = this.lanes.get(p.token);
    if (lane === undefined) return;
    const at = lane.indexOf(p);
    if (at < 0) return;
    lane.splice(at, 1);
    this.parkedCount--;
    if (lane.length === 0) this.lanes.delete(p.token);
    else if (at === 0) this.touched.add(p.token);
    if (this.parkedCount === 0) this.stopKeepalive();
  }

  /** Gives every parked message back to the consumer, noting that this was no attempt. */
  async close(): Promise<void> {
    this.stopKeepalive();
    const parked = [...this.lanes.values()].flat();
    this.lanes.clear();
    this.parkedCount = 0;
    try {
      await this.deps.ledger.record(
        parked.map((p) => ({ seq: p.info.streamSeq, returned: p.returned })),
      );
    } catch (err) {
      this.deps.onError(err); // then the give-back counts as an attempt
    }
    for (const p of parked) this.send(p, '-NAK');
  }

  private startKeepalive(): NodeJS.Timeout {
    const timer = setInterval(() => this.keepalive(), Math.max(10, this.deps.leaseMs / 3));
    timer.unref();
    return timer;
  }

  private stopKeepalive(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private keepalive(): void {
    const now = Date.now();
    for (const lane of [...this.lanes.values()]) {
      for (const p of [...lane]) {
        if (p.expiresAt <= now) {
          this.take(p);
          this.deps.expire(p);
        } else {
          this.send(p, '+WPI');
        }
      }
    }
  }

  private send(p: Parked, verb: string): void {
    try {
      this.deps.nc.publish(p.info.reply, verb);
    } catch (err) {
      this.deps.onError(err);
    }
  }
}
