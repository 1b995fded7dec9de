// The gateway's view of params rollouts: it hears every rollout record (and reads the current
// ones at start, retrying until the rollout service answers), picks the version each unpinned
// request goes to, and reports each rollout's progress across the workers for `llmwire status`.
import type { Bus } from '../../bus/index.js';
import type { Subscription } from '../../bus/subscription.js';
import { silentLogger, type Logger } from '../../ops/index.js';
import { targetName, toWireError, type RolloutRecord } from '../../protocol/index.js';
import { Params } from '../params/client.js';
import { RolloutTable } from '../routing/rollout.js';
import type { WorkerRegistry } from './registry.js';

/** One rollout and how far the fleet has got with it. */
export interface RolloutStatus {
  model: string;
  adapter: string | null;
  version: string;
  previous: string | null;
  share: number;
  size: number;
  createdAt: number;
  /** Live workers serving the model. */
  workers: number;
  loaded: number;
  loading: number;
  failed: number;
}

/** Asking again for the current records while no rollout service answers: 2 s doubling to 30 s. */
const LIST_RETRY_MS = 2000;
const LIST_RETRY_MAX_MS = 30_000;

export class GatewayRollouts {
  readonly table = new RolloutTable();
  private readonly params: Params;
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly bus: Bus,
    private readonly registry: WorkerRegistry,
    namespace: string | undefined,
    private readonly log: Logger = silentLogger,
  ) {
    this.params = new Params(bus, { namespace });
  }

  /** A bus that refuses the rollout subjects leaves the gateway routing without rollouts. */
  async start(): Promise<void> {
    this.stopped = false;
    this.sub = this.params.watch(
      (r) => this.table.put(r),
      (err) => this.bus.reportError(err),
    );
    try {
      await this.sub.ready;
    } catch (err) {
      this.log.warn(
        { error: toWireError(err).code, subject: this.params.subjects.paramsRollouts },
        'rollouts: cannot hear params rollouts; routing ignores them',
      );
      return;
    }
    void this.catchUp();
  }

  stop(): void {
    this.stopped = true;
    this.sub?.unsubscribe();
    clearTimeout(this.timer);
  }

  /** The model name a request is dispatched with (a version pinned by a gradual rollout). */
  choose(name: string): string {
    return this.table.choose(
      name,
      (m) => this.registry.isModel(m),
      (t) => this.registry.forModel(targetName(t)).length > 0,
    );
  }

  status(): RolloutStatus[] {
    return this.table.all().map((r) => this.progress(r));
  }

  private progress(r: RolloutRecord): RolloutStatus {
    const s: RolloutStatus = {
      model: r.model,
      adapter: r.adapter ?? null,
      version: r.version,
      previous: r.previous ?? null,
      share: r.share,
      size: r.blob.size,
      createdAt: r.createdAt,
      workers: 0,
      loaded: 0,
      loading: 0,
      failed: 0,
    };
    for (const w of this.registry.all()) {
      if (!w.models.includes(r.model)) continue;
      s.workers++;
      const held = w.params.find(
        (p) => p.model === r.model && p.adapter === r.adapter && p.version === r.version,
      );
      if (held !== undefined) s[held.state]++;
    }
    return s;
  }

  private async catchUp(delayMs = LIST_RETRY_MS): Promise<void> {
    try {
      for (const r of await this.params.list()) this.table.put(r);
    } catch (err) {
      if (this.stopped) return;
      this.log.debug({ error: toWireError(err).code }, 'rollouts: no rollout service yet');
      this.timer = setTimeout(
        () => void this.catchUp(Math.min(delayMs * 2, LIST_RETRY_MAX_MS)),
        delayMs,
      );
      this.timer.unref();
    }
  }
}
