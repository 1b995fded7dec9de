// The WebSocket bus record layer on its own: records round-trip, and no input, however broken,
// makes the decoders throw; they answer with a typed invalid_message instead.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeHubRecord,
  decodePeerRecord,
  encodeRecord,
  type HubRecord,
  type PeerRecord,
} from '../../src/transport/ws/wire.js';

describe('ws wire - records', () => {
  test('every op round-trips, with undefined members left out', () => {
    const frame = Buffer.from('{"v":1}');
    const peer: PeerRecord[] = [
      { op: 'hello', v: 1, name: 'w' },
      { op: 'pub', frame },
      { op: 'sub', id: 1, sid: 2, pattern: 'a.*', queue: undefined },
      { op: 'unsub', sid: 2 },
      { op: 'flush', id: 3 },
      { op: 'cancel', id: 4 },
      { op: 'q.receive', id: 5, queue: 'q', max: 10, waitMs: 1000, opts: { leaseMs: 100 } },
      {
        op: 'q.nack',
        id: 6,
        queue: 'q',
        h: 9,
        error: { code: 'internal', message: 'x', retryable: true },
      },
    ];
    for (const rec of peer) {
      const d = decodePeerRecord(encodeRecord(rec));
      assert.ok(d.ok, `${rec.op} decodes`);
      const expected = Object.fromEntries(Object.entries(rec).filter(([, v]) => v !== undefined));
      assert.deepEqual(d.record, expected);
    }
    const hub: HubRecord[] = [
      { op: 'hello', v: 1, peer: 'p', maxFrameBytes: 1024 },
      { op: 'msg', sid: 1, frame },
      { op: 'ok', id: 1, result: { n: 2 } },
      { op: 'dlv', id: 1, h: 1, frame, attempt: 1, leaseMs: 30_000 },
      { op: 'dead', id: 1, frame, reason: 'expired', attempts: 1, deadAt: Date.now() },
    ];
    for (const rec of hub) assert.ok(decodeHubRecord(encodeRecord(rec)).ok, `${rec.op} decodes`);
  });

  test('a record for the other side is refused: ops are checked per direction', () => {
    const d = decodePeerRecord(encodeRecord({ op: 'msg', sid: 1, frame: Buffer.from('x') }));
    assert.equal(d.ok, false);
  });

  test('arbitrary bytes never throw and never pass unchecked', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        for (const d of [decodePeerRecord(bytes), decodeHubRecord(bytes)]) {
          if (!d.ok) assert.equal(d.error.code, 'invalid_message');
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('arbitrary maps with a real op never throw', () => {
    const ops = ['hello', 'pub', 'sub', 'q.receive', 'q.nack', 'err', 'msg', 'ok', 'dlv'];
    fc.assert(
      fc.property(
        fc.constantFrom(...ops),
        fc.dictionary(fc.string({ maxLength: 8 }), fc.anything({ maxDepth: 2 })),
        (op, rest) => {
          const bytes = encodeRecord({ ...rest, op } as never);
          const d = decodePeerRecord(bytes);
          if (!d.ok) assert.equal(d.error.code, 'invalid_message');
        },
      ),
      { numRuns: 1000 },
    );
  });
});
