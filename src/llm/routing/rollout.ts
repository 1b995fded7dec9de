// Gradual rollouts: the current rollout record of each model and adapter, and the choice, per
// request that names no version, of the version it goes to. A record with share s sends s of
// those requests to its version and the rest to the version it replaced; the choice is a
// running sum rather than a coin, so over any N requests the new version gets floor or ceil of
// s*N of them. A version no live worker holds is skipped for the other.
import {
  parseTarget,
  targetName,
  type ParamsTarget,
  type RolloutRecord,
} from '../../protocol/index.js';

function keyOf(t: { model: string; adapter?: string | undefined }): string {
  return `${t.model}@${t.adapter ?? ''}`;
}

export class RolloutTable {
  private readonly records = new Map<string, RolloutRecord>();
  /** Running sum of shares per target. */
  private readonly sums = new Map<string, number>();

  /** Takes a record (a newer one of the same model and adapter replaces the old). */
  put(record: RolloutRecord): void {
    const key = keyOf(record);
    const old = this.records.get(key);
    if (old !== undefined && old.createdAt > record.createdAt) return;
    if (old?.version !== record.version || old.share !== record.share) this.sums.delete(key);
    this.records.set(key, record);
  }

  all(): RolloutRecord[] {
    return [...this.records.values()].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
  }

  /**
   * The name a request for `name` is sent with: unchanged when it pins a version or no rollout
   * covers it; otherwise pinned to the version the rollout's share picks, when some worker holds
   * it (`held`), else to the other version, else unchanged.
   */
  choose(
    name: string,
    isModel: (m: string) => boolean,
    held: (t: ParamsTarget) => boolean,
  ): string {
    const t = parseTarget(name, isModel);
    if (t.version !== undefined) return name;
    const record = this.records.get(keyOf(t));
    if (record === undefined) return name;
    const key = keyOf(t);
    let sum = (this.sums.get(key) ?? 0) + record.share;
    const toNew = sum >= 1 - 1e-9;
    if (toNew) sum -= 1;
    this.sums.set(key, sum);
    const fresh: ParamsTarget = { model: t.model, adapter: t.adapter, version: record.version };
    const old: ParamsTarget | undefined =
      record.previous === undefined
        ? undefined
        : { model: t.model, adapter: t.adapter, version: record.previous };
    const order = toNew ? [fresh, old] : [old, fresh];
    for (const pick of order) if (pick !== undefined && held(pick)) return targetName(pick);
    return name;
  }
}
