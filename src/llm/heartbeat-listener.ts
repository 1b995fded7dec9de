// One listener for heartbeats of any kind (workers', gateways'): a subscription to their
// subject and a periodic sweep that judges who went quiet. The sweep is told how late it ran:
// when this process was too busy to run its timers, the heartbeats it missed may still be
// sitting in its own queue, so a late sweep should excuse everyone instead of judging them.
import type { Bus, Message } from '../bus/index.js';
import type { Subscription } from '../bus/subscription.js';

/** `behindMs`: 0 when the sweep ran on time, else how late it ran (more than one period). */
export type Sweep = (now: number, behindMs: number) => void;

export class HeartbeatListener {
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastSweep = 0;

  constructor(
    private readonly bus: Bus,
    private readonly subject: string,
    private readonly everyMs: number,
    private readonly onMessage: (msg: Message) => void,
    private readonly sweep: Sweep,
  ) {}

  /** Resolves once the subscription is live on the transport. */
  async start(): Promise<void> {
    this.sub = this.bus.subscribe(this.subject, this.onMessage);
    await this.sub.ready;
    this.lastSweep = Date.now();
    this.timer = setInterval(() => this.tick(Date.now()), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    this.sub?.unsubscribe();
    clearInterval(this.timer);
  }

  private tick(now: number): void {
    const lag = now - this.lastSweep - this.everyMs;
    this.lastSweep = now;
    this.sweep(now, lag > this.everyMs ? lag : 0);
  }
}
