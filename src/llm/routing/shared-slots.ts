// A model's slots shared by the gateways of one broker (docs/deploy.md, "Several gateways"): each
// gateway reports in its heartbeats what its tenants want of each model, and each computes from
// the same table which share of the slots is its own, as Google's Doorman allocates capacity to
// its clients: weighted max-min fairness across tenants (water-filling), each tenant's part
// split over the gateways in proportion to what they want of it.

/** What one tenant wants of a model at one gateway: its requests inflight and queued there. */
export interface TenantWant {
  readonly tenant: string;
  readonly weight: number;
  readonly want: number;
}

/** One gateway's wants of one model. */
export interface GatewayWant {
  readonly gateway: string;
  readonly tenants: readonly TenantWant[];
}

/** One gateway's wants of one model, as its heartbeat carries them. */
export interface ModelDemand {
  readonly model: string;
  readonly tenants: readonly TenantWant[];
}

/** The other gateways on the broker, among which a model's slots are shared. */
export interface SlotSharing {
  /** This gateway's id, as its heartbeats name it. */
  readonly self: string;
  /** What the other live gateways want of `model`, from their latest heartbeats. */
  peers(model: string): readonly GatewayWant[];
  /** This gateway's want of a model moved far from what it last reported (an early heartbeat). */
  wantMoved?(): void;
}

/** Most tenants a gateway reports for one model; the largest wants are reported. */
export const MAX_REPORTED_TENANTS = 32;
/** Most models a gateway reports; those it wants most are reported. */
export const MAX_REPORTED_MODELS = 16;
/** Largest weight a heartbeat carries; a larger configured weight is reported as this. */
export const MAX_REPORTED_WEIGHT = 1_000_000;
/** How often the rounding of fractional shares turns (see rotationOffset). */
export const ROTATION_MS = 1000;

const GOLDEN = 0.6180339887498949;

/** Largest want a heartbeat carries; a larger one is reported as this. */
export const MAX_REPORTED_WANT = 1_000_000;

/**
 * The wants a heartbeat reports: those above zero of tenants named in 1-128 characters, largest
 * first (ties by tenant), at most MAX_REPORTED_TENANTS, wants and weights capped at
 * MAX_REPORTED_WANT and MAX_REPORTED_WEIGHT.
 */
export function reportable(wants: readonly TenantWant[]): TenantWant[] {
  return wants
    .filter((t) => t.want > 0 && t.tenant !== '' && t.tenant.length <= 128)
    .map((t) => ({
      tenant: t.tenant,
      weight: Math.min(t.weight, MAX_REPORTED_WEIGHT),
      want: Math.min(t.want, MAX_REPORTED_WANT),
    }))
    .sort((a, b) => b.want - a.want || compare(a.tenant, b.tenant))
    .slice(0, MAX_REPORTED_TENANTS);
}

/**
 * The offset that rounds fractional shares in period `floor(now / ROTATION_MS)`: a low-discrepancy
 * sequence in [0, 1), so that over a few periods each gateway holds its fractional share on
 * average (a gateway entitled to 0.25 of a slot holds it in about one period of four). Gateways
 * whose clocks agree compute the same offset.
 */
export function rotationOffset(now: number): number {
  const x = Math.floor(now / ROTATION_MS) * GOLDEN;
  return x - Math.floor(x);
}

/**
 * Each gateway's whole number of the model's `capacity` slots; the numbers sum to `capacity`.
 *
 * 1. Tenants' wants are summed over the gateways (a tenant's weight is the largest any gateway
 *    reports), and `capacity` is water-filled across tenants by weight, each capped at its want.
 * 2. A tenant's slots are split over the gateways in proportion to their want of it.
 * 3. Slots nobody wants are split evenly over the gateways given, so that every gateway has some
 *    headroom before its peers hear that it wants more.
 * 4. The real shares are rounded by systematic sampling with `offset` (see rotationOffset) in
 *    gateway id order: each gets the floor or the ceiling of its share, and the sum is exact.
 *
 * `gateways` holds each gateway once; the result is the same for any order of it.
 */
