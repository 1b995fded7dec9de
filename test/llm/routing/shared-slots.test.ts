// Sharing a model's slots between gateways (shared-slots.ts): weighted max-min across tenants
// capped at their wants, each tenant's part split over the gateways by want, whole shares that
// sum to the capacity, a dead gateway's demand dropped, and admission holding to its share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  allocateSlots,
  PeerDemand,
  reportable,
  rotationOffset,
  ROTATION_MS,
  type GatewayWant,
} from '../../../src/llm/routing/shared-slots.js';
import { AdmissionController, type Lease } from '../../../src/llm/routing/admission.js';
import { lcg, ManualClock, settle } from './helpers.js';

const gw = (gateway: string, ...tenants: [string, number, number][]): GatewayWant => ({
  gateway,
  tenants: tenants.map(([tenant, weight, want]) => ({ tenant, weight, want })),
});

const shares = (m: Map<string, number>) => Object.fromEntries([...m].sort());

test('shared slots - a gateway alone gets every slot, wanting or not', () => {
  assert.deepEqual(shares(allocateSlots(8, [gw('g1', ['a', 1, 3])])), { g1: 8 });
  assert.deepEqual(shares(allocateSlots(8, [gw('g1')])), { g1: 8 });
  assert.deepEqual(shares(allocateSlots(8, [gw('g1', ['a', 1, 100])])), { g1: 8 });
});

test('shared slots - weights 1:3 on two gateways split the slots 1:3', () => {
  const both = [gw('g1', ['a', 1, 50]), gw('g2', ['b', 3, 50])];
  assert.deepEqual(shares(allocateSlots(4, both)), { g1: 1, g2: 3 });
  assert.deepEqual(shares(allocateSlots(40, both)), { g1: 10, g2: 30 });
  // The order the table is given in does not matter.
  assert.deepEqual(shares(allocateSlots(40, [...both].reverse())), { g1: 10, g2: 30 });
});

test('shared slots - a tenant on both gateways is one tenant, split by where it waits', () => {
  // a (weight 1) wants 30 on g1 and 10 on g2; b (weight 1) wants 40 on g2. Each tenant gets 10
  // of 20.
  // a's 10 go 3:1 to g1 and g2: g1 holds 7.5, rounded down at offset 0.
  assert.deepEqual(
    shares(allocateSlots(20, [gw('g1', ['a', 1, 30]), gw('g2', ['a', 1, 10], ['b', 1, 40])])),
    { g1: 7, g2: 13 },
  );
  // With room for a whole split: 40 slots, a 20 (15 + 5), b 20.
  assert.deepEqual(
    shares(allocateSlots(40, [gw('g1', ['a', 1, 30]), gw('g2', ['a', 1, 10], ['b', 1, 40])])),
    { g1: 15, g2: 25 },
  );
});

test('shared slots - a tenant wanting less than its fair share leaves the rest to the others', () => {
  // a's fair share of 12 is 6 but it wants 2: b gets the other 10.
  assert.deepEqual(shares(allocateSlots(12, [gw('g1', ['a', 1, 2]), gw('g2', ['b', 1, 50])])), {
    g1: 2,
    g2: 10,
  });
  // Three tenants: c wants 1, so a and b (weights 1 and 2) split the other 9 as 3 and 6.
  assert.deepEqual(
    shares(allocateSlots(10, [gw('g1', ['a', 1, 50], ['c', 5, 1]), gw('g2', ['b', 2, 50])])),
    { g1: 4, g2: 6 },
  );
});

test('shared slots - slots nobody wants are split evenly over the gateways', () => {
  // 3 wanted of 9: the 6 spare go 3 and 3.
  assert.deepEqual(shares(allocateSlots(9, [gw('g1', ['a', 1, 1]), gw('g2', ['b', 1, 2])])), {
    g1: 4,
    g2: 5,
  });
});

test('shared slots - whole shares, none negative, always sum to the capacity', () => {
  const rand = lcg(7);
  for (let round = 0; round < 500; round++) {
    const capacity = Math.floor(rand() * 40);
    const gateways = Array.from({ length: 1 + Math.floor(rand() * 5) }, (_, g) =>
      gw(
        `g${g}`,
        ...Array.from(
          { length: Math.floor(rand() * 4) },
          (_, t) =>
            [`t${t}`, 1 + Math.floor(rand() * 4), 1 + Math.floor(rand() * 20)] as [
              string,
              number,
              number,
            ],
        ),
      ),
    );
    const offset = rand();
    const m = allocateSlots(capacity, gateways, offset);
    const sum = [...m.values()].reduce((a, b) => a + b, 0);
    assert.equal(sum, capacity, `round ${round}: ${JSON.stringify(shares(m))} of ${capacity}`);
    for (const v of m.values()) assert.ok(Number.isInteger(v) && v >= 0);
  }
});

