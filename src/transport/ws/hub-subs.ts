// The subscriptions one hub peer holds. Identical ones (same pattern and queue group) share one
// subscription on the hub's transport, so a peer that repeats a pattern N times does not make
// every message N times the work for the hub: the message goes out once, naming every `sid`.
import type { Envelope } from '../../protocol/index.js';
import type { SubjectRule } from '../permissions.js';
import type { Transport, TransportSubscription } from '../transport.js';

interface Shared {
  readonly key: string;
  readonly sids: number[];
  sub: TransportSubscription | undefined;
  /** Queue groups: the member that gets the next message (round robin). */
  turn: number;
}

export class PeerSubscriptions {
  private readonly bySid = new Map<number, Shared>();
  private readonly byKey = new Map<string, Shared>();

  constructor(
    private readonly local: Transport,
    /** Sends one matching envelope to the peer for these subscription ids. */
    private readonly deliver: (sids: readonly number[], env: Envelope) => void,
  ) {}

  get size(): number {
    return this.bySid.size;
  }

  has(sid: number): boolean {
    return this.bySid.has(sid);
  }

  /**
   * Adds subscription `sid`; resolves once it sees new messages. `filter`, when given, drops
   * messages whose subject it does not allow (a deny list that overlaps the pattern).
   */
  add(
    sid: number,
    pattern: string,
    queue: string | undefined,
    filter?: SubjectRule,
  ): Promise<void> {
    const key = `${pattern}\u0000${queue ?? ''}`;
    const shared = this.byKey.get(key);
    if (shared !== undefined) {
      shared.sids.push(sid);
      this.bySid.set(sid, shared);
      return shared.sub!.ready;
    }
    const entry: Shared = { key, sids: [sid], sub: undefined, turn: 0 };
    // A queue group hands each message to one member: one sid here, not all of them.
    const handler = (env: Envelope) => {
      if (filter !== undefined && !filter.allowsSubject(env.subject)) return;
      if (queue === undefined) this.deliver(entry.sids, env);
      else this.deliver([entry.sids[entry.turn++ % entry.sids.length]!], env);
    };
    entry.sub = this.local.subscribe(pattern, handler, queue === undefined ? {} : { queue });
    this.byKey.set(key, entry);
    this.bySid.set(sid, entry);
    return entry.sub.ready;
  }

  /** Removes subscription `sid`; the shared one goes with its last member. */
  remove(sid: number): boolean {
    const shared = this.bySid.get(sid);
    if (shared === undefined) return false;
    this.bySid.delete(sid);
    const i = shared.sids.indexOf(sid);
    if (i >= 0) shared.sids.splice(i, 1);
    if (shared.sids.length === 0) {
      this.byKey.delete(shared.key);
      shared.sub?.unsubscribe();
    }
    return true;
  }

  dispose(): void {
    for (const shared of this.byKey.values()) shared.sub?.unsubscribe();
    this.byKey.clear();
    this.bySid.clear();
  }
}