export function allocateSlots(
  capacity: number,
  gateways: readonly GatewayWant[],
  offset = 0,
): Map<string, number> {
  const ordered = [...gateways].sort((a, b) => compare(a.gateway, b.gateway));
  const tenants = new Map<string, { weight: number; want: number; given: number }>();
  for (const g of ordered) {
    for (const t of g.tenants) {
      if (!(t.want > 0) || !(t.weight > 0)) continue;
      const seen = tenants.get(t.tenant);
      if (seen === undefined) tenants.set(t.tenant, { weight: t.weight, want: t.want, given: 0 });
      else {
        seen.want += t.want;
        seen.weight = Math.max(seen.weight, t.weight);
      }
    }
  }
  // Water-filling: in order of want per weight, each tenant takes its want or its weight's part
  // of what is left, whichever is less; once one takes its part, so do all after it.
  let rest = capacity;
  let weights = 0;
  for (const t of tenants.values()) weights += t.weight;
  const byNeed = [...tenants].sort(
    ([an, a], [bn, b]) => a.want / a.weight - b.want / b.weight || compare(an, bn),
  );
  for (const [, t] of byNeed) {
    t.given = Math.max(0, Math.min(t.want, weights > 0 ? (rest * t.weight) / weights : 0));
    rest -= t.given;
    weights -= t.weight;
  }
  const spare = ordered.length === 0 ? 0 : Math.max(0, rest) / ordered.length;
  const out = new Map<string, number>();
  let sum = 0;
  let edge = 0;
  for (const [i, g] of ordered.entries()) {
    for (const t of g.tenants) {
      const total = tenants.get(t.tenant);
      if (total !== undefined && t.want > 0) sum += (total.given * t.want) / total.want;
    }
    sum += spare;
    // Rounded to 1e-9 first, so that float noise never moves a share across a whole number.
    const to = i === ordered.length - 1 ? capacity : Math.round(sum * 1e9) / 1e9;
    const next = Math.floor(to + offset);
    out.set(g.gateway, Math.max(0, next - edge));
    edge = next;
  }
  return out;
}

/**
 * This gateway's whole share of a model's `capacity` slots, from its own wants (reportable(), as
 * its heartbeats carry them) and its live peers' last reported ones, rounded in the current period.
 */
export function shareOf(
  capacity: number,
  self: string,
  own: readonly TenantWant[],
  peers: readonly GatewayWant[],
  now: number,
): number {
  const shares = allocateSlots(
    capacity,
    [{ gateway: self, tenants: own }, ...peers],
    rotationOffset(now),
  );
  return shares.get(self) ?? 0;
}

/** Code-unit order, the same in every process (localeCompare is not). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Peer {
  lastMs: number;
  intervalMs: number;
  readonly models: Map<string, readonly TenantWant[]>;
}

/**
 * The latest demand of every other live gateway, from their heartbeats. A gateway is dropped
 * when it says it stopped or misses `missedBeats` of its intervals (sweep).
 */
export class PeerDemand {
  private readonly peers = new Map<string, Peer>();

  constructor(private readonly missedBeats: number) {}

  get size(): number {
    return this.peers.size;
  }

  /** Records a heartbeat's demand; returns the models whose table changed. */
  update(
    gateway: string,
    intervalMs: number,
    demand: readonly ModelDemand[],
    now: number,
  ): Set<string> {
    const before = this.peers.get(gateway)?.models;
    const models = new Map<string, readonly TenantWant[]>();
    for (const m of demand) models.set(m.model, [...(models.get(m.model) ?? []), ...m.tenants]);
    this.peers.set(gateway, { lastMs: now, intervalMs, models });
    const changed = new Set<string>();
    for (const m of new Set([...(before?.keys() ?? []), ...models.keys()])) {
      if (!sameWants(before?.get(m), models.get(m))) changed.add(m);
    }
    return changed;
  }

  /** Forgets a gateway; returns the models it wanted. */
  remove(gateway: string): Set<string> {
    const peer = this.peers.get(gateway);
    this.peers.delete(gateway);
    return new Set(peer?.models.keys() ?? []);
  }

  /** Drops the gateways silent for too long; returns the models they wanted. */
  sweep(now: number): Set<string> {
    const changed = new Set<string>();
    for (const [id, peer] of this.peers) {
      if (now - peer.lastMs <= this.missedBeats * peer.intervalMs) continue;
      for (const m of this.remove(id)) changed.add(m);
    }
    return changed;
  }

  /** Takes the heartbeats a busy event loop kept waiting as if they had come at `now - lagMs`. */
  excuse(now: number, lagMs: number): void {
    for (const peer of this.peers.values()) peer.lastMs = Math.max(peer.lastMs, now - lagMs);
  }

  /** Every live peer that wants `model`. */
  wants(model: string): GatewayWant[] {
    const out: GatewayWant[] = [];
    for (const [gateway, peer] of this.peers) {
      const tenants = peer.models.get(model);
      if (tenants !== undefined && tenants.length > 0) out.push({ gateway, tenants });
    }
    return out;
  }
}

function sameWants(a: readonly TenantWant[] | undefined, b: readonly TenantWant[] | undefined) {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.length === b.length &&
    a.every(
      (t, i) => t.tenant === b[i]!.tenant && t.want === b[i]!.want && t.weight === b[i]!.weight,
    )
  );
}
