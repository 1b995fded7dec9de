// One durable queue's operations on Redis: each is one script call (lua.ts), made with the
// queue's policy, its reply turned into plain values. Scripts go out as EVALSHA through ioredis
// `defineCommand`, which loads them again after a Redis restart.
import { ReplyError, type Redis } from 'ioredis';
import {
  ForbiddenError,
  InternalError,
  UnavailableError,
  WireError,
  type WireErrorBody,
} from '../../protocol/index.js';
import type { QueueStats, ResolvedQueueOptions } from '../transport.js';
import { QUEUE_SCRIPTS, scriptSource, type QueueScript } from './lua.js';

type Arg = string | number | Buffer;
type ScriptCall = (base: string, ...args: Arg[]) => Promise<unknown>;

/** Registers every queue script on a connection (once per connection). */
export function defineQueueScripts(redis: Redis): void {
  for (const name of Object.keys(QUEUE_SCRIPTS) as QueueScript[]) {
    redis.defineCommand(name, { numberOfKeys: 1, lua: scriptSource(name) });
  }
}

/** One leased delivery as Redis holds it: the message id and its stream entry name the lease. */
export interface Lease {
  readonly id: string;
  readonly sid: string;
  readonly attempt: number;
  readonly frame: Buffer;
}

export interface DeadEntry {
  /** The dead-letter stream entry. */
  readonly dsid: string;
  readonly id: string;
  readonly reason: string;
  readonly attempts: number;
  readonly error: string;
  readonly deadAt: number;
  readonly frame: Buffer;
}

export interface EnqueueArgs {
  id: string;
  frame: Buffer;
  prio: number;
  key: string | undefined;
  delayMs: number;
  ttlMs: number | undefined;
  deadline: number | undefined;
}

export type EnqueueOutcome = 'stored' | 'duplicate' | 'full';

export class QueueStore {
  constructor(
    private readonly redis: Redis,
    readonly base: string,
    private readonly options: ResolvedQueueOptions,
    private readonly consumer: string,
  ) {}

  private call(name: QueueScript, args: Arg[]): Promise<unknown> {
    const fn = (this.redis as unknown as Record<string, ScriptCall>)[`${name}Buffer`]!;
    const o = this.options;
    const b = o.backoff;
    // Math.random() is the jitter draw for retries the script schedules (ended leases).
    const policy = [o.leaseMs, o.maxAttempts, b.initialMs, b.maxMs, b.multiplier, b.jitter];
    return fn
      .call(this.redis, this.base, ...policy, Math.random(), o.dedupWindowMs, ...args)
      .catch((err: unknown) => {
        throw redisFailure(err);
      });
  }

  async enqueue(a: EnqueueArgs): Promise<EnqueueOutcome> {
    const maxDepth = Number.isFinite(this.options.maxDepth) ? this.options.maxDepth : -1;
    const r = await this.call('llmwireEnqueue', [
      a.id,
      a.frame,
      a.prio,
      a.key ?? '',
      a.delayMs,
      a.ttlMs ?? '',
      a.deadline ?? '',
      maxDepth,
    ]);
    return r === 1 ? 'stored' : r === 0 ? 'duplicate' : 'full';
  }

  /** Leases up to `max` messages; with none, says in how many ms something is due (-1: never). */
  async take(max: number): Promise<{ leases: Lease[]; nextDueMs: number }> {
    const r = (await this.call('llmwireTake', [this.consumer, max])) as unknown[];
    const leases: Lease[] = [];
    for (let i = 1; i + 3 < r.length; i += 4) {
      leases.push({
        id: String(r[i]),
        sid: String(r[i + 1]),
        attempt: Number(r[i + 2]),
        frame: r[i + 3] as Buffer,
      });
    }
    return { leases, nextDueMs: Number(r[0]) };
  }

  async ack(lease: Lease): Promise<boolean> {
    return (await this.call('llmwireAck', [lease.id, lease.sid])) === 1;
  }

  async nack(lease: Lease, delayMs: number, error: WireErrorBody | undefined): Promise<boolean> {
    const e = error === undefined ? '' : JSON.stringify(error);
    return (await this.call('llmwireNack', [lease.id, lease.sid, delayMs, e])) === 1;
  }

  async reject(lease: Lease, error: WireErrorBody): Promise<boolean> {
    const e = JSON.stringify(error);
    return (await this.call('llmwireReject', [lease.id, lease.sid, e])) === 1;
  }

  async extend(lease: Lease, ms: number): Promise<boolean> {
    return (await this.call('llmwireExtend', [lease.id, lease.sid, Math.ceil(ms)])) === 1;
  }

  async stats(): Promise<QueueStats> {
    const r = (await this.call('llmwireStats', [])) as number[];
    return { ready: r[0]!, delayed: r[1]!, leased: r[2]!, dead: r[3]! };
  }

  /** Dead letters in the order they died, after the entry `after` ('-' for the first). */
  async deadPage(after: string, count: number): Promise<DeadEntry[]> {
    return parseDead(await this.call('llmwireDeadList', [after, count]));
  }

  async deadByIds(ids: readonly string[]): Promise<DeadEntry[]> {
    return parseDead(await this.call('llmwireDeadGet', [...ids]));
  }

  async replay(entry: DeadEntry, frame: Buffer, prio: number, key: string | undefined) {
    const r = await this.call('llmwireReplay', [entry.id, entry.dsid, frame, prio, key ?? '']);
    return r === 1;
  }

  async purge(ids: readonly string[] | undefined): Promise<number> {
    return Number(await this.call('llmwirePurge', ids === undefined ? [] : [...ids]));
  }

  /** Removes this process's consumer from the queue's groups if it holds no lease. */
  async retire(): Promise<void> {
    await this.call('llmwireRetire', [this.consumer]);
  }
}

/**
 * The typed error for a failed Redis call: Redis refusing the command (a script error, out of
 * memory) is `internal`; anything else (connection lost, retries used up) is `unavailable`,
 * which is retryable.
 */
export function redisFailure(err: unknown, owner = 'queue'): WireError {
  if (err instanceof WireError) return err;
  if (err instanceof (ReplyError as new () => Error)) {
    // RESP error replies start with their code; NOPERM is an ACL that does not allow the key
    // or command (redis.io/docs/management/security/acl).
    if (/^NOPERM\b/.test(err.message)) {
      return new ForbiddenError(`redis ACL does not allow this user the ${owner}'s keys`, {
        cause: err,
      });
    }
    return new InternalError(`redis refused a ${owner} operation`, { cause: err });
  }
  return new UnavailableError('redis is not reachable', { cause: err });
}

function parseDead(reply: unknown): DeadEntry[] {
  const out: DeadEntry[] = [];
  for (const entry of reply as [Buffer, Buffer[]][]) {
    const [dsid, flat] = entry;
    const fields = new Map<string, Buffer>();
    for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!.toString(), flat[i + 1]!);
    out.push({
      dsid: dsid.toString(),
      id: fields.get('id')?.toString() ?? '',
      reason: fields.get('r')?.toString() ?? 'rejected',
      attempts: Number(fields.get('a')?.toString() ?? 0),
      error: fields.get('e')?.toString() ?? '',
      deadAt: Number(fields.get('t')?.toString() ?? 0),
      frame: fields.get('f') ?? Buffer.alloc(0),
    });
  }
  return out;
}