test('shared slots - a fractional share is held in turn: a quarter slot about one period in four', () => {
  // One slot; a (weight 1) on g1 and b (weight 3) on g2 are entitled to 0.25 and 0.75 of it.
  const table = [gw('g1', ['a', 1, 5]), gw('g2', ['b', 3, 5])];
  let g1 = 0;
  const periods = 400;
  for (let p = 0; p < periods; p++) {
    const m = allocateSlots(1, table, rotationOffset(p * ROTATION_MS));
    assert.equal(m.get('g1')! + m.get('g2')!, 1);
    g1 += m.get('g1')!;
  }
  assert.ok(Math.abs(g1 / periods - 0.25) < 0.02, `g1 held the slot ${g1} of ${periods} periods`);
});

test("shared slots - a dead gateway's demand is dropped; a stopped one at once", () => {
  const peers = new PeerDemand(5);
  const demand = [{ model: 'm', tenants: [{ tenant: 'a', weight: 1, want: 4 }] }];
  assert.deepEqual([...peers.update('g2', 1000, demand, 0)], ['m']);
  assert.deepEqual([...peers.update('g3', 1000, demand, 0)], ['m']);
  assert.deepEqual([...peers.update('g2', 1000, demand, 1000)], [], 'the same wants: no change');
  assert.deepEqual(
    peers.wants('m').map((w) => w.gateway),
    ['g2', 'g3'],
  );
  // g3 stays silent: gone after five of its intervals; g2, heard since, stays.
  peers.update('g2', 1000, demand, 5000);
  assert.deepEqual([...peers.sweep(5000)], []);
  assert.deepEqual([...peers.sweep(5001)], ['m']);
  assert.deepEqual(
    peers.wants('m').map((w) => w.gateway),
    ['g2'],
  );
  assert.deepEqual([...peers.remove('g2')], ['m']);
  assert.deepEqual(peers.wants('m'), []);
  assert.equal(peers.size, 0);
});

test('shared slots - a gateway reports its largest wants, at most 32 tenants', () => {
  const wants = Array.from({ length: 40 }, (_, i) => ({ tenant: `t${i}`, weight: 1, want: i }));
  const top = reportable(wants);
  assert.equal(top.length, 32);
  assert.equal(top[0]!.tenant, 't39');
  assert.ok(
    top.every((t) => t.want >= 8),
    'the smallest wants are left out, and no zero',
  );
});

test('shared slots - admission holds to its share while a peer wants the model, and to all of it alone', async () => {
  const clock = new ManualClock();
  let peers: GatewayWant[] = [];
  let moved = 0;
  const admission = new AdmissionController({
    clock,
    tenants: { a: { weight: 1 } },
    sharing: { self: 'g1', peers: () => peers, wantMoved: () => moved++ },
  });
  admission.setCapacity('m', 4);
  const leases: Lease[] = [];
  const waiting = Array.from({ length: 6 }, () =>
    admission.admit({ tenant: 'a', model: 'm', estimatedTokens: 1 }).then((l) => leases.push(l)),
  );
  await settle();
  assert.equal(leases.length, 4, 'alone, all four slots');
  assert.ok(moved > 0, 'a want from none asks for an early heartbeat');
  const [demand] = admission.demand();
  assert.deepEqual(demand, { model: 'm', tenants: [{ tenant: 'a', weight: 1, want: 6 }] });

  // A peer with tenant b (weight 3) backlogged: this gateway's share becomes 1 of 4.
  peers = [gw('g2', ['b', 3, 50])];
  admission.reshareAll();
  assert.equal(admission.snapshot('m').share, 1);
  for (const l of leases.splice(0)) l.release();
  await settle();
  assert.equal(leases.length, 1, 'one slot at a time while the peer wants the rest');
  assert.equal(admission.snapshot('m').inflight, 1);

  // The peer is gone: all four again.
  peers = [];
  admission.reshareAll();
  await settle();
  assert.equal(leases.length, 2, 'the last queued request runs at once');
  for (const l of leases) l.release();
  await Promise.all(waiting);
  assert.deepEqual(admission.demand(), [], 'nothing wanted once all have finished');
  admission.close();
});
